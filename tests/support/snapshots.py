"""The connection table before and after, to show that something changed nothing."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import connection as db

from django_euler_oauth.models import Connection


def snapshot() -> dict[int, dict[str, Any]]:
    """Every column of every Connection, tokens decrypted.

    ``last_error``/``updated_at`` are diagnostics a failed attempt is meant to
    update; they are checked separately where it matters.
    """
    skip = {"last_error", "updated_at"}
    return {
        row.pk: {f.attname: getattr(row, f.attname) for f in Connection._meta.concrete_fields
                 if f.attname not in skip}
        for row in Connection.objects.order_by("pk")
    }


def stored_snapshot() -> list[tuple[Any, ...]]:
    """Every connection row as stored (token columns as fingerprints of the ciphertext)."""
    with db.cursor() as cursor:
        cursor.execute("SELECT id, user_id, client_id, external_id, external_username, status, "
                       "access_token, refresh_token FROM django_euler_oauth_connection "
                       "ORDER BY id")
        rows = cursor.fetchall()
    return [(*row[:6], hashlib.sha256(row[6].encode()).hexdigest(),
             hashlib.sha256(row[7].encode()).hexdigest()) for row in rows]
