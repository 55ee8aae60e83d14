"""Every endpoint that takes a user's token, served by one dispatcher reading the table.

:data:`django_euler_oauth.endpoints.ENDPOINTS` says each endpoint's path,
method, parameters and scopes; :func:`urlpatterns` routes every path of it
here, and :func:`dispatch` counts the call, applies injected faults,
authenticates the token, enforces the scope, checks required parameters and
hands a :class:`Call` to the endpoint's handler (:mod:`.webcast`).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from django_euler_oauth.endpoints import ENDPOINTS, Endpoint

from ..models import AccessToken, Grant, SandboxClient, token_hash
from ..responses import api_error, failure
from ..rooms import RoomError
from .call import BadInput, Call
from .common import guard, presented_token
from .webcast import HANDLERS

MISSING_HEADER = "Missing Authorization header"
MAX_TEXT = 500  # no parameter the API takes is longer

# Methods the sandbox served before the table, and the guide's POST /webcast/fetch.
METHOD_ALIASES: dict[tuple[str, str], str] = {
    ("POST", "/tiktok/oauth/userinfo"): "get_user_info",
    ("POST", "/webcast/fetch"): "legacy_fetch",
    ("GET", "/webcast/bulk_live_check"): "retrieve_bulk_live_check",
    ("POST", "/webcast/rankings"): "retrieve_webcast_rankings",
}
_BY_NAME = {endpoint.name: endpoint for endpoint in ENDPOINTS}
_ROUTES: dict[tuple[str, str], Endpoint] = {
    **{(e.method, e.path): e for e in ENDPOINTS},
    **{key: _BY_NAME[name] for key, name in METHOD_ALIASES.items()},
}


def authenticate(request: HttpRequest) -> tuple[Grant, SandboxClient] | HttpResponse:
    """The grant behind the request's token, or the documented error answer."""
    presented = presented_token(request)
    if presented is None:
        return failure("unauthorized", MISSING_HEADER, 401)
    value, how = presented
    row = (AccessToken.objects.select_related("grant", "grant__client", "grant__account")
           .filter(token_hash=token_hash(value)).first())
    if row is None:
        return api_error("invalid_token")
    grant, client = row.grant, row.grant.client
    transport = client.token_transport
    if transport == SandboxClient.TokenTransport.BEARER and how != "bearer":
        return failure("unauthorized", MISSING_HEADER, 401, client)
    if transport == SandboxClient.TokenTransport.X_OAUTH_TOKEN:
        if how != "x-oauth-token":
            return failure("unauthorized", "Missing x-oauth-token header", 401, client)
        key = request.headers.get("x-api-key") or request.GET.get("apiKey", "")
        if client.api_key and not secrets.compare_digest(key.encode(), client.api_key.encode()):
            return failure("unauthorized", "Missing or invalid x-api-key header", 401, client)
    if row.revoked_at is not None or grant.revoked_at is not None:
        return api_error("revoked_token", client)
    if row.expires_at <= timezone.now():
        return api_error("token_expired", client)
    if not grant.session_alive:
        return api_error("session_expired", client)
    return grant, client


def _read_params(request: HttpRequest) -> dict[str, Any] | HttpResponse:
    """Query parameters, then the JSON (or form) body's fields over them."""
    params: dict[str, Any] = {key: request.GET.get(key) for key in list(request.GET)[:50]}
    if "user_numeric_ids" in request.GET:  # the one list parameter, repeated or comma-joined
        params["user_numeric_ids"] = [part for value in request.GET.getlist("user_numeric_ids")
                                      for part in value.split(",") if part]
    raw = request.body
    if request.method in ("POST", "PUT", "DELETE") and raw.strip():
        if "json" in (request.content_type or "") or raw.lstrip()[:1] == b"{":
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError, RecursionError):
                return failure("invalid_request", "Malformed JSON body", 400)
            if not isinstance(body, dict):
                return failure("invalid_request", "The JSON body must be an object", 400)
            params.update(list(body.items())[:50])
        else:
            params.update({key: request.POST.get(key) for key in list(request.POST)[:50]})
    return params


@csrf_exempt  # server to server with a token, never a browser's cookies
@never_cache
def dispatch(request: HttpRequest, template: str, **path_params: str) -> HttpResponse:
    method = request.method or "GET"
    endpoint = _ROUTES.get((method, template))
    if endpoint is None:
        allowed = sorted({m for (m, p) in _ROUTES if p == template})
        return HttpResponseNotAllowed(allowed)
    trouble = guard(request, endpoint.name, endpoint.scope)
    if trouble is not None:
        return trouble
    result = authenticate(request)
    if isinstance(result, HttpResponse):
        return result
    grant, client = result
    if not endpoint.allowed_by(grant.scope_list):
        return api_error("insufficient_scope", client, scope=endpoint.scope)
    params = _read_params(request)
    if isinstance(params, HttpResponse):
        return params
    for name in endpoint.required:
        if params.get(name) in (None, "", []):
            return failure("invalid_request", f"Missing required parameter: {name}", 400,
                           client)
    call = Call(request, endpoint, grant, client, path_params, params)
    try:
        return HANDLERS[endpoint.name](call)
    except (BadInput, RoomError) as err:
        return failure("invalid_request", str(err), 400, client)


def _django_route(template: str) -> str:
    return re.sub(r"{(\w+)}", r"<str:\1>", template.lstrip("/"))


def urlpatterns() -> list[URLPattern]:
    """One URL pattern per path of the table (several methods may share a path), named
    after the first endpoint at that path."""
    first: dict[str, str] = {}
    for endpoint in ENDPOINTS:
        first.setdefault(endpoint.path, endpoint.name)
    return [path(_django_route(template), dispatch, {"template": template}, name=name)
            for template, name in first.items()]
