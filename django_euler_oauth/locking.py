"""Taking the lock that serializes changes to one connection's tokens.

Within a process, threads queue on a striped ``threading.RLock`` (bounded in
number whatever the count of connections; re-entrant, so a thread holding one
connection's lock can take another's that shares the stripe). Across processes
the database does the work: ``SELECT ... FOR UPDATE`` on PostgreSQL (with a
``lock_timeout``), and on SQLite, which has no row locks, a no-op ``UPDATE``
that takes the database's single write lock first, so concurrent writers
(other processes too) wait for it. The whole wait, thread lock plus database
lock, is bounded by ``EULER_OAUTH_LOCK_TIMEOUT``.

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
from typing import TYPE_CHECKING, Any

from django.db import OperationalError, connections, router, transaction
from django.db.models import F

from .conf import app_settings
from .errors import RetryableError

if TYPE_CHECKING:
    from .models import Connection

_STRIPES = 1024
_locks = [threading.RLock() for _ in range(_STRIPES)]


def take_write_lock(model: Any, **lookup: Any) -> None:
    """On SQLite, take the database's write lock first thing in a transaction.

    SQLite's default (deferred) transactions take it at the first write; one that
    reads first and another writer holds it fails at once with "database is
    locked" instead of waiting ``OPTIONS["timeout"]``. A no-op ``UPDATE`` as the
    first statement waits like any writer. Nothing on other databases.
    """
    alias = router.db_for_write(model)
    if connections[alias].vendor == "sqlite":
        column = model._meta.pk.attname
        model._default_manager.using(alias).filter(**lookup).update(**{column: F(column)})


@contextlib.contextmanager
def locked_connection(pk: int) -> Iterator[Connection]:
    """A transaction holding the lock on connection ``pk``; yields the re-read row.

    Raises ``Connection.DoesNotExist`` when the row is gone and
    :class:`RetryableError` when the lock is not had within ``EULER_OAUTH_LOCK_TIMEOUT``.
    """
    from .models import Connection

    timeout = app_settings.LOCK_TIMEOUT
    deadline = time.monotonic() + timeout
    stripe = _locks[pk % _STRIPES]
    if not stripe.acquire(timeout=timeout):
        raise RetryableError("Another refresh of this connection is taking too long.")
    try:
        # What is left of the budget for the database lock (at least 1 ms: 0 means "forever").
        db_wait_ms = max(1, int((deadline - time.monotonic()) * 1000))
        alias = router.db_for_write(Connection)
        db = connections[alias]
        # Inside an outer transaction (ATOMIC_REQUESTS), SET LOCAL would outlive this block.
        outer = db.in_atomic_block
        try:
            with transaction.atomic(using=alias):
                # get_with_client: select_related("client").get(pk=pk), compiled once.
                queryset = Connection.objects.using(alias)
                if db.vendor == "postgresql":
                    previous = None
                    if outer:
                        with db.cursor() as cursor:
                            cursor.execute("SELECT current_setting('lock_timeout')")
                            previous = cursor.fetchone()[0]
                    # SET LOCAL lock_timeout and SELECT ... FOR UPDATE in one statement.
                    row = queryset.get_with_client(pk, for_update=True,
                                                   lock_timeout_ms=db_wait_ms)
                    if previous is not None:  # the lock is held: the rest runs as before
                        with db.cursor() as cursor:
                            cursor.execute("SELECT set_config('lock_timeout', %s, true)",
                                           [previous])
                elif db.vendor == "sqlite":
                    # Take SQLite's write lock before reading, so the read is current.
                    take_write_lock(Connection, pk=pk)
                    row = queryset.get_with_client(pk)
                else:
                    row = queryset.get_with_client(pk, for_update=True)
                yield row
        except OperationalError as err:
            if "lock" in str(err).lower():
                raise RetryableError(
                    "The connection is locked by another refresh; try again shortly."
                ) from err
            raise
    finally:
        stripe.release()
