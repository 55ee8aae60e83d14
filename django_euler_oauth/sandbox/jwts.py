"""The sandbox's JWTs (HS256): minted by ``accounts/<id>/jwt/create``, checked by its
WebSocket, as Euler's service does with the tokens it mints for browsers.

A few lines of the standard library rather than a JWT package: the sandbox only checks
tokens it signed itself, with one algorithm. The key is derived from ``SECRET_KEY``
(tokens signed with a key of ``SECRET_KEY_FALLBACKS`` still verify), so every process
serving the sandbox agrees on it. Tokens are bearer credentials: never log them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from django.conf import settings

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 4096
_SALT = "django_euler_oauth.sandbox.jwt"
_HEADER = {"alg": ALGORITHM, "typ": "JWT"}


class InvalidToken(ValueError):
    """Not a token the sandbox signed, or one whose time is over (the message says which,
    without the token)."""


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("The token is not base64url.") from None


def _keys() -> list[bytes]:
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [hashlib.sha256(f"{_SALT}:{secret}".encode()).digest() for secret in secrets]


def _signature(key: bytes, signing_input: bytes) -> bytes:
    return hmac.new(key, signing_input, hashlib.sha256).digest()


def sign(claims: dict[str, Any]) -> str:
    """``claims`` as a compact JWS signed with the sandbox's current key."""
    header = _encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    payload = _encode(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = f"{header}.{payload}".encode("ascii")
    return f"{header}.{payload}.{_encode(_signature(_keys()[0], signing_input))}"


def verify(token: str, *, now: float | None = None) -> dict[str, Any]:
    """The claims of ``token`` when the sandbox signed it and its ``exp`` is still ahead;
    else :class:`InvalidToken`."""
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LENGTH:
        raise InvalidToken("The token is missing or too long.")
    parts = token.split(".")
    if len(parts) != 3 or not all(part.isascii() for part in parts):
        raise InvalidToken("The token is not a signed JWT.")
    try:
        header = json.loads(_decode(parts[0]))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken("The token's header is not JSON.") from None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        raise InvalidToken("The token is not signed with HS256.")
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    signature = _decode(parts[2])
    if not any(hmac.compare_digest(_signature(key, signing_input), signature)
               for key in _keys()):
        raise InvalidToken("The token's signature does not match.")
    try:
        claims = json.loads(_decode(parts[1]))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidToken("The token's claims are not JSON.") from None
    if not isinstance(claims, dict):
        raise InvalidToken("The token's claims are not an object.")
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, (int, float)):
        raise InvalidToken("The token has no expiry.")
    if expires <= (time.time() if now is None else now):
        raise InvalidToken("The token has expired.")
    return claims
