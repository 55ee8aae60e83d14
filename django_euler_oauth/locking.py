"""Taking the lock that serializes changes to one connection's tokens.

Where a reader starts on concurrency: a connection's tokens are changed by one caller at
a time, in three layers, outermost first.

1. **In-process flights** (:mod:`~django_euler_oauth.refresh`, ``_refresh_shared``): the
   threads of one process asking to refresh the same connection wait for the first one's
   outcome instead of queueing for the lock.
2. **Striped thread locks** (here): threads that do take the lock queue on one of a fixed
   number of re-entrant locks, keyed by database and primary key.
3. **The row lock** (here, :func:`locked_connection`, through
   ``ConnectionQuerySet.locked_with_client`` in :mod:`~django_euler_oauth.models`): across
   processes and hosts, ``SELECT ... FOR UPDATE`` on PostgreSQL, the database's write lock
   on SQLite.

Refresh, disconnect, the ``session_expired`` clean-up and a deleted user's revocation all
go through layers 2 and 3; the refreshed row is then copied into the caller's instance
(:func:`copy_into`). A connection's database is :func:`db_alias` everywhere (a tenant's
database, with a router).

Within a process, threads queue on a striped ``threading.RLock`` (bounded in
number whatever the count of connections; re-entrant, so a thread holding one
connection's lock can take another's that shares the stripe). Across processes
the database does the work, inside ``transaction.atomic``: ``SELECT ... FOR
UPDATE`` on PostgreSQL (the wait bounded by ``SET LOCAL lock_timeout``), and on
SQLite, which has no row locks, a no-op ``UPDATE`` that takes the database's
single write lock first, so concurrent writers (other processes too) wait for it.
The whole wait, thread lock plus database lock, is bounded by
``EULER_OAUTH_LOCK_TIMEOUT``.

Call it outside any ``transaction.atomic`` block (so not under
``ATOMIC_REQUESTS``) when you can: inside one, the lock and the stored tokens
last until the *outer* transaction commits, and a rollback of that transaction
throws away a refresh token the provider has already rotated.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from django.db import OperationalError, connections, router, transaction
from django.db.models import F

from .conf import app_settings
from .errors import RetryableError
from .models import Connection

_STRIPES = 1024
_locks = [threading.RLock() for _ in range(_STRIPES)]

#: What :func:`copy_into` brings up to date: everything a refresh or a revocation changes.
COPIED_FIELDS = ("access_token", "refresh_token", "scope", "expires_at", "refresh_expires_at",
                 "status", "status_reason", "last_error", "refreshed_at", "updated_at")


def db_alias(instance: Any) -> str:
    """The database ``instance`` was read from (a tenant's, with a router), else the one
    the router writes its model to."""
    return instance._state.db or router.db_for_write(type(instance))


def copy_into(target: Connection | None, source: Connection) -> None:
    """Bring the caller's instance (if any) up to date with the row read under the lock.

    What is stored on the instance is copied (ciphertext stays ciphertext: nothing is
    decrypted)."""
    if target is None:
        return
    for name in COPIED_FIELDS:
        target.__dict__[name] = source.__dict__.get(name)


def take_write_lock(model: Any, using: str | None = None, **lookup: Any) -> None:
    """On SQLite, take the database's write lock first thing in a transaction.

    SQLite's default (deferred) transactions take it at the first write; one that
    reads first and another writer holds it fails at once with "database is
    locked" instead of waiting ``OPTIONS["timeout"]``. A no-op ``UPDATE`` as the
    first statement waits like any writer. Nothing on other databases.
    """
    alias = using or router.db_for_write(model)
    if connections[alias].vendor == "sqlite":
        column = model._meta.pk.attname
        model._default_manager.using(alias).filter(**lookup).update(**{column: F(column)})


def _set_lock_timeout(alias: str, value: str) -> None:
    """``SET LOCAL lock_timeout`` (PostgreSQL): it ends with the transaction."""
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [value])


def _lock_timeout(alias: str) -> str:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout')")
        return str(cursor.fetchone()[0])


@contextlib.contextmanager
def locked_connection(pk: int, *, using: str | None = None) -> Iterator[Connection]:
    """A transaction holding the lock on connection ``pk``; yields the re-read row.

    ``using``: the database the connection lives in (default: the router's choice for
    writing connections). Raises ``Connection.DoesNotExist`` when the row is gone and
    :class:`RetryableError` when the lock is not had within ``EULER_OAUTH_LOCK_TIMEOUT``.
    """
    alias = using or router.db_for_write(Connection)
    timeout = app_settings.LOCK_TIMEOUT
    deadline = time.monotonic() + timeout
    # Keyed by database and pk: connection 1 of one tenant's database is not another's.
    stripe = _locks[hash((alias, pk)) % _STRIPES]
    if not stripe.acquire(timeout=timeout):
        raise RetryableError("Another refresh of this connection is taking too long.")
    try:
        # What is left of the budget for the database lock (at least 1 ms: 0 means "forever").
        db_wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
        vendor = connections[alias].vendor
        # Inside an outer transaction (ATOMIC_REQUESTS) SET LOCAL would outlive this block.
        outer = connections[alias].in_atomic_block
        try:
            with transaction.atomic(using=alias):
                rows = Connection.objects.using(alias)
                if vendor == "postgresql":
                    previous = _lock_timeout(alias) if outer else None
                    _set_lock_timeout(alias, f"{db_wait_ms}ms")
                    row = rows.locked_with_client(pk)
                    if previous is not None:  # the lock is held: the rest runs as before
                        _set_lock_timeout(alias, previous)
                else:
                    # SQLite: take the write lock before reading, so the read is current.
                    take_write_lock(Connection, using=alias, pk=pk)
                    row = rows.locked_with_client(pk)
                yield row
        except OperationalError as err:
            if "lock" in str(err).lower():
                raise RetryableError(
                    "The connection is locked by another refresh; try again shortly."
                ) from err
            raise
    finally:
        stripe.release()
