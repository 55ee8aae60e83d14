"""Reading the provider's token answers: now :mod:`django_euler_oauth.answers`, with the
rest of what the app reads from the provider. These names stay importable from here."""

from .answers import (
    MAX_EXPIRES_IN,
    MAX_SCOPE_LENGTH,
    TokenSet,
    error_fields,
    parse_token_payload,
    unwrap,
)

__all__ = ["MAX_EXPIRES_IN", "MAX_SCOPE_LENGTH", "TokenSet", "error_fields",
           "parse_token_payload", "unwrap"]
