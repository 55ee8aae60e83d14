"""Minting codes and tokens, and the token answer that carries them."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from .models import (
    AccessToken,
    AuthorizationCode,
    AuthorizationRequest,
    Grant,
    RefreshToken,
    SandboxClient,
    new_secret,
    token_hash,
)
from .scopes import spec_names

ACCESS_PREFIX = "esb_at_"
REFRESH_PREFIX = "esb_rt_"
CODE_PREFIX = "esb_code_"


def issue_code(auth: AuthorizationRequest) -> str:
    """A single-use code for a confirmed authorization request."""
    assert auth.account is not None
    code = new_secret(CODE_PREFIX, 24)
    AuthorizationCode.objects.create(
        code_hash=token_hash(code), client=auth.client, account=auth.account,
        redirect_uri=auth.redirect_uri, scope=auth.scope, code_challenge=auth.code_challenge,
        expires_at=timezone.now() + datetime.timedelta(seconds=auth.client.code_lifetime),
    )
    return code


def start_grant(code: AuthorizationCode) -> Grant:
    client = code.client
    return Grant.objects.create(
        client=client, account=code.account, scope=code.scope,
        refresh_expires_at=timezone.now() + datetime.timedelta(seconds=client.refresh_lifetime),
    )


def issue_tokens(grant: Grant) -> tuple[str, str, AccessToken]:
    """A new access token and refresh token for ``grant`` (stored as hashes)."""
    access, refresh = new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)
    now = timezone.now()
    with transaction.atomic(using=router.db_for_write(AccessToken)):
        row = AccessToken.objects.create(
            token_hash=token_hash(access), grant=grant,
            expires_at=now + datetime.timedelta(seconds=grant.client.access_lifetime))
        RefreshToken.objects.create(token_hash=token_hash(refresh), grant=grant)
    return access, refresh, row


def token_answer(client: SandboxClient, grant: Grant, access: str, refresh: str,
                 access_row: AccessToken) -> dict[str, Any]:
    """The token endpoint's payload: documented flat fields, or the envelope's ``data``."""
    now = timezone.now()
    expires_in = max(1, int((access_row.expires_at - now).total_seconds() + 0.5))
    data: dict[str, Any] = {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }
    if client.enveloped:
        data["refresh_expires_in"] = max(
            1, int((grant.refresh_expires_at - now).total_seconds() + 0.5))
        data["scopes"] = spec_names(grant.scope_list)
    else:
        data["scope"] = grant.scope
    return data
