"""An embedded Euler Stream provider for offline development and tests (opt-in)."""
