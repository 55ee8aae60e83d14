"""Many expiring connections at once, each with a live grant at the sandbox provider."""

from __future__ import annotations

import datetime
from typing import Any


def expiring_connections(count: int, sandbox_client: Any, oauth_client: Any, *,
                         batch: int = 2000, with_grants: bool = True) -> None:
    """``count`` users, each with a connection whose access token has just expired.

    Rows are bulk-inserted in batches, with the tokens encrypted as usual and
    (``with_grants``) the matching grant and tokens stored (hashed) at the sandbox.
    """
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from django_euler_oauth.models import Connection
    from django_euler_oauth.sandbox.issuing import ACCESS_PREFIX, REFRESH_PREFIX
    from django_euler_oauth.sandbox.models import (
        AccessToken,
        Grant,
        RefreshToken,
        new_secret,
        token_hash,
    )
    from django_euler_oauth.sandbox.setup import ensure_accounts

    user_model = get_user_model()
    account = ensure_accounts()[0]
    now = timezone.now()
    past = now - datetime.timedelta(seconds=5)
    refresh_until = now + datetime.timedelta(days=30)
    start = user_model.objects.count()
    for offset in range(0, count, batch):
        size = min(batch, count - offset)
        users = user_model.objects.bulk_create([
            user_model(username=f"scale-{start + offset + i}", password="!")
            for i in range(size)])
        pairs = [(new_secret(ACCESS_PREFIX), new_secret(REFRESH_PREFIX)) for _ in range(size)]
        if with_grants:
            grants = Grant.objects.bulk_create([
                Grant(client=sandbox_client, account=account, scope="webcast:fetch",
                      refresh_expires_at=refresh_until) for _ in range(size)])
            AccessToken.objects.bulk_create([
                AccessToken(token_hash=token_hash(a), grant=g, expires_at=past)
                for (a, _r), g in zip(pairs, grants, strict=True)])
            RefreshToken.objects.bulk_create([
                RefreshToken(token_hash=token_hash(r), grant=g)
                for (_a, r), g in zip(pairs, grants, strict=True)])
        Connection.objects.bulk_create([
            Connection(user=u, client=oauth_client, access_token=a, refresh_token=r,
                       scope="webcast:fetch", expires_at=past, refresh_expires_at=refresh_until)
            for u, (a, r) in zip(users, pairs, strict=True)])


def lean_provider_connections(provider_url: str, count: int) -> list[int]:
    """``count`` expiring connections of a client whose token endpoint is the lean provider
    (bench/token_provider.py) at ``provider_url``; their pks, in order."""
    from bench.site import make_client
    from django_euler_oauth.models import Connection
    from django_euler_oauth.sandbox.setup import ensure_sandbox_client

    oauth = make_client(provider_url)
    sandbox = ensure_sandbox_client("bench-lean", client_secret="bench-secret",
                                    name="bench", redirect_uris=["http://127.0.0.1/cb"])
    expiring_connections(count, sandbox, oauth, with_grants=False)
    return list(Connection.objects.order_by("pk").values_list("pk", flat=True))
