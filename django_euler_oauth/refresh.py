"""The one way a connection's tokens are refreshed.

Middleware, API client, admin action, commands and the Celery task all call
:func:`refresh_connection` (or :func:`get_access_token`, which calls it when
the token is near expiry, or :func:`refresh_if_expiring`, the batch form). It
is single flight per connection: under the row lock it re-reads the row and
refreshes only if that is still needed, stores the rotated refresh token with
the new access token, expiries and scope before the lock is released, and so
exactly one refresh request reaches the provider however many callers ask at
once. Callers that waited for the lock get the token the winner stored.

Outcomes:

- success: tokens, expiries and scope stored; ``token_refreshed`` once.
- dead grant (``invalid_grant``, ``expired_token``, ``revoked_token``, ...) or a
  refresh token past its lifetime (known locally, the provider is not asked):
  the connection moves to ``reauthorization_required`` with the reason;
  ``reauthorization_required`` once; every caller gets a
  :class:`~django_euler_oauth.errors.ReauthorizationRequired`.
- anything else (timeout, 5xx, 429, an answer we cannot read, a configuration
  error): nothing stored changes but ``last_error``; ``refresh_failed`` once per
  attempt. A still-valid access token is handed out all the same; an expired
  one makes the caller get the error. Callers that waited while that attempt
  failed do not ask again (no thundering herd on a struggling provider).
"""

from __future__ import annotations

import copy
import datetime
import logging
import threading
from functools import partial
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .client import ProviderClient
from .conf import app_settings
from .errors import (
    DEAD_GRANT_CODES,
    ERRORS_BY_CODE,
    Category,
    EulerOAuthError,
    ExpiredToken,
    NotConnected,
    ReauthorizationRequired,
    RetryableError,
    detached,
)
from .locking import copy_into, db_alias, locked_connection
from .signals import reauthorization_required, refresh_failed, token_refreshed

if TYPE_CHECKING:
    from .models import Connection

logger = logging.getLogger("django_euler_oauth.refresh")

#: What a successful refresh stores.
_STORED_ON_REFRESH = ("access_token", "refresh_token", "refresh_expires_at", "scope",
                      "expires_at", "refreshed_at", "last_error", "updated_at")


@sensitive_variables()  # the values are the tokens; so are the ORM frames below
def _store(row: Connection, fields: tuple[str, ...]) -> None:
    """Write ``fields`` of ``row`` (read under :func:`locked_connection`) in one UPDATE.

    ``QuerySet.update()``, not ``save()``: no ``pre_save``/``post_save`` receiver (code
    that is not ours) runs between the provider's answer and the commit of what it
    rotated. The app's own signals are sent after the commit.
    """
    row.updated_at = timezone.now()
    type(row)._base_manager.using(db_alias(row)).filter(pk=row.pk).update(
        **{name: row.__dict__[name] for name in fields})


class Outcome:
    """What one call of :func:`refresh_if_expiring` did."""

    REFRESHED = "refreshed"
    SKIPPED = "skipped"  # not needed (any more), or not an active connection
    REAUTHORIZATION_REQUIRED = "reauthorization_required"  # the grant died now
    FAILED = "failed"  # transient or configuration trouble; nothing stored changed


def mark_dead_locked(row: Connection, reason: str, error: EulerOAuthError | None) -> bool:
    """Move ``row`` (read under :func:`locked_connection`) to reauthorization_required.

    True if it changed; the signal is sent after commit, so once per transition.
    """
    if row.status != row.Status.ACTIVE:
        return False
    row.status = row.Status.REAUTHORIZATION_REQUIRED
    row.status_reason = reason[:300]
    row.last_error = (str(error) if error else reason)[:300]
    _store(row, ("status", "status_reason", "last_error", "updated_at"))
    transaction.on_commit(partial(reauthorization_required.send, sender=type(row),
                                  connection=row, reason=reason, error=error),
                          using=db_alias(row))
    return True


def _inactive_error(row: Connection) -> EulerOAuthError:
    """The error for callers who find ``row`` no longer active (e.g. after waiting)."""
    if row.status == row.Status.REAUTHORIZATION_REQUIRED:
        reason = row.status_reason or "invalid_grant"
        cls = ERRORS_BY_CODE.get(reason)
        text = f"The connection needs re-authorization ({reason})."
        if cls is not None and issubclass(cls, ReauthorizationRequired):
            return cls(text)
        return ReauthorizationRequired(text, code=reason if reason in DEAD_GRANT_CODES
                                       else None)
    return NotConnected(f"The connection is {row.status}.")


@sensitive_variables("rejected_token")
def mark_reauthorization_required(connection: Connection, reason: str,
                                  error: EulerOAuthError | None = None, *,
                                  rejected_token: str | None = None) -> bool:
    """Mark ``connection`` as needing the user to authorize again (signal sent once).

    With ``rejected_token`` (the access token the provider just refused), the
    mark is made only while that token is still the stored one: a token another
    caller refreshed in the meantime is not condemned for its predecessor.
    Returns True when this call made the change, False otherwise.
    """
    try:
        with locked_connection(connection.pk, using=db_alias(connection)) as row:
            if rejected_token is not None and row.access_token != rejected_token:
                changed = False
            else:
                changed = mark_dead_locked(row, reason, error)
    except connection.DoesNotExist:
        raise NotConnected("The connection no longer exists.") from None
    copy_into(connection, row)
    return changed


@sensitive_variables()  # tokens in hand: every frame below too (client, ORM, crypto)
def _refresh(pk: int, connection: Connection | None, *, using: str | None = None,
             force: bool = False, rejected_token: str | None = None,
             within: datetime.timedelta | None = None) -> tuple[str, EulerOAuthError | None]:
    """Refresh connection ``pk`` under the row lock if still needed; ``(outcome, error)``.

    ``connection``, the caller's instance, is brought up to date with the row (a batch
    caller passes None: it has no instance to update). ``using``: its database.
    """
    asked_at = timezone.now()
    error: EulerOAuthError | None = None
    failure: EulerOAuthError | None = None
    outcome = Outcome.SKIPPED
    with locked_connection(pk, using=using) as row:
        alias = db_alias(row)
        if row.status != row.Status.ACTIVE:
            copy_into(connection, row)
            return Outcome.SKIPPED, _inactive_error(row)
        now = timezone.now()
        if rejected_token is not None:
            needed = row.access_token == rejected_token
        else:
            leeway = within if within is not None else app_settings.REFRESH_LEEWAY
            needed = force or row.access_expired(leeway, now=now)
        if not needed:
            copy_into(connection, row)
            return Outcome.SKIPPED, None
        if (not force and row.last_error and row.updated_at is not None
                and row.updated_at >= asked_at):
            # Another caller's attempt failed while this one waited for the lock:
            # pass its failure on rather than asking a struggling provider again.
            copy_into(connection, row)
            return Outcome.FAILED, RetryableError(
                "A refresh of this connection just failed; try again shortly.")
        if not row.refresh_token or row.refresh_expired(now):
            # The refresh token's 30 days are known here: no need to ask the provider.
            error = ExpiredToken("The refresh token has expired; the user must reconnect.")
            mark_dead_locked(row, "expired_token", error)
            outcome = Outcome.REAUTHORIZATION_REQUIRED
        else:
            try:
                tokens = ProviderClient(row.client).refresh(row.refresh_token, scope=row.scope)
            except EulerOAuthError as err:
                error = detached(err)  # kept, then raised to callers: no frames
                if err.category == Category.REAUTHORIZE:
                    mark_dead_locked(row, err.code or "invalid_grant", err)
                    outcome = Outcome.REAUTHORIZATION_REQUIRED
                else:
                    # Tokens, status and expiries stay as they were: a failed refresh
                    # never destroys a working token.
                    row.last_error = str(err)[:300] or type(err).__name__
                    _store(row, ("last_error", "updated_at"))
                    transaction.on_commit(partial(refresh_failed.send, sender=type(row),
                                                  connection=row, error=err), using=alias)
                    failure, outcome = err, Outcome.FAILED
            else:
                row.access_token = tokens.access_token
                if tokens.refresh_token:  # rotated: the old one is already dead
                    row.refresh_token = tokens.refresh_token
                if tokens.refresh_expires_in is not None:
                    row.refresh_expires_at = tokens.refresh_expires_at
                # Without refresh_expires_in the grant keeps its original 30 days.
                row.scope = tokens.scope or row.scope
                row.expires_at = tokens.expires_at
                row.refreshed_at = now
                row.last_error = ""
                _store(row, _STORED_ON_REFRESH)
                transaction.on_commit(partial(token_refreshed.send, sender=type(row),
                                              connection=row), using=alias)
                outcome = Outcome.REFRESHED
    if failure is not None:
        # Logged once the lock is released: a log handler is code that is not ours (one
        # writing to the database would otherwise run inside the refresh's transaction).
        logger.warning("Refresh of connection %s failed: %s", row.pk, failure)
    copy_into(connection, row)
    return outcome, error


class _Flight:
    """One refresh attempt that other threads of this process are waiting for."""

    __slots__ = ("done", "error", "outcome", "row")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.outcome: str | None = None
        self.error: EulerOAuthError | None = None
        self.row: Connection | None = None


#: Keyed by (database alias, pk): connection 1 of one tenant's database is not another's.
_flights: dict[tuple[str, int], _Flight] = {}
_flights_lock = threading.Lock()


def _refresh_shared(connection: Connection) -> tuple[str, EulerOAuthError | None]:
    """:func:`_refresh` "if needed", shared by the threads of this process.

    The first thread to ask makes the (cross-process, row-locked) attempt; the
    others wait for its outcome instead of queueing for the lock one by one and
    each re-reading the row in a transaction of its own. Under a storm that is
    the difference between one refresh's latency and one refresh plus a
    transaction per waiting thread.
    """
    pk, alias = connection.pk, db_alias(connection)
    key = (alias, pk)
    with _flights_lock:
        flight = _flights.get(key)
        leader = flight is None
        if flight is None:
            flight = _flights[key] = _Flight()
    if leader:
        try:
            outcome, error = _refresh(pk, connection, using=alias)
            flight.outcome, flight.error, flight.row = outcome, error, connection
            return outcome, error
        finally:
            with _flights_lock:
                del _flights[key]
            flight.done.set()
    if not flight.done.wait(app_settings.LOCK_TIMEOUT):
        raise RetryableError("Another refresh of this connection is taking too long.")
    if flight.row is None or flight.outcome is None:
        # The leader died of something unexpected: try ourselves.
        return _refresh(pk, connection, using=alias)
    copy_into(connection, flight.row)
    # A copy: one exception instance must not be raised in several threads at once.
    return flight.outcome, copy.copy(flight.error) if flight.error else None


@sensitive_variables("rejected_token")
def refresh_connection(connection: Connection, *, force: bool = False,
                       rejected_token: str | None = None,
                       within: datetime.timedelta | None = None) -> Connection:
    """Refresh ``connection``'s tokens if they need it; returns it, up to date.

    Refreshes when the access token is within ``within`` (default
    ``EULER_OAUTH_REFRESH_LEEWAY``) of expiry, when ``force`` is set, or when
    ``rejected_token`` (an access token the API just refused as expired) is
    still the stored one. A refresh that another caller finished while this one
    waited for the lock is not repeated.

    Raises :class:`ReauthorizationRequired` (and marks the connection, sending
    ``reauthorization_required`` once) when the grant is dead,
    :class:`NotConnected` when the connection was revoked. Any other failure
    re-raises its error unless the stored access token is still valid (and was
    not the ``rejected_token``), in which case the connection is returned
    unchanged.
    """
    try:
        if force or rejected_token is not None or within is not None:
            outcome, error = _refresh(connection.pk, connection, using=db_alias(connection),
                                      force=force, rejected_token=rejected_token,
                                      within=within)
        else:
            outcome, error = _refresh_shared(connection)
    except connection.DoesNotExist:
        # Deleted (the user, an admin) while this caller waited for its lock.
        raise NotConnected("The connection no longer exists.") from None
    if error is None:
        return connection
    if outcome != Outcome.FAILED:
        raise error
    if rejected_token is None and not connection.access_expired(datetime.timedelta(0)):
        return connection  # the refresh failed, but the current token still works
    raise error


def refresh_if_expiring(pk: int, within: datetime.timedelta,
                        using: str | None = None) -> tuple[str, str]:
    """Refresh connection ``pk`` if it is active and expires within ``within``.

    For batch callers (the ``euler_oauth_refresh`` command, the Celery task):
    never raises an :class:`EulerOAuthError`; returns ``(outcome, code)``, an
    :class:`Outcome` and the error code or class name ("" on success).
    """
    from .models import Connection

    try:
        outcome, error = _refresh(pk, None, using=using, within=within)
    except Connection.DoesNotExist:
        return Outcome.SKIPPED, ""
    except EulerOAuthError as err:  # lock timeout
        return Outcome.FAILED, err.code or type(err).__name__
    if error is None or outcome == Outcome.SKIPPED:
        return outcome, ""
    return outcome, error.code or type(error).__name__


def get_access_token(connection: Connection) -> str:
    """A valid access token for ``connection``, refreshed first when near expiry.

    Raises :class:`ReauthorizationRequired` / :class:`NotConnected` when there is
    no usable grant, and a :class:`~django_euler_oauth.errors.RetryableError`
    (or another :class:`EulerOAuthError`) when the token has expired and
    could not be refreshed just now.
    """
    if connection.status != connection.Status.ACTIVE:
        raise _inactive_error(connection)
    if connection.access_expired(app_settings.REFRESH_LEEWAY):
        refresh_connection(connection)
    return connection.access_token
