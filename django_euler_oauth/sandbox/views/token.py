"""``POST tiktok/oauth/token``, ``revoke`` and ``introspect``: the server-to-server endpoints."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any
from urllib.parse import unquote

from django.db import router, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from django_euler_oauth.endpoints import SPEC_SCOPES

from ..issuing import issue_tokens, start_grant, token_answer
from ..models import (
    AccessToken,
    AuthorizationCode,
    Grant,
    RefreshToken,
    SandboxClient,
    find_client,
    token_hash,
)
from ..responses import failure, live, success, top_level
from ..scopes import spec_names
from .common import provider_endpoint, read_body

INVALID_CODE = "Authorization code expired or invalid"
INVALID_REFRESH = "Refresh token is invalid or has already been used"


def _missing(name: str, client: SandboxClient | None = None) -> HttpResponse:
    return failure("invalid_request", f"Missing required parameter: {name}", 400, client)


def _basic_credentials(request: HttpRequest) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


def authenticate_client(request: HttpRequest,
                        fields: dict[str, str]) -> SandboxClient | HttpResponse:
    """The client named by the body (or HTTP Basic, RFC 6749 §2.3.1), or the error answer."""
    basic = _basic_credentials(request)
    client_id, secret = basic if basic else (fields.get("client_id", ""),
                                             fields.get("client_secret", ""))
    if not client_id:
        return _missing("client_id")
    if not secret:
        return _missing("client_secret")
    client = find_client(client_id)
    if client is None or not client.secret_matches(secret):
        return failure("invalid_client", "Invalid client credentials", 401,
                       headers={"WWW-Authenticate": 'Basic realm="euler-sandbox"'})
    return client


def _pkce_ok(challenge: str, verifier: str) -> bool:
    if not challenge:
        return True
    if not verifier or not 43 <= len(verifier) <= 128:
        return False
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return computed == challenge


def _exchange_code(client: SandboxClient, fields: dict[str, str]) -> HttpResponse:
    code, redirect_uri = fields.get("code", ""), fields.get("redirect_uri", "")
    if not code:
        return _missing("code", client)
    if not redirect_uri:
        return _missing("redirect_uri", client)
    now = timezone.now()
    row = (AuthorizationCode.objects.select_related("client", "account")
           .filter(code_hash=token_hash(code), client=client).first())
    if (row is None or row.used_at is not None or row.expires_at <= now
            or row.redirect_uri != redirect_uri):
        return failure("invalid_grant", INVALID_CODE, 400, client)
    if not _pkce_ok(row.code_challenge, fields.get("code_verifier", "")):
        return failure("invalid_grant", "Code verifier does not match the code challenge",
                       400, client)
    with transaction.atomic(using=router.db_for_write(AuthorizationCode)):
        # Conditional update: of two concurrent exchanges of one code, one wins.
        if not AuthorizationCode.objects.filter(pk=row.pk, used_at__isnull=True).update(
                used_at=now):
            return failure("invalid_grant", INVALID_CODE, 400, client)
        grant = start_grant(row)
        access, refresh, access_row = issue_tokens(grant)
    return success(token_answer(client, grant, access, refresh, access_row), client)


def _refresh(client: SandboxClient, fields: dict[str, str]) -> HttpResponse:
    presented = fields.get("refresh_token", "")
    if not presented:
        return _missing("refresh_token", client)
    now = timezone.now()
    row = (RefreshToken.objects.select_related("grant", "grant__client", "grant__account")
           .filter(token_hash=token_hash(presented), grant__client=client).first())
    if row is None:
        return failure("invalid_grant", INVALID_REFRESH, 400, client)
    grant = row.grant
    if row.revoked_at is not None or grant.revoked_at is not None:
        return failure("revoked_token", "Token has been revoked", 400, client)
    if grant.refresh_expires_at <= now:
        return failure("expired_token", "Refresh token has expired", 400, client)
    with transaction.atomic(using=router.db_for_write(RefreshToken)):
        # Rotation: the presented token works once; a concurrent second use loses.
        if not RefreshToken.objects.filter(pk=row.pk, used_at__isnull=True).update(
                used_at=now):
            return failure("invalid_grant", INVALID_REFRESH, 400, client)
        access, refresh, access_row = issue_tokens(grant)
    return success(token_answer(client, grant, access, refresh, access_row), client)


@provider_endpoint("token")
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    fields = read_body(request)
    if fields is None:
        return failure("invalid_request", "Malformed request body", 400)
    grant_type = fields.get("grant_type", "")
    if not grant_type:
        return _missing("grant_type")
    client = authenticate_client(request, fields)
    if isinstance(client, HttpResponse):
        return client
    if grant_type == "authorization_code":
        return _exchange_code(client, fields)
    if grant_type == "refresh_token":
        return _refresh(client, fields)
    return failure("unsupported_grant_type", f"Unsupported grant_type: {grant_type[:40]}",
                   400, client)


def _find(client: SandboxClient, value: str, hint: str
          ) -> tuple[AccessToken | None, RefreshToken | None]:
    digest = token_hash(value)
    order = ("refresh_token", "access_token") if hint == "refresh_token" else (
        "access_token", "refresh_token")
    for kind in order:
        if kind == "access_token":
            access = (AccessToken.objects.select_related("grant", "grant__account")
                      .filter(token_hash=digest, grant__client=client).first())
            if access:
                return access, None
        else:
            refresh = (RefreshToken.objects.select_related("grant", "grant__account")
                       .filter(token_hash=digest, grant__client=client).first())
            if refresh:
                return None, refresh
    return None, None


def _token_request(request: HttpRequest
                   ) -> HttpResponse | tuple[SandboxClient, AccessToken | None,
                                             RefreshToken | None]:
    """Revoke and introspect alike: an authenticated client and the token it names."""
    fields = read_body(request)
    if fields is None:
        return failure("invalid_request", "Malformed request body", 400)
    client = authenticate_client(request, fields)
    if isinstance(client, HttpResponse):
        return client
    value = fields.get("token", "")
    if not value:
        return _missing("token", client)
    access, refresh = _find(client, value, fields.get("token_type_hint", ""))
    return client, access, refresh


@provider_endpoint("revoke")
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    """RFC 7009: success for any token once the client is authenticated."""
    found = _token_request(request)
    if isinstance(found, HttpResponse):
        return found
    client, access, refresh = found
    now = timezone.now()
    if refresh is not None:
        # A refresh token stands for the whole grant: every token of it dies.
        Grant.objects.filter(pk=refresh.grant_id, revoked_at__isnull=True).update(revoked_at=now)
    elif access is not None:
        AccessToken.objects.filter(pk=access.pk, revoked_at__isnull=True).update(revoked_at=now)
    if client.enveloped:
        return top_level({}, client, message="Token revoked")
    return success({"success": True}, client)


@provider_endpoint("introspect")
@require_POST
def introspect(request: HttpRequest) -> HttpResponse:
    """RFC 7662: ``active`` and, when active, what the token is."""
    found = _token_request(request)
    if isinstance(found, HttpResponse):
        return found
    client, access, refresh = found
    now = timezone.now()
    answer: dict[str, Any] = {"active": False}
    if access is not None:
        grant = access.grant
        if access.revoked_at is None and grant.revoked_at is None and access.expires_at > now:
            answer = {"active": True, "token_type": "access_token",
                      "exp": int(access.expires_at.timestamp()),
                      "iat": int(access.created_at.timestamp())}
    elif refresh is not None:
        grant = refresh.grant
        if (refresh.revoked_at is None and refresh.used_at is None and grant.revoked_at is None
                and grant.refresh_expires_at > now):
            answer = {"active": True, "token_type": "refresh_token",
                      "exp": int(grant.refresh_expires_at.timestamp()),
                      "iat": int(refresh.created_at.timestamp())}
    if answer["active"]:
        answer.update(scope=grant.scope, client_id=client.client_id, sub=grant.account.uid,
                      username=grant.account.unique_id)
        if client.enveloped:  # the live spec's IntrospectionResponse: token_type "Bearer"
            answer.update(token_type="Bearer",
                          scope=" ".join(spec_names(grant.scope_list)))
    return success(answer, client)


@provider_endpoint("validate-refresh")
@require_POST
def validate_refresh(request: HttpRequest) -> HttpResponse:
    """Whether a refresh token would work, without using it up (the live spec's shape).

    Only the client id is asked for, as in the spec: the answer tells no more
    than a refresh attempt would, and spends nothing.
    """
    fields = read_body(request)
    if fields is None:
        return failure("invalid_request", "Malformed request body", 400)
    for name in ("refresh_token", "client_id"):
        if not fields.get(name):
            return _missing(name)
    client = find_client(fields["client_id"])
    if client is None:
        return failure("invalid_client", "Unknown client_id", 401)
    row = (RefreshToken.objects.select_related("grant", "grant__account")
           .filter(token_hash=token_hash(fields["refresh_token"]), grant__client=client)
           .first())
    now = timezone.now()
    problem = (INVALID_REFRESH if row is None or row.used_at is not None
               else "Token has been revoked"
               if row.revoked_at is not None or row.grant.revoked_at is not None
               else "Refresh token has expired" if row.grant.refresh_expires_at <= now
               else "")
    if row is None or problem:
        return live({"valid": False}, message=problem)
    grant = row.grant
    return live({"valid": True, "scopes": spec_names(grant.scope_list),
                 "tiktok_user_id": grant.account.uid, "country_code": grant.account.region})


@provider_endpoint("clients")
@require_GET
def public_client(request: HttpRequest, client_id: str) -> HttpResponse:
    """What the live service tells anyone about a client (no secret, no credentials)."""
    client = find_client(client_id)
    if client is None:
        error = {"error": "invalid_client", "error_description": "Unknown client_id"}
        return live({"error": error}, message="Unknown client_id", status=404)
    return live({"client": {
        "client_id": client.client_id, "name": client.name, "description": None,
        "redirect_uris": client.redirect_uri_list,
        "supported_scopes": list(SPEC_SCOPES), "theme": None, "mode": None, "logo": None,
        "animated_background": False,
    }})
