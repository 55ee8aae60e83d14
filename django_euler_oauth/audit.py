"""Writing the audit trail: one :class:`~django_euler_oauth.models.AuditEntry` per call.

A row holds the connection, the acting user, the endpoint's name, the outcome
(``ok`` or the error code) and, for moderation calls, the target (the viewer
muted, banned or made moderator, or the sensitive word) read from the call's
parameters. Nothing else from the call is kept: never a token, secret or API key.

**Rows outlive the caller's transaction.** A call made as the streamer stays made,
whatever the caller's transaction does next: a delegate's refused call whose
``NotDelegated`` (a ``PermissionDenied``) the view lets out as a 403, or a ban that
reached the provider in a request that failed afterwards, both end in a rollback under
``ATOMIC_REQUESTS`` (or any ``transaction.atomic`` around the call). So :func:`record`
never leaves a row to the caller's transaction alone:

- Outside any transaction (autocommit), the row is written at once, as always.
- Inside an ``atomic`` block, the row is written in the caller's transaction (in a
  savepoint of its own, so a failed write never breaks the caller's), where the caller
  sees it at once, and it is watched: an ``on_commit`` hook marks it kept when that
  transaction commits. Django *discards* the hooks of a transaction (or savepoint) that
  is rolled back; a hook dropped without having run is what tells that the row went
  with the rollback, and the row is then handed to the background writer, which writes
  it again on a database connection of its own (Django gives each thread its own),
  outside anything the caller does. It first looks for the identical row (same time to
  the microsecond), so a row that was committed after all is never doubled.
- A transaction already doomed (``set_rollback``), one managed by hand (autocommit off
  outside ``atomic``), or a write the caller's transaction refused: the row goes
  straight to the writer.
- A connection created in a transaction still open (:func:`track_new_connection`,
  ``post_save``) decides for its rows: rolled back with them, the rows have nothing left
  to belong to and are not handed over (so in a ``TestCase``, where nothing is ever
  committed, nothing writes behind the test's back); committed after a savepoint took
  a row with it, the row is handed over then.

The writer never makes the caller wait: on SQLite the caller's transaction may hold the
database's only write lock (and Django's in-memory test database answers "table is
locked" at once rather than waiting), so a row handed over while that transaction is
open is written once it ends. The writer is one daemon thread fed by a bounded queue;
each row is tried again with backoff, a bounded number of times within a bounded time.
A full queue or a row that cannot be written in time is logged as a warning naming the
connection and endpoint (never a token). An acting user rolled back too is left out of
the row, as deleting them would; a connection rolled back too leaves no trail to keep
the row in. :func:`flush` waits for the rows handed over so far (tests, and process
exit). The writer closes its database connections whenever it runs out of work, and a
forked child (a preloading server's worker) starts with a writer of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import datetime
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django.db import DatabaseError, IntegrityError, connections, transaction
from django.utils import timezone

from .endpoints import Endpoint

if TYPE_CHECKING:
    from .models import AuditEntry, Connection

logger = logging.getLogger("django_euler_oauth.audit")

#: Scopes whose calls act on someone or something in the room: their target is kept.
MODERATION_SCOPES = frozenset({"webcast:mute", "webcast:ban", "webcast:moderators",
                               "webcast:sensitive_words"})

#: Parameters naming a moderation call's target, in the order they are looked for.
TARGET_PARAMETERS = ("user_id", "tiktok_user_id", "to_user_id", "word", "word_id")

_MAX_TARGET = 100

#: Rows waiting for the background writer at most; more are dropped (with a warning).
MAX_PENDING = 1000
#: Attempts at writing one row, and the seconds they may take in all.
MAX_ATTEMPTS = 40
RETRY_SECONDS = 30.0
#: Backoff between attempts: the first wait, doubled each time up to the last.
FIRST_DELAY = 0.005
MAX_DELAY = 0.5
#: How long process exit waits for the rows still pending.
EXIT_TIMEOUT = 5.0


def target_of(endpoint: Endpoint, params: Mapping[str, Any]) -> str:
    """The viewer (or word) a moderation call acts on; "" for any other call."""
    if not MODERATION_SCOPES.intersection(endpoint.scopes):
        return ""
    for name in TARGET_PARAMETERS:
        value = params.get(name)
        if value not in (None, ""):
            return str(value)[:_MAX_TARGET]
    return ""


def outcome_of(error: BaseException | None) -> str:
    """``ok``, or the error's code (its class name when it has none)."""
    if error is None:
        return "ok"
    code = getattr(error, "code", None)
    return str(code or type(error).__name__)[:60]


@dataclasses.dataclass(frozen=True)
class _Row:
    """An audit row's column values (never a token) and the database alias it goes to."""

    alias: str
    values: dict[str, Any]
    #: True for a row the caller's transaction wrote first: write it only if it is absent.
    unless_present: bool

    def describe(self) -> str:
        return (f"connection {self.values['connection_id']}, endpoint "
                f"{self.values['endpoint']} ({self.values['outcome']})")


class _Writer:
    """One daemon thread writing rows on connections of its own, fed by a bounded queue."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked child has neither the parent's thread nor a usable lock state, and
        # must not write the parent's rows: a queue, a lock and (later) a thread of its own.
        # SimpleQueue.put is re-entrant, safe from the weakref callbacks that hand rows over.
        self._queue: queue.SimpleQueue[_Row | threading.Event] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.pid = os.getpid()
        #: (alias, pk) of the connections created in transactions still open (_Fate).
        self.new_connections: dict[tuple[str, Any], _Fate] = {}

    def start(self) -> None:
        """Start the thread unless it runs (never from a weakref callback: it takes locks)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, args=(self._queue,),
                                                daemon=True, name="euler-oauth-audit")
                self._thread.start()

    def submit(self, row: _Row) -> bool:
        """Queue ``row``; False (and a warning) when the queue is full. Takes no lock."""
        if self._queue.qsize() >= MAX_PENDING:
            logger.warning("Audit row for %s dropped: %s rows already wait to be written.",
                           row.describe(), MAX_PENDING)
            return False
        self._queue.put(row)
        return True

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the rows queued so far; True when all are done."""
        if self._thread is None and self._queue.empty():
            return True
        done = threading.Event()
        self._queue.put(done)
        self.start()
        return done.wait(timeout)

    def _run(self, work: queue.SimpleQueue[_Row | threading.Event]) -> None:
        while True:
            item = work.get()
            if isinstance(item, _Row):
                try:
                    _write_independently(item)
                except Exception:  # never let one row stop the writer
                    logger.warning("Audit row for %s not written: unexpected error.",
                                   item.describe(), exc_info=True)
            if work.empty():
                # Out of work: give the database connections back until more comes.
                with contextlib.suppress(Exception):
                    connections.close_all()
            if isinstance(item, threading.Event):
                item.set()


def _write_independently(row: _Row) -> None:
    """Write ``row`` on this thread's own connection, retrying with backoff (bounded)."""
    from .models import AuditEntry, Connection

    deadline = time.monotonic() + RETRY_SECONDS
    delay = FIRST_DELAY
    values = row.values
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            rows = AuditEntry.objects.using(row.alias)
            if row.unless_present and rows.filter(**row.values).exists():
                return  # committed after all
            try:
                rows.create(**values)
                return
            except IntegrityError:
                if not Connection.objects.using(row.alias).filter(
                        pk=values["connection_id"]).exists():
                    # Rolled back with the row (or deleted since, and its rows with it):
                    # there is no trail left to keep it in.
                    logger.info("Audit row for %s dropped: its connection no longer "
                                "exists.", row.describe())
                    return
                if values["acting_user_id"] is None:
                    raise
                # The acting user is gone: kept without them, as their deletion would.
                values = {**values, "acting_user_id": None}
                rows.create(**values)
                return
        except IntegrityError:
            logger.warning("Audit row for %s not written: it breaks a constraint.",
                           row.describe())
            return
        except DatabaseError as err:  # locked (SQLite), connection lost: try again
            reason = type(err).__name__
            with contextlib.suppress(Exception):
                connections[row.alias].close()
        if attempt == MAX_ATTEMPTS or time.monotonic() + delay > deadline:
            logger.warning("Audit row for %s not written after %s attempts (%s).",
                           row.describe(), attempt, reason)
            return
        time.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)


_writer = _Writer()


def _on_outcome(alias: str, kept: Callable[[], None], lost: Callable[[], None]) -> None:
    """Call ``kept`` when the open transaction on ``alias`` commits, ``lost`` when what
    it holds so far is rolled back (the transaction, or a savepoint around this point).

    Django discards the ``on_commit`` hooks of what it rolls back, unrun; the hook is
    their only reference, so its finalizer then runs, in the thread rolling back (or in
    the garbage collector): ``lost`` must only note things down or queue, never block.
    """
    ran = [False]

    def hook() -> None:
        ran[0] = True
        kept()

    def finalized(pid: int) -> None:
        if ran[0] or os.getpid() != pid:
            return  # committed; or a forked child's copy of its parent's transaction
        with contextlib.suppress(Exception):  # a weakref callback must not raise
            lost()

    transaction.on_commit(hook, using=alias)
    weakref.finalize(hook, finalized, os.getpid()).atexit = False


class _Fate:
    """A connection row created in a transaction still open: kept (committed), lost
    (rolled back) or not known yet; the audit rows waiting to know it."""

    def __init__(self) -> None:
        self.kept: bool | None = None
        self.waiting: list[_Row] = []


def _rescue(row: _Row, fate: _Fate | None) -> None:
    """``row`` was rolled back (or could not join the caller's transaction): have it written
    independently once its connection row is known to exist. No lock (see _on_outcome)."""
    if fate is None or fate.kept:
        _writer.submit(row)
    elif fate.kept is None:
        fate.waiting.append(row)  # written when its connection commits, or never
    # else its connection was rolled back too: nothing left to keep the row in


def track_new_connection(sender: Any, instance: Connection, created: bool, using: str,
                         **kwargs: Any) -> None:
    """``post_save`` of :class:`~django_euler_oauth.models.Connection` (connected in the
    app's ``ready``): a connection created in a transaction is remembered until that
    ends, so the rows of its calls rolled back with it are not rescued: their connection
    is gone too (as in a ``TestCase``, where nothing is ever committed)."""
    if not created or not connections[using].in_atomic_block:
        return
    key = (using, instance.pk)
    fate = _Fate()
    pending = _writer.new_connections
    pending[key] = fate

    def kept() -> None:
        fate.kept = True
        if pending.get(key) is fate:
            del pending[key]
        waiting, fate.waiting = fate.waiting, []
        for row in waiting:
            _writer.submit(row)

    def lost() -> None:
        fate.kept = False
        if pending.get(key) is fate:
            del pending[key]
        fate.waiting = []

    _on_outcome(using, kept, lost)


def record(connection: Connection, acting_user: Any, endpoint: Endpoint,
           params: Mapping[str, Any], error: BaseException | None = None
           ) -> AuditEntry | None:
    """Write one audit row for a call ``acting_user`` made (or was refused) on ``connection``.

    The row is kept even when the caller's transaction is rolled back (see the module
    docstring). Returns the row when it was saved in this thread (at once outside a
    transaction, else in the caller's transaction), None when it was handed straight
    to the background writer (the caller's transaction could not take it).
    """
    from .models import AuditEntry

    user_id = acting_user.pk if getattr(acting_user, "is_authenticated", False) else None
    alias = connection._state.db or "default"
    row = _Row(alias, {"connection_id": connection.pk, "acting_user_id": user_id,
                       "endpoint": endpoint.name, "outcome": outcome_of(error),
                       "target": target_of(endpoint, params),
                       "created_at": timezone.now()}, unless_present=False)
    db = connections[alias]
    if not db.in_atomic_block:
        if db.get_autocommit():
            return AuditEntry.objects.using(alias).create(**row.values)
        _writer.start()
        _writer.submit(row)  # managed by hand: no hook tells what becomes of it
        return None
    fate = _writer.new_connections.get((alias, connection.pk))
    _writer.start()  # running before any rollback can hand it a row
    if not transaction.get_rollback(using=alias):
        try:
            with transaction.atomic(using=alias):
                entry = AuditEntry.objects.using(alias).create(**row.values)
        except DatabaseError:
            logger.debug("Audit row for %s not written in the caller's transaction.",
                         row.describe(), exc_info=True)
        else:
            watched = dataclasses.replace(row, unless_present=True)
            _on_outcome(alias, _nothing, lambda: _rescue(watched, fate))
            return entry
    _rescue(row, fate)
    return None


def _nothing() -> None:
    pass


def flush(timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` seconds for the audit rows handed to the background writer.

    True when every one is written (or given up, with a warning). Rows still in an
    open transaction are not waited for; on SQLite, call it outside any transaction
    of your own, or the rows handed over wait for that transaction's lock. A test on
    SQLite's in-memory database (shared cache: a table another connection is writing
    is "locked" at once) calls it right after the rollback, before writing again.
    """
    return _writer.flush(timeout)


def _flush_at_exit() -> None:
    with contextlib.suppress(Exception):  # the interpreter may refuse new threads by now
        if not flush(EXIT_TIMEOUT):
            logger.warning("Audit rows still pending at exit were not written.")


atexit.register(_flush_at_exit)


def prune(days: int, now: datetime.datetime | None = None) -> int:
    """Delete audit entries older than ``days`` days; how many went."""
    from .models import AuditEntry

    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    deleted, _by_model = AuditEntry.objects.older_than(cutoff).delete()
    return deleted


def record_scope_refusal(connection: Connection, acting_user: Any, scope: str) -> None:
    """A refused row for a view a delegate may not open (``euler_scopes_required``):
    the endpoint is the first one needing ``scope``, the outcome ``not_delegated``."""
    from .endpoints import endpoints_for_scope
    from .errors import NotDelegated

    needing = endpoints_for_scope(scope)
    if needing:
        record(connection, acting_user, needing[0], {}, NotDelegated())
