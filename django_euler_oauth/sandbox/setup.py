"""Creating sandbox clients and fake accounts, and the matching ``OAuthClient``.

Used by the example project, the tests and the benchmarks::

    from django_euler_oauth.sandbox.setup import ensure_demo_client
    sandbox_client, oauth_client = ensure_demo_client(
        "http://127.0.0.1:8000/sandbox",
        redirect_uris=["http://127.0.0.1:8000/oauth/callback/"])
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .models import FakeAccount, SandboxClient

DEMO_ACCOUNTS: tuple[dict[str, Any], ...] = (
    {"uid": "7000000000000000001", "sec_uid": "MS4wLjABAAAA-sandbox-streamer",
     "unique_id": "sandbox_streamer", "nickname": "Sandbox Streamer", "region": "US",
     "room_id": "7300000000000000001"},
    {"uid": "7000000000000000002", "sec_uid": "MS4wLjABAAAA-sandbox-viewer",
     "unique_id": "sandbox_viewer", "nickname": "Sandbox Viewer", "region": "GB",
     "room_id": "", "has_live_permission": False},
    # Kept for "Sign in with TikTok" by someone new: a demo walk connects the two above,
    # and this one signs up a user of its own. Last by handle, so never the default.
    {"uid": "7000000000000000003", "sec_uid": "MS4wLjABAAAA-sandbox-wanderer",
     "unique_id": "sandbox_wanderer", "nickname": "Sandbox Wanderer", "region": "DE",
     "room_id": "", "has_live_permission": False},
)


def ensure_accounts(*, every_demo_account: bool = False) -> list[FakeAccount]:
    """The fake TikTok accounts, creating the demo ones when there are none; with
    ``every_demo_account``, each demo account the sandbox lacks (a database made before
    one was added) is created too."""
    accounts = list(FakeAccount.objects.all())
    if accounts and not every_demo_account:
        return accounts
    for values in DEMO_ACCOUNTS:
        unique_id = values["unique_id"]
        defaults = {k: v for k, v in values.items() if k != "unique_id"}
        FakeAccount.objects.get_or_create(unique_id=unique_id, defaults=defaults)
    return list(FakeAccount.objects.all())


def ensure_sandbox_client(client_id: str, *, redirect_uris: Iterable[str],
                          client_secret: str | None = None, name: str = "Sandbox demo app",
                          **options: Any) -> SandboxClient:
    """Create or update the sandbox client ``client_id`` (keeping its secret unless given).

    ``options`` are :class:`SandboxClient` fields: ``response_style``,
    ``token_transport``, ``api_key``, ``require_pkce``, the lifetimes
    (``access_lifetime``, ``refresh_lifetime``, ``code_lifetime``, ``qr_lifetime``),
    ``account_id`` and ``max_web_sockets`` (the LIVE WebSocket).
    """
    client = SandboxClient.objects.filter(client_id=client_id).first()
    if client is None:
        client = SandboxClient(client_id=client_id,
                               client_secret=client_secret or secrets.token_urlsafe(32))
    elif client_secret:
        client.client_secret = client_secret
    client.name = name
    client.redirect_uris = "\n".join(dict.fromkeys(redirect_uris))
    for key, value in options.items():
        if not hasattr(SandboxClient, key):
            raise TypeError(f"SandboxClient has no option {key!r}.")
        setattr(client, key, value)
    client.save()
    ensure_accounts()
    return client


def websocket_url_for(base_url: str) -> str:
    """The sandbox WebSocket's URL for the sandbox mounted at ``base_url``: the same host
    and prefix, ``ws``/``wss`` for ``http``/``https``, path ``<prefix>/ws``."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, f"{parts.path}/ws", "", ""))


def ensure_demo_client(base_url: str, *, redirect_uris: Iterable[str],
                       slug: str = "sandbox", client_id: str = "sandbox-demo",
                       client_secret: str | None = None, name: str = "Sandbox demo app",
                       scopes: str = ("user:info webcast:fetch webcast:bulk_live_check "
                                      "webcast:rankings"),
                       fetch_userinfo: bool = True, oauth_fields: dict[str, Any] | None = None,
                       websocket_url: str | None = None,
                       **options: Any) -> tuple[SandboxClient, Any]:
    """A sandbox client and the site's ``OAuthClient`` for it, endpoints under ``base_url``.

    ``base_url`` is where the sandbox URLconf is mounted (``http://127.0.0.1:8000/sandbox``).
    The sandbox client registers ``redirect_uris``; the OAuthClient leaves its own
    redirect URI blank (built from the request) unless ``oauth_fields`` sets it.
    ``options`` configure the sandbox client (see :func:`ensure_sandbox_client`);
    ``response_style``/``token_transport`` variants are mirrored on the OAuthClient.

    LIVE events work without more steps: the sandbox client gets an API key when it has
    none (``api_key`` sets one; ``api_key=""`` keeps it blank), the OAuthClient keeps it
    as its ``api_key``, with ``account_id`` the sandbox client's Euler account id and
    ``websocket_url`` the sandbox's WebSocket (``ws://<host>/<prefix>/ws``, from
    ``base_url``, unless given; see :mod:`.routing`).
    """
    from django_euler_oauth.models import OAuthClient

    existing = SandboxClient.objects.filter(client_id=client_id).first()
    if "api_key" not in options and not (existing and existing.api_key):
        options["api_key"] = f"esb_key_{secrets.token_urlsafe(24)}"
    sandbox = ensure_sandbox_client(client_id, redirect_uris=redirect_uris,
                                    client_secret=client_secret, name=name, **options)
    base = base_url.rstrip("/")
    transport = options.get("token_transport", SandboxClient.TokenTransport.ANY)
    fields: dict[str, Any] = {
        "name": name,
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "scopes": scopes,
        "authorize_url": f"{base}/tiktok/oauth/authorize",
        "token_url": f"{base}/tiktok/oauth/token",
        "revoke_url": f"{base}/tiktok/oauth/revoke",
        "api_base_url": base,
        "fetch_userinfo": fetch_userinfo,
        "use_pkce": bool(options.get("require_pkce", False)),
        "token_transport": "x-oauth-token" if transport == "x-oauth-token" else "bearer",
        "api_key": sandbox.api_key,
        "account_id": sandbox.euler_account_id,
        "websocket_url": websocket_url or websocket_url_for(base),
        "is_active": True,
    }
    fields.update(oauth_fields or {})
    oauth, _created = OAuthClient.objects.update_or_create(slug=slug, defaults=fields)
    return sandbox, oauth
