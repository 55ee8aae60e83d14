"""What the database really stores, read with raw SQL (ciphertext, not plaintext)."""

from __future__ import annotations

from django.db import connection as db


def raw_values() -> dict[str, str]:
    """Every stored ciphertext, by ``c<pk>.a``/``c<pk>.r``/``o<pk>.s`` (raw SQL)."""
    with db.cursor() as cursor:
        cursor.execute("SELECT id, access_token, refresh_token FROM django_euler_oauth_connection")
        rows = cursor.fetchall()
        cursor.execute("SELECT id, client_secret FROM django_euler_oauth_oauthclient")
        clients = cursor.fetchall()
    values = {}
    for pk, access, refresh in rows:
        values[f"c{pk}.a"], values[f"c{pk}.r"] = access, refresh
    for pk, secret in clients:
        values[f"o{pk}.s"] = secret
    return values
