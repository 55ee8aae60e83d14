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

The refresh path asks for a *short* transaction (``short=True``): on PostgreSQL
through psycopg 3 with client-side binding (Django's default), outside any
transaction, the statement that takes the lock also begins the transaction and
the last write carries the ``COMMIT`` (:func:`commit_suffix`): two round trips
to the database instead of four, the same lock held just as long. Callbacks
that must wait for the commit go through :func:`on_commit`, which works in both.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, OperationalError, connections, router, transaction
from django.db.models import F
from django.db.models.signals import post_save, pre_save

from .conf import app_settings
from .errors import RetryableError

if TYPE_CHECKING:
    from .models import Connection

_STRIPES = 1024
_locks = [threading.RLock() for _ in range(_STRIPES)]


class _Short:
    """A short transaction open on this thread's connection to one database."""

    __slots__ = ("callbacks", "committed", "nested")

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], Any]] = []
        self.committed = False
        self.nested = 0  # locked_connection blocks inside it (they join it)


_SHORT = "_euler_oauth_short"  # the open _Short, kept on the (per-thread) database connection


def _short(alias: str) -> _Short | None:
    return connections[alias].__dict__.get(_SHORT)


def on_commit(callback: Callable[[], Any], using: str) -> None:
    """``transaction.on_commit(callback, using)``, short transactions included."""
    short = _short(using)
    if short is None:
        transaction.on_commit(callback, using=using)
    else:
        short.callbacks.append(callback)


def commit_suffix(using: str) -> str:
    """``"; COMMIT"`` for the last statement of the short transaction open on ``using``.

    The caller appends it to its last write (one round trip fewer) and runs nothing
    more in that transaction; "" when no short transaction is open.
    """
    short = _short(using)
    if short is None or short.committed or short.nested:
        return ""
    short.committed = True
    return "; COMMIT"


def _short_possible(db: Any, model: Any) -> bool:
    """True when a short transaction can be opened on ``db`` now (see the module doc).

    PostgreSQL through psycopg 3, Django in autocommit and no transaction open (not
    even one begun with SQL), cursors that bind client-side (several statements in
    one query) and no ``pre_save``/``post_save`` receiver for ``model`` (one could
    open a ``transaction.atomic`` block, which a short transaction cannot nest).
    """
    if (db.vendor != "postgresql" or db.in_atomic_block or not db.get_autocommit()
            or pre_save.has_listeners(model) or post_save.has_listeners(model)):
        return False
    raw = db.connection
    pgconn = getattr(raw, "pgconn", None)
    if pgconn is None:  # psycopg2
        return False
    import psycopg

    return (pgconn.transaction_status == psycopg.pq.TransactionStatus.IDLE
            and issubclass(raw.cursor_factory, psycopg.ClientCursor))


def _end_short(db: Any, commit: bool) -> None:
    """COMMIT (or ROLLBACK) the short transaction; a connection left in one is closed."""
    if commit:
        with db.cursor() as cursor:
            cursor.execute("COMMIT")
        return
    try:
        with db.cursor() as cursor:
            cursor.execute("ROLLBACK")
    except DatabaseError:
        pass  # the error being raised matters more; the state is checked below
    import psycopg

    raw = db.connection
    if raw is not None and raw.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        db.close()  # still in a transaction: unusable


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
def locked_connection(pk: int, *, short: bool = False) -> Iterator[Connection]:
    """A transaction holding the lock on connection ``pk``; yields the re-read row.

    Raises ``Connection.DoesNotExist`` when the row is gone and
    :class:`RetryableError` when the lock is not had within ``EULER_OAUTH_LOCK_TIMEOUT``.
    ``short``: a short transaction where one is possible (see the module doc); the
    block then writes only through the ORM's ``save``/``update`` and
    ``save_fields``, and defers work to the commit with :func:`on_commit`.
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
            if _short(alias) is not None or (short and _short_possible(db, Connection)):
                yield from _locked_short(db, alias, pk, db_wait_ms)
                return
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


def _locked_short(db: Any, alias: str, pk: int, db_wait_ms: int) -> Iterator[Connection]:
    """:func:`locked_connection`'s short transaction: BEGIN with the locking read.

    Inside one already open on this thread (a nested call), the row is locked in it
    and the outer block commits.
    """
    from .models import Connection

    rows = Connection.objects.using(alias)
    state = _short(alias)
    if state is not None:
        state.nested += 1
        try:
            yield rows.get_with_client(pk, for_update=True, lock_timeout_ms=db_wait_ms)
        finally:
            state.nested -= 1
        return
    state = db.__dict__[_SHORT] = _Short()
    try:
        try:
            row = rows.get_with_client(pk, for_update=True, lock_timeout_ms=db_wait_ms,
                                       begin=True)
            yield row
        except BaseException:
            _end_short(db, commit=False)
            raise
        if not state.committed:
            _end_short(db, commit=True)
    finally:
        del db.__dict__[_SHORT]
    for callback in state.callbacks:  # after the commit, as transaction.on_commit
        callback()
