"""The API endpoints: userinfo and the webcast calls, with every documented API error."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from ..models import AccessToken, FakeAccount, Grant, SandboxClient, token_hash
from ..responses import failure, success
from ..scopes import ENDPOINT_SCOPES
from .common import provider_endpoint

MISSING_HEADER = "Missing Authorization header"


def _presented(request: HttpRequest) -> tuple[str, str] | None:
    """``(token, how)`` from ``Authorization: Bearer`` or ``x-oauth-token``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    value = request.headers.get("x-oauth-token", "").strip()
    if value:
        return value, "x-oauth-token"
    return None


def authenticate(request: HttpRequest, endpoint: str | None
                 ) -> tuple[Grant, SandboxClient] | HttpResponse:
    """The grant behind the request's token, or the documented error answer."""
    presented = _presented(request)
    if presented is None:
        return failure("unauthorized", MISSING_HEADER, 401)
    value, how = presented
    row = (AccessToken.objects.select_related("grant", "grant__client", "grant__account")
           .filter(token_hash=token_hash(value)).first())
    if row is None:
        return failure("invalid_token", "Access token is invalid", 401)
    grant, client = row.grant, row.grant.client
    transport = client.token_transport
    if transport == SandboxClient.TokenTransport.BEARER and how != "bearer":
        return failure("unauthorized", MISSING_HEADER, 401, client)
    if transport == SandboxClient.TokenTransport.X_OAUTH_TOKEN:
        if how != "x-oauth-token":
            return failure("unauthorized", "Missing x-oauth-token header", 401, client)
        key = request.headers.get("x-api-key") or request.GET.get("apiKey", "")
        if client.api_key and key != client.api_key:
            return failure("unauthorized", "Missing or invalid x-api-key header", 401, client)
    if row.revoked_at is not None or grant.revoked_at is not None:
        return failure("revoked_token", "Token has been revoked", 401, client)
    if row.expires_at <= timezone.now():
        return failure("token_expired", "Access token has expired", 401, client)
    if not grant.session_alive:
        return failure("session_expired", "Underlying TikTok session has expired", 401, client)
    if endpoint is not None:
        allowed = ENDPOINT_SCOPES[endpoint]
        if not set(allowed) & set(grant.scope_list):
            return failure("insufficient_scope",
                           f"Token does not have required scope: {allowed[0]}", 403, client)
    return grant, client


def _params(request: HttpRequest) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.GET.items())
    if request.method == "POST" and request.body:
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            body = dict(request.POST.items())
        if isinstance(body, dict):
            params.update(body)
    return params


def _number(seed: str, low: int, high: int) -> int:
    digest = hashlib.sha256(seed.encode()).digest()
    return low + int.from_bytes(digest[:4], "big") % (high - low + 1)


def _room(unique_id: str) -> dict[str, Any]:
    live = _number(unique_id + ":live", 0, 2) > 0
    return {"uniqueId": unique_id, "isLive": live,
            "roomId": str(_number(unique_id + ":room", 10**17, 10**18)) if live else None,
            "viewerCount": _number(unique_id + ":viewers", 3, 25_000) if live else 0}


@provider_endpoint("userinfo")
@require_http_methods(["GET", "POST"])
def userinfo(request: HttpRequest) -> HttpResponse:
    result = authenticate(request, None)
    if isinstance(result, HttpResponse):
        return result
    grant, client = result
    account: FakeAccount = grant.account
    return success({"user": account.as_userinfo()}, client)


@provider_endpoint("webcast/fetch")
@require_http_methods(["GET", "POST"])
def fetch(request: HttpRequest) -> HttpResponse:
    """Deterministic LIVE events for ``uniqueId`` (default: the authorizing account)."""
    result = authenticate(request, "webcast/fetch")
    if isinstance(result, HttpResponse):
        return result
    grant, client = result
    unique_id = str(_params(request).get("uniqueId") or grant.account.unique_id)[:60]
    room = _room(unique_id)
    events = [
        {"type": kind, "user": f"viewer{_number(unique_id + kind + str(i), 1, 9999)}",
         "value": _number(unique_id + kind + str(i) + "v", 1, 500)}
        for i, kind in enumerate(("chat", "like", "gift", "member", "chat"))
    ] if room["isLive"] else []
    return success({"room": room, "events": events, "cursor": _number(unique_id, 1, 10**9)},
                   client)


@provider_endpoint("webcast/bulk_live_check")
@require_http_methods(["GET", "POST"])
def bulk_live_check(request: HttpRequest) -> HttpResponse:
    result = authenticate(request, "webcast/bulk_live_check")
    if isinstance(result, HttpResponse):
        return result
    grant, client = result
    raw: Any = _params(request).get("uniqueIds") or request.GET.getlist("uniqueIds") or []
    names = (raw.replace(",", " ").split() if isinstance(raw, str)
             else [str(n) for n in raw] if isinstance(raw, list) else [])
    names = names[:100] or [grant.account.unique_id]
    return success({"results": [_room(name[:60]) for name in names]}, client)


@provider_endpoint("webcast/rankings")
@require_http_methods(["GET", "POST"])
def rankings(request: HttpRequest) -> HttpResponse:
    result = authenticate(request, "webcast/rankings")
    if isinstance(result, HttpResponse):
        return result
    grant, client = result
    region = str(_params(request).get("region") or grant.account.region)[:8]
    entries = [{"rank": i + 1, "uniqueId": f"creator_{region.lower()}_{i + 1}",
                "score": _number(region + str(i), 1000, 100_000) // (i + 1)}
               for i in range(10)]
    return success({"region": region, "rankings": entries}, client)
