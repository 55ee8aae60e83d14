"""Ending connections: disconnect, the session_expired clean-up, and deleted users.

Tokens are revoked at the provider under the connection's lock (so a refresh
cannot rotate a token between our read and the revoke) and cleared here even
when the provider cannot be reached; the caller learns which happened.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.views.decorators.debug import sensitive_variables

from .client import ProviderClient
from .errors import EulerOAuthError, SessionExpired
from .locking import copy_into, db_alias, locked_connection
from .signals import disconnected, reauthorization_required
from .teams import end_team

if TYPE_CHECKING:
    from django.http import HttpRequest

    from .models import Connection, OAuthClient

logger = logging.getLogger("django_euler_oauth.revocation")


@sensitive_variables("access_token", "refresh_token", "token")
def revoke_tokens(client: OAuthClient, access_token: str, refresh_token: str) -> bool:
    """Revoke both tokens at the provider; True when it confirmed every revoke.

    The provider answers success for any token with valid client credentials
    (RFC 7009), so an unknown or already revoked token counts as revoked.
    """
    provider = ProviderClient(client)
    confirmed = True
    # Refresh token first: it is the long-lived one.
    for token, hint in ((refresh_token, "refresh_token"), (access_token, "access_token")):
        if not token:
            continue
        try:
            provider.revoke(token, hint)
        except EulerOAuthError as err:
            confirmed = False
            logger.warning("Revoking a %s for OAuth client %s failed: %s",
                           hint, client.slug, err)
    return confirmed


def disconnect(connection: Connection, *, request: HttpRequest | None = None) -> bool:
    """Revoke ``connection`` at the provider, clear its tokens, mark it revoked.

    Returns True when the provider confirmed the revocation, False when it could
    not be reached (the connection is disconnected here all the same).
    """
    with locked_connection(connection.pk, using=db_alias(connection)) as row:
        if row.status == row.Status.REVOKED and not (row.access_token or row.refresh_token):
            # Already disconnected (a double submit, two admins): nothing to do, no signal.
            copy_into(connection, row)
            return True
        remote = revoke_tokens(row.client, row.access_token, row.refresh_token)
        row.access_token = ""
        row.refresh_token = ""
        row.status = row.Status.REVOKED
        row.status_reason = "disconnected"
        row.last_error = "" if remote else "The provider could not confirm the revocation."
        row.save()
        end_team(row)  # a delegate's use, and any pending invitation, end with it
        transaction.on_commit(partial(disconnected.send, sender=type(row), connection=row,
                                      revoked_remotely=remote, request=request),
                              using=db_alias(row))
    copy_into(connection, row)
    return remote


@sensitive_variables("rejected_token")
def expire_session(connection: Connection, error: SessionExpired | None = None, *,
                   rejected_token: str | None = None) -> bool:
    """``session_expired``: revoke both tokens, clear them, require re-authorization.

    Refreshing cannot help once the TikTok session behind the grant is gone.
    With ``rejected_token`` (the access token the API answered ``session_expired``
    to), nothing happens unless that token is still the stored one: a worker holding
    an old row must not revoke the grant of a reconnect made meanwhile.
    Returns True when this call made the change (the signal is sent once).
    """
    with locked_connection(connection.pk, using=db_alias(connection)) as row:
        if rejected_token is not None and row.access_token != rejected_token:
            copy_into(connection, row)
            return False
        changed = row.status == row.Status.ACTIVE
        if row.access_token or row.refresh_token:
            revoke_tokens(row.client, row.access_token, row.refresh_token)
        row.access_token = ""
        row.refresh_token = ""
        if changed:
            row.status = row.Status.REAUTHORIZATION_REQUIRED
            row.status_reason = "session_expired"
            row.last_error = str(error or "session_expired")[:300]
            transaction.on_commit(partial(reauthorization_required.send, sender=type(row),
                                          connection=row, reason="session_expired",
                                          error=error), using=db_alias(row))
        row.save()
    copy_into(connection, row)
    return changed


@sensitive_variables("access", "refresh")
def revoke_on_delete(sender: Any, instance: Connection, **kwargs: Any) -> None:
    """pre_delete receiver: revoke a deleted connection's tokens once the delete commits.

    The tokens revoked are the last ones stored: the row is re-read under the
    connection's lock (a refresh in flight finishes first, and one that comes later
    finds the row gone), not taken from the instance the deletion loaded. Then
    ``disconnected`` is sent (``request=None``), after the revocation was tried.
    """
    pk = instance.pk
    if pk is None:
        return
    try:
        with locked_connection(pk, using=db_alias(instance)) as row:
            client = row.client
            status = row.status
            access, refresh = row.access_token, row.refresh_token
    except instance.DoesNotExist:
        return  # deleted meanwhile: whoever deleted it revoked it
    except ImproperlyConfigured as err:  # a key problem must not block deleting a user
        logger.warning("Cannot revoke tokens of deleted connection %s: %s",
                       pk, type(err).__name__)
        return
    if status == row.Status.REVOKED and not (access or refresh):
        return  # disconnected before: revoked then, and signalled then

    @sensitive_variables("access", "refresh")
    def _revoke() -> None:
        remote = revoke_tokens(client, access, refresh) if (access or refresh) else True
        if not remote:
            logger.warning("Tokens of deleted connection %s may still be valid at the "
                           "provider until they expire.", pk)
        disconnected.send(sender=type(instance), connection=instance,
                          revoked_remotely=remote, request=None)

    transaction.on_commit(_revoke, using=db_alias(instance))
