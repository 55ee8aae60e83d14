"""The admin's pages for OAuth clients and connections, and what the database stores
behind them."""

from __future__ import annotations

from typing import Any

from django.db import connection as db

CLIENTS = "/admin/django_euler_oauth/oauthclient/"
CONNECTIONS = "/admin/django_euler_oauth/connection/"


def raw_secret(pk: int) -> Any:
    """The client secret column of OAuth client ``pk`` as stored (ciphertext)."""
    with db.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM django_euler_oauth_oauthclient WHERE id = %s",
                       [pk])
        return cursor.fetchone()[0]


def form_data(client: Any, **changes: Any) -> dict[str, Any]:
    """The OAuth client change form as the admin fills it for ``client`` (no new secret),
    with ``changes``; a change to None leaves the field out."""
    data = {
        "name": client.name, "slug": client.slug, "client_id": client.client_id,
        "new_client_secret": "", "scopes": client.scopes, "redirect_uri": client.redirect_uri,
        "is_active": "on", "authorize_url": client.authorize_url, "token_url": client.token_url,
        "revoke_url": client.revoke_url, "api_base_url": client.api_base_url,
        "request_format": client.request_format, "token_transport": client.token_transport,
        "websocket_url": client.websocket_url, "account_id": client.account_id,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}
