"""The provider's answers: reading them, and checking them for errors.

:func:`check_answer` raises the exception an answer reports (a flat ``{error,
error_description}``, the live envelope's ``error`` object or ``code``, else the HTTP
status), for :class:`~django_euler_oauth.client.ProviderClient` and the SDK helper alike;
:func:`parse_token_payload` reads a token answer (flat as documented, or enveloped as the
live service sends it) into a :class:`TokenSet`, refusing what no real answer holds; a
successful answer that is not JSON (the connect endpoints' protobuf) is a
:class:`BinaryAnswer`. ``Retry-After`` and the rate-limit reset headers are read by
:func:`~django_euler_oauth.errors.parse_retry_after`.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .conf import app_settings
from .errors import (
    MalformedResponse,
    RateLimited,
    Stage,
    error_for_code,
    parse_retry_after,
    redact,
)

if TYPE_CHECKING:
    import requests

__all__ = ["MAX_EXPIRES_IN", "MAX_SCOPE_LENGTH", "BinaryAnswer", "TokenSet", "check_answer",
           "error_fields", "parse_retry_after", "parse_token_payload", "unwrap"]

# An access token that claims to live longer than this is not a real answer.
MAX_EXPIRES_IN = 366 * 24 * 3600

# RFC 6749 §3.3 scope-token (printable ASCII but space, '"' and '\\'), and what
# Connection.scope holds: anything else is refused, not stored (PostgreSQL would
# reject a NUL or an over-long value with a 500).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SCOPE_LENGTH = 1000


@dataclasses.dataclass(frozen=True, repr=False)
class TokenSet:
    """Tokens from one successful token answer. Its repr never shows a token."""

    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int
    refresh_expires_in: int | None
    scope: str
    received_at: datetime.datetime = dataclasses.field(default_factory=timezone.now)

    def __repr__(self) -> str:
        return (f"<TokenSet token_type={self.token_type!r} expires_in={self.expires_in} "
                f"scope={self.scope!r} refresh_token={'yes' if self.refresh_token else 'no'}>")

    @property
    def expires_at(self) -> datetime.datetime:
        return self.received_at + datetime.timedelta(seconds=self.expires_in)

    @property
    def refresh_expires_at(self) -> datetime.datetime:
        if self.refresh_expires_in is not None:
            return self.received_at + datetime.timedelta(seconds=self.refresh_expires_in)
        return self.received_at + app_settings.REFRESH_TOKEN_LIFETIME


def unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """The payload of an answer: ``data`` of the live envelope, else the body itself."""
    data = body.get("data")
    return data if isinstance(data, dict) else body


def error_fields(body: Any) -> tuple[str, str] | None:
    """``(code, description)`` when ``body`` reports an error, flat or enveloped."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict) and err.get("error"):
        return str(err.get("error")), str(err.get("error_description") or "")
    if isinstance(err, str) and err:
        return err, str(body.get("error_description") or body.get("message") or "")
    code = body.get("code")
    if isinstance(code, int) and code >= 400:
        return "", str(body.get("message") or "")
    return None


def _seconds(payload: dict[str, Any], key: str, default: int | None) -> int | None:
    if key not in payload or payload[key] is None:
        return default
    raw = payload[key]
    if isinstance(raw, bool):
        raw = None
    try:
        value = int(str(raw)) if not isinstance(raw, (int, float)) else int(raw)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON 1e999 is inf
        raise MalformedResponse(f"{key} is not a number.", stage=Stage.TOKEN) from None
    if not 0 < value <= MAX_EXPIRES_IN * (30 if key == "refresh_expires_in" else 1):
        raise MalformedResponse(f"{key}={value} is out of range.", stage=Stage.TOKEN)
    return value


def _scope(payload: dict[str, Any], requested: str) -> str:
    if isinstance(payload.get("scopes"), list):
        return " ".join(str(s) for s in payload["scopes"] if isinstance(s, str) and s)
    scope = payload.get("scope")
    if isinstance(scope, str):
        return " ".join(scope.replace(",", " ").split())
    if isinstance(scope, list):
        return " ".join(str(s) for s in scope if isinstance(s, str) and s)
    return requested  # RFC 6749 §5.1: omitted means "as requested"


def _checked_scope(scope: str) -> str:
    tokens = scope.split()
    scope = " ".join(tokens)
    if len(scope) > MAX_SCOPE_LENGTH or not all(_SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise MalformedResponse("The token answer's scope is not a list of scope tokens.",
                                stage=Stage.TOKEN)
    return scope


def parse_token_payload(body: Any, *, requested_scope: str = "") -> TokenSet:
    """A :class:`TokenSet` from a decoded JSON answer, or :class:`MalformedResponse`."""
    if not isinstance(body, dict):
        raise MalformedResponse("The token answer is not a JSON object.", stage=Stage.TOKEN)
    payload = unwrap(body)
    access = payload.get("access_token")
    if not isinstance(access, str) or not access.strip():
        raise MalformedResponse("The token answer has no access_token.", stage=Stage.TOKEN)
    token_type = payload.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise MalformedResponse(
            f"The token answer has token_type {str(token_type)[:20]!r}, not Bearer.",
            stage=Stage.TOKEN,
        )
    refresh = payload.get("refresh_token") or ""
    if not isinstance(refresh, str):
        raise MalformedResponse("The token answer's refresh_token is not a string.",
                                stage=Stage.TOKEN)
    expires_in = _seconds(payload, "expires_in", 3600)
    assert expires_in is not None
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        token_type="Bearer",
        expires_in=expires_in,
        refresh_expires_in=_seconds(payload, "refresh_expires_in", None),
        scope=_checked_scope(_scope(payload, requested_scope)),
    )


def _status_code(status: int, stage: str) -> str:
    """The OAuth code an error status implies when the body names none."""
    if status == 503:
        return "temporarily_unavailable"
    if status >= 500:
        return "server_error"
    if status == 401:
        return "invalid_client" if stage == Stage.TOKEN else "unauthorized"
    if status == 403 and stage == Stage.API:
        return "insufficient_scope"
    if status == 400:
        return "invalid_request"
    return ""


@dataclasses.dataclass(frozen=True, repr=False)
class BinaryAnswer:
    """A successful non-JSON answer (the connect endpoints' protobuf body)."""

    content: bytes
    content_type: str
    headers: dict[str, str]

    def __repr__(self) -> str:
        return f"<BinaryAnswer {self.content_type or 'unknown type'} {len(self.content)} bytes>"


@sensitive_variables("secrets")
def check_answer(status: int, body: Any, headers: Any, *, stage: str,
                 secrets: list[str | None], response: requests.Response | None = None) -> None:
    """Raise the exception an answer reports, if it reports one.

    ``body`` is the decoded JSON (None when there was none): a flat
    ``{error, error_description}``, the live envelope's ``error`` object, or an
    envelope ``code >= 400`` (also under HTTP 200); otherwise the HTTP status.
    Codes and descriptions are redacted of ``secrets``. Shared by
    :class:`~django_euler_oauth.client.ProviderClient` and the SDK helper
    (:mod:`django_euler_oauth.sdk`).
    """
    envelope_code = body.get("code") if isinstance(body, dict) else None
    if status < 400 and isinstance(envelope_code, int) and 400 <= envelope_code < 600:
        status = envelope_code  # the live envelope can report an error under HTTP 200
    failure = error_fields(body)
    if failure is None and status < 400:
        return
    retry_after = parse_retry_after(headers)
    code, description = failure or ("", "")
    # The code is shown and logged like the description: it may echo what we sent.
    code = redact(code, secrets)[:64]
    if not code:
        code = _status_code(status, stage)
        description = description or (f"HTTP {status}" if body is None else "")
    if status == 429 and code in ("", "server_error"):
        raise RateLimited(redact(description, secrets), status=status, stage=stage,
                          response=response, retry_after=retry_after)
    raise error_for_code(code, redact(description, secrets),
                         status=status if status >= 400 else None, stage=stage,
                         response=response, retry_after=retry_after)
