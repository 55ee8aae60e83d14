"""Connect Django users' TikTok accounts through Euler Stream OAuth 2.0."""

__version__ = "0.1.0"
