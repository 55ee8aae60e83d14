"""JSON answers the way each sandbox client wants them: flat (documented) or enveloped (live).

The live service's envelope is what Euler's generated SDK parses: a numeric
``code`` always, and an ``error`` member only when there is an error, as an
object (``"error": null`` crashes the SDK's parser, so success never carries one).
Rate-limit and server-error answers always carry ``code`` and ``message`` (the
SDK's 429/500/503 models require both) next to the documented ``error`` fields.
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

from .models import SandboxClient

STATUS_MESSAGES = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                   404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
                   503: "Service Unavailable"}

#: The documented API errors: status and description (``{scope}`` filled in).
API_ERRORS: dict[str, tuple[int, str]] = {
    "unauthorized": (401, "Missing Authorization header"),
    "token_expired": (401, "Access token has expired"),
    "invalid_token": (401, "Access token is invalid"),
    "revoked_token": (401, "Token has been revoked"),
    "insufficient_scope": (403, "Token does not have required scope: {scope}"),
    "session_expired": (401, "Underlying TikTok session has expired"),
    "rate_limited": (429, "Too many requests, slow down."),
    "server_error": (500, "Internal server error"),
    "temporarily_unavailable": (503, "Service temporarily unavailable"),
}


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _enveloped(client: SandboxClient | None) -> bool:
    return client is not None and client.enveloped


def success(data: dict[str, Any], client: SandboxClient | None = None,
            message: str = "OK") -> JsonResponse:
    """``data`` flat, or as the envelope's ``data`` member (token, introspection)."""
    body = {"code": 200, "message": message, "data": data} if _enveloped(client) else data
    return _no_store(JsonResponse(body))


def top_level(payload: dict[str, Any], client: SandboxClient | None = None,
              message: str = "OK") -> JsonResponse:
    """``payload`` flat, or beside the envelope's code (userinfo's ``user``, revoke)."""
    body = {"code": 200, "message": message, **payload} if _enveloped(client) else payload
    return _no_store(JsonResponse(body))


def live(payload: dict[str, Any], message: str = "OK", status: int = 200) -> JsonResponse:
    """A live-API answer, the same for every client: ``{code, message, ...payload}``."""
    return _no_store(JsonResponse({"code": status, "message": message, **payload},
                                  status=status))


def failure(code: str, description: str, status: int = 400,
            client: SandboxClient | None = None,
            headers: dict[str, str] | None = None) -> JsonResponse:
    error = {"error": code, "error_description": description}
    body: dict[str, Any]
    if _enveloped(client):
        body = {"code": status, "message": description, "error": error}
    elif status == 429 or status >= 500:
        body = {"code": status, "message": description, **error}
    else:
        body = error
    response = JsonResponse(body, status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    if status == 401 and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = f'Bearer error="{code}"'
    return _no_store(response)


def api_error(code: str, client: SandboxClient | None = None, *, scope: str = "",
              retry_after: int = 60) -> JsonResponse:
    """One of :data:`API_ERRORS`, with the reset headers a 429 needs."""
    status, description = API_ERRORS[code]
    headers: dict[str, str] = {}
    if status == 429:
        reset = str(retry_after)
        headers = {"RateLimit-Reset": reset, "X-RateLimit-Reset": reset, "Retry-After": reset}
    return failure(code, description.format(scope=scope), status, client, headers)
