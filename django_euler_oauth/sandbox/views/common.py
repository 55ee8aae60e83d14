"""What every server-to-server endpoint of the sandbox does first: count, then faults."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from .. import controls
from ..models import AccessToken, SandboxClient, find_client, token_hash
from ..responses import api_error, failure

View = Callable[..., HttpResponse]


def presented_token(request: HttpRequest) -> tuple[str, str] | None:
    """``(token, how)`` from ``Authorization: Bearer`` or ``x-oauth-token``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    value = request.headers.get("x-oauth-token", "").strip()
    if value:
        return value, "x-oauth-token"
    return None


def _client_of(request: HttpRequest) -> SandboxClient | None:
    """The client a request comes from, as far as it says (for an injected error's style)."""
    presented = presented_token(request)
    if presented is not None:
        row = (AccessToken.objects.select_related("grant__client")
               .filter(token_hash=token_hash(presented[0])).first())
        return row.grant.client if row else None
    fields = read_body(request) or {}
    client_id = fields.get("client_id") or request.GET.get("client_id", "")
    return find_client(client_id)


def guard(request: HttpRequest, name: str, scope: str = "") -> HttpResponse | None:
    """Count one call of endpoint ``name`` and apply its injected trouble.

    Returns the answer an injected rate limit, failure or error calls for, or
    None when the endpoint should serve the request. ``scope`` is what an
    injected ``insufficient_scope`` names.
    """
    controls.count_call(name)
    faults = controls.injected(name)
    controls.sleep_for(faults)
    if faults.rate_limit_reset is not None:
        return api_error("rate_limited", retry_after=faults.rate_limit_reset)
    if faults.fail_status is not None:
        status = faults.fail_status
        if status == 503:
            return failure("temporarily_unavailable", "Service temporarily unavailable", status)
        return failure("server_error", "Internal server error", status)
    if faults.error_code:
        return api_error(faults.error_code, _client_of(request), scope=scope)
    return None


def provider_endpoint(name: str) -> Callable[[View], View]:
    """Count the call, apply injected latency/failures/rate limits/errors, skip CSRF.

    CSRF does not apply: these endpoints are called server to server with
    client credentials or a bearer token, never with a browser's cookies.
    """

    def decorate(view: View) -> View:
        @csrf_exempt
        @never_cache
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            return guard(request, name) or view(request, *args, **kwargs)

        return wrapper

    return decorate


def read_body(request: HttpRequest) -> dict[str, str] | None:
    """Fields of a form-encoded or JSON body (None when the body cannot be read)."""
    ctype = request.content_type or ""
    raw = request.body
    if "json" in ctype or raw[:1] == b"{":
        try:
            data = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        if not isinstance(data, dict):
            return None
        return {str(k): v if isinstance(v, str) else "" if v is None else str(v)
                for k, v in data.items()}
    return {key: request.POST.get(key, "") for key in request.POST}
