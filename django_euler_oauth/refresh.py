"""The one way a connection's tokens are refreshed.

Middleware, API client, admin action, commands and the Celery task all call
:func:`refresh_connection` (or :func:`get_access_token`, which calls it when
the token is near expiry). It is single flight per connection: under the row
lock it re-reads the row and refreshes only if that is still needed, stores the
rotated refresh token with the new access token before the lock is released,
and so exactly one refresh request reaches the provider however many callers
ask at once.
"""

from __future__ import annotations

import datetime
import logging
from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from .client import ProviderClient
from .conf import app_settings
from .errors import (
    Category,
    EulerOAuthError,
    ExpiredToken,
    NotConnected,
    ReauthorizationRequired,
)
from .locking import locked_connection
from .signals import reauthorization_required, refresh_failed, token_refreshed

if TYPE_CHECKING:
    from .models import Connection

logger = logging.getLogger("django_euler_oauth.refresh")

_COPIED_FIELDS = ("access_token", "refresh_token", "scope", "expires_at", "refresh_expires_at",
                  "status", "status_reason", "last_error", "refreshed_at", "updated_at")


def _copy_into(target: Connection, source: Connection) -> None:
    """Bring the caller's instance up to date with the row read under lock."""
    # Copy what is stored on the instance (ciphertext stays ciphertext: no decryption).
    for name in _COPIED_FIELDS:
        target.__dict__[name] = source.__dict__.get(name)


def _mark_dead(row: Connection, reason: str, error: EulerOAuthError | None) -> bool:
    """Move ``row`` (locked) to reauthorization_required; True if it changed."""
    if row.status != row.Status.ACTIVE:
        return False
    row.status = row.Status.REAUTHORIZATION_REQUIRED
    row.status_reason = reason[:300]
    row.last_error = (str(error) if error else reason)[:300]
    row.save(update_fields=["status", "status_reason", "last_error", "updated_at"])
    transaction.on_commit(lambda: reauthorization_required.send(
        sender=type(row), connection=row, reason=reason, error=error))
    return True


def mark_reauthorization_required(connection: Connection, reason: str,
                                  error: EulerOAuthError | None = None) -> bool:
    """Mark ``connection`` as needing the user to authorize again (signal sent once).

    Returns True when this call made the change, False when it was already so.
    """
    with locked_connection(connection.pk) as row:
        changed = _mark_dead(row, reason, error)
    _copy_into(connection, row)
    return changed


def refresh_connection(connection: Connection, *, force: bool = False,
                       rejected_token: str | None = None) -> Connection:
    """Refresh ``connection``'s tokens if they need it; returns it, up to date.

    Refreshes when the access token is within ``EULER_OAUTH_REFRESH_LEEWAY`` of
    expiry, when ``force`` is set, or when ``rejected_token`` (an access token
    the API just refused as expired) is still the stored one. A refresh that
    another caller finished while this one waited for the lock is not repeated.

    Raises :class:`ReauthorizationRequired` (and marks the connection, sending
    ``reauthorization_required`` once) when the grant is dead; a transient
    failure re-raises its :class:`RetryableError` unless the stored access
    token is still valid, in which case the connection is returned unchanged.
    """
    error: EulerOAuthError | None = None
    with locked_connection(connection.pk) as row:
        if row.status != row.Status.ACTIVE:
            _copy_into(connection, row)
            raise NotConnected(f"The connection is {row.status}.")
        now = timezone.now()
        if rejected_token is not None:
            needed = row.access_token == rejected_token
        else:
            needed = force or row.access_expired(app_settings.REFRESH_LEEWAY, now=now)
        if not needed:
            _copy_into(connection, row)
            return connection
        if not row.refresh_token or row.refresh_expired(now):
            # The refresh token's 30 days are known here: no need to ask the provider.
            dead = ExpiredToken("The refresh token has expired; the user must reconnect.")
            _mark_dead(row, "expired_token", dead)
            error = dead
        else:
            try:
                tokens = ProviderClient(row.client).refresh(row.refresh_token, scope=row.scope)
            except EulerOAuthError as err:
                error = err
                if err.category in (Category.REAUTHORIZE,):
                    _mark_dead(row, err.code or "invalid_grant", err)
                else:
                    logger.warning("Refresh of connection %s failed: %s", row.pk, err)
                    row.last_error = str(err)[:300]
                    row.save(update_fields=["last_error"])
                    transaction.on_commit(partial(
                        refresh_failed.send, sender=type(row), connection=row, error=err))
            else:
                row.access_token = tokens.access_token
                if tokens.refresh_token:
                    row.refresh_token = tokens.refresh_token
                if tokens.refresh_expires_in is not None:
                    row.refresh_expires_at = tokens.refresh_expires_at
                row.scope = tokens.scope or row.scope
                row.expires_at = tokens.expires_at
                row.refreshed_at = now
                row.last_error = ""
                row.save()
                transaction.on_commit(lambda: token_refreshed.send(
                    sender=type(row), connection=row))
    _copy_into(connection, row)
    if error is None:
        return connection
    if isinstance(error, ReauthorizationRequired) or error.category != Category.RETRY:
        raise error
    if not connection.access_expired(datetime.timedelta(0)):
        return connection  # transient failure, but the current token still works
    raise error


def get_access_token(connection: Connection) -> str:
    """A valid access token for ``connection``, refreshed first when near expiry."""
    if connection.status != connection.Status.ACTIVE:
        raise NotConnected(f"The connection is {connection.status}.")
    if connection.access_expired(app_settings.REFRESH_LEEWAY):
        refresh_connection(connection)
    return connection.access_token
