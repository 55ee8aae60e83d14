"""Batch upkeep of connections: the logic behind the management commands and Celery tasks.

- :func:`refresh_expiring` refreshes every active connection whose access token
  expires within a window, with a bounded pool of threads, streaming through
  the table by primary key (memory stays flat however many rows there are).
- :func:`rotate_keys` re-encrypts client secrets, API keys and tokens with the newest
  key, batch by batch, without ever overwriting a token stored meanwhile;
  :func:`check_decryption` only reads them, naming each one no key decrypts.
- :func:`expire_refresh_tokens` marks connections whose refresh token outlived
  its lifetime as needing re-authorization.

Every refresh goes through :func:`django_euler_oauth.refresh.refresh_if_expiring`,
so the single-flight guarantees of interactive refreshes hold here too.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from django.db import connections, models, router, transaction
from django.utils import timezone

from . import crypto
from .conf import app_settings
from .errors import EncryptionKeyError, ExpiredToken
from .locking import locked_connection, take_write_lock
from .models import Connection, OAuthClient
from .refresh import Outcome, mark_dead_locked, refresh_if_expiring

logger = logging.getLogger("django_euler_oauth.maintenance")

#: Added to ``EULER_OAUTH_REFRESH_LEEWAY`` for the default refresh window, so a
#: job run every few minutes refreshes connections before any request has to.
DEFAULT_MARGIN = datetime.timedelta(minutes=10)
DEFAULT_CHUNK_SIZE = 500
DEFAULT_WORKERS = 4
#: How many failures a summary lists by primary key (the counts are always complete).
MAX_LISTED_FAILURES = 50


def default_window() -> datetime.timedelta:
    """How far ahead ``euler_oauth_refresh`` looks by default: the leeway plus a margin."""
    return app_settings.REFRESH_LEEWAY + DEFAULT_MARGIN


def iter_pk_chunks(queryset: models.QuerySet[Any], chunk_size: int) -> Iterator[list[int]]:
    """Primary keys of ``queryset`` in ascending chunks (keyset pagination, no OFFSET).

    One small query per chunk; never more than ``chunk_size`` keys in memory.
    Rows leaving the queryset meanwhile are simply not seen again.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1.")
    last: Any = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        chunk = list(page.order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not chunk:
            return
        yield chunk
        if len(chunk) < chunk_size:
            return
        last = chunk[-1]


def expiring_pk_chunks(within: datetime.timedelta, chunk_size: int = DEFAULT_CHUNK_SIZE,
                       now: datetime.datetime | None = None) -> Iterator[list[int]]:
    """Chunks of the pks of active connections expiring within ``within`` of ``now``."""
    queryset = Connection.objects.expiring_within(within, now=now or timezone.now())
    return iter_pk_chunks(queryset, chunk_size)


@dataclasses.dataclass
class RefreshSummary:
    """Counts of one batch refresh run (thread-safe to add to)."""

    refreshed: int = 0
    skipped: int = 0
    reauthorization_required: int = 0
    failed: int = 0
    failures: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    failure_codes: Counter[str] = dataclasses.field(default_factory=Counter)
    candidates: int = 0  # connections found expiring (all a dry run does)
    workers: int = 1
    dry_run: bool = False
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False,
                                              compare=False)

    @property
    def total(self) -> int:
        return self.refreshed + self.skipped + self.reauthorization_required + self.failed

    def add(self, pk: int, outcome: str, code: str = "") -> None:
        with self._lock:
            if outcome == Outcome.REFRESHED:
                self.refreshed += 1
            elif outcome == Outcome.REAUTHORIZATION_REQUIRED:
                self.reauthorization_required += 1
            elif outcome == Outcome.FAILED:
                self.failed += 1
                self.failure_codes[code or "error"] += 1
                if len(self.failures) < MAX_LISTED_FAILURES:
                    self.failures.append((pk, code))
            else:
                self.skipped += 1

    def as_dict(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "refreshed": self.refreshed, "skipped": self.skipped,
                "reauthorization_required": self.reauthorization_required,
                "failed": self.failed, "failure_codes": dict(self.failure_codes)}


def refresh_one(pk: int, within: datetime.timedelta) -> tuple[str, str]:
    """:func:`refresh_if_expiring` that turns even unexpected errors into an outcome."""
    try:
        return refresh_if_expiring(pk, within)
    except Exception as err:  # one broken row must not stop the run
        # The type only: a message could quote stored values.
        logger.error("Refreshing connection %s raised %s", pk, type(err).__name__)
        return Outcome.FAILED, type(err).__name__


def refresh_pks(pks: list[int], within: datetime.timedelta | None = None,
                summary: RefreshSummary | None = None, *, workers: int = 1) -> RefreshSummary:
    """Refresh the listed connections (if still expiring).

    One after another, or with ``workers`` threads (each with its own database
    connection, closed when it is done; 1 on SQLite): a refresh mostly waits for
    the provider, so threads multiply what one process (a Celery pool process)
    gets through.
    """
    within = default_window() if within is None else within
    summary = summary or RefreshSummary()
    workers = min(workers, len(pks))
    if workers > 1 and connections[router.db_for_write(Connection)].vendor == "sqlite":
        workers = 1
    if workers <= 1:
        for pk in pks:
            outcome, code = refresh_one(pk, within)
            summary.add(pk, outcome, code)
        return summary
    work: queue.Queue[Any] = queue.Queue()
    for pk in pks:
        work.put(pk)
    for _ in range(workers):
        work.put(_STOP)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="euler-oauth-chunk") as pool:
        futures = [pool.submit(_consume, work, summary, within) for _ in range(workers)]
    for future in futures:
        future.result()  # re-raise a thread's own crash, if any
    return summary


_STOP = object()
_POLL = 0.5  # seconds between checks while waiting on the queue


def _consume(work: queue.Queue[Any], summary: RefreshSummary,
             within: datetime.timedelta) -> None:
    """A worker thread: refresh pks from ``work`` until told to stop."""
    try:
        while True:
            pk = work.get()
            if pk is _STOP:
                return
            outcome, code = refresh_one(pk, within)
            summary.add(pk, outcome, code)
    finally:
        # This thread's own database connections (Django's are per thread).
        connections.close_all()


def _put(work: queue.Queue[Any], item: Any, futures: list[Any]) -> None:
    """Put ``item`` on the bounded queue; fail rather than hang if every worker died."""
    while True:
        try:
            work.put(item, timeout=_POLL)
            return
        except queue.Full:
            if all(future.done() for future in futures):
                raise RuntimeError("Every refresh worker stopped unexpectedly.") from None


def refresh_expiring(*, within: datetime.timedelta | None = None,
                     workers: int = DEFAULT_WORKERS, chunk_size: int = DEFAULT_CHUNK_SIZE,
                     dry_run: bool = False,
                     progress: Callable[[RefreshSummary, int], None] | None = None,
                     ) -> RefreshSummary:
    """Refresh every active connection whose access token expires within ``within``.

    Streams pks in chunks of ``chunk_size`` into a bounded queue (twice the
    worker count) drained by ``workers`` threads of a ``ThreadPoolExecutor``;
    each thread closes its database connection when done. ``progress(summary,
    queued)`` is called after each chunk. On SQLite (one writer at a time, and
    a refresh holds the write lock while it asks the provider) the work runs in
    the calling thread whatever ``workers`` says.
    """
    within = default_window() if within is None else within
    if workers < 1:
        raise ValueError("workers must be at least 1.")
    if connections[router.db_for_write(Connection)].vendor == "sqlite":
        workers = 1
    summary = RefreshSummary(workers=workers, dry_run=dry_run)
    chunks = expiring_pk_chunks(within, chunk_size, now=timezone.now())
    if dry_run or workers == 1:
        for chunk in chunks:
            summary.candidates += len(chunk)
            if not dry_run:
                refresh_pks(chunk, within, summary)
            if progress:
                progress(summary, summary.candidates)
        return summary

    work: queue.Queue[Any] = queue.Queue(maxsize=workers * 2)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="euler-oauth-refresh")
    futures = [pool.submit(_consume, work, summary, within) for _ in range(workers)]
    not_done: set[Any] = set(futures)
    try:
        for chunk in chunks:
            for pk in chunk:
                _put(work, pk, futures)
            summary.candidates += len(chunk)
            if progress:
                progress(summary, summary.candidates)
    finally:
        for _ in futures:
            _put(work, _STOP, futures)
        # Each queued item is bounded by the HTTP and lock timeouts.
        budget = (app_settings.HTTP_TIMEOUT * 2 + app_settings.LOCK_TIMEOUT) * (
            work.qsize() + 2) + 60
        done, not_done = wait_futures(futures, timeout=budget)
        pool.shutdown(wait=not not_done, cancel_futures=True)
    for future in done:
        future.result()  # re-raise a worker's own crash, if any
    if not_done:
        raise RuntimeError(f"{len(not_done)} refresh workers did not finish in time.")
    return summary


# --- key rotation ---------------------------------------------------------------

@dataclasses.dataclass
class RotateSummary:
    rows: int = 0
    rotated: int = 0  # values re-encrypted
    current: int = 0  # values already encrypted with the newest key
    changed_meanwhile: int = 0  # rows a concurrent writer changed first (re-read, then done)
    errors: list[str] = dataclasses.field(default_factory=list)
    last_pk: int | None = None


#: Every encrypted column, by model: what a rotation re-encrypts and a check reads.
ENCRYPTED_FIELDS: list[tuple[type[models.Model], tuple[str, ...]]] = [
    (OAuthClient, ("client_secret", "api_key")),
    (Connection, ("access_token", "refresh_token")),
]


def _rotate_row(model: type[models.Model], fields: tuple[str, ...], pk: int,
                values: tuple[Any, ...], alias: str, summary: RotateSummary) -> bool:
    """Re-encrypt one row's stale values; False when the row changed under us."""
    name = model.__name__
    updates: dict[str, tuple[str, str]] = {}
    for field, value in zip(fields, values, strict=True):
        if not value:
            continue
        if crypto.is_current(str(value)):
            summary.current += 1
            continue
        try:
            new = crypto.rotate(str(value), what=f"{name}.{field} of {name} pk={pk}")
        except EncryptionKeyError as err:
            summary.errors.append(str(err))
            continue
        updates[field] = (str(value), new)
    if not updates:
        return True
    db = connections[alias]
    meta = model._meta
    quote = db.ops.quote_name
    columns = [str(getattr(meta.get_field(field), "column", field)) for field in updates]
    sets = ", ".join(f"{quote(column)} = %s" for column in columns)
    # Compare-and-set: only where the stored ciphertext is still what we read, so a
    # token a refresh stored meanwhile (already under the newest key) is never lost.
    where = " AND ".join(f"{quote(column)} = %s" for column in columns)
    pk_column = str(meta.pk.column) if meta.pk is not None else "id"
    sql = (f"UPDATE {quote(meta.db_table)} SET {sets} "  # noqa: S608 (names quoted, values bound)
           f"WHERE {quote(pk_column)} = %s AND {where}")
    params = [new for _old, new in updates.values()] + [pk] + [
        old for old, _new in updates.values()]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        changed = cursor.rowcount
    if changed != 1:
        return False
    summary.rotated += len(updates)
    return True


def _rotate_model(model: type[models.Model], fields: tuple[str, ...], *, batch_size: int,
                  start_after: int | None, summary: RotateSummary,
                  progress: Callable[[str, RotateSummary], None] | None) -> None:
    alias = router.db_for_write(model)
    vendor = connections[alias].vendor
    last = start_after
    while True:
        with transaction.atomic(using=alias):
            # SQLite: take the write lock before reading, so a batch waits for a refresh
            # holding it (up to OPTIONS["timeout"]) instead of failing at once.
            take_write_lock(model, pk=-1)
            rows_qs = model._default_manager.using(alias).order_by("pk")
            if last is not None:
                rows_qs = rows_qs.filter(pk__gt=last)
            if vendor != "sqlite":
                # Row locks for the batch: a refresh of one of these waits for our commit
                # (and we for its), so neither writes over the other.
                rows_qs = rows_qs.select_for_update()
            # values_list hands out the stored ciphertext, never decrypted.
            rows = list(rows_qs.values_list("pk", *fields)[:batch_size])
            for pk, *values in rows:
                summary.rows += 1
                for _attempt in range(3):
                    if _rotate_row(model, fields, pk, tuple(values), alias, summary):
                        break
                    summary.changed_meanwhile += 1
                    again = list(model._default_manager.using(alias).filter(pk=pk)
                                 .values_list(*fields))
                    if not again:
                        break  # deleted meanwhile
                    values = list(again[0])
                else:
                    summary.errors.append(f"{model.__name__} pk={pk} kept changing; run again.")
        if not rows:
            return
        last = rows[-1][0]
        if model is Connection:
            summary.last_pk = last
        if progress:
            progress(model.__name__, summary)
        if len(rows) < batch_size:
            return


def rotate_keys(*, batch_size: int = DEFAULT_CHUNK_SIZE, start_after: int | None = None,
                progress: Callable[[str, RotateSummary], None] | None = None) -> RotateSummary:
    """Re-encrypt every client secret, API key and token with the newest key.

    Idempotent (values already under the newest key are left alone) and
    resumable (``start_after`` skips connections up to that pk; a plain re-run
    works as well). Each batch is its own transaction, its rows locked. Values
    no key decrypts are reported in ``errors`` (naming model, field and row)
    and left as they are.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    crypto.get_fernet()  # fail early, and clearly, without keys
    summary = RotateSummary()
    for model, fields in ENCRYPTED_FIELDS:
        _rotate_model(model, fields, batch_size=batch_size,
                      start_after=start_after if model is Connection else None,
                      summary=summary, progress=progress)
    return summary


@dataclasses.dataclass
class DecryptionCheck:
    """What :func:`check_decryption` found: counts, and each value no key decrypts."""

    values: int = 0  # non-empty values read
    stale: int = 0  # decrypted, but not under the newest key (a rotation is due)
    failures: list[str] = dataclasses.field(default_factory=list)  # "Model.field pk=N"


def _stored_rows(model: type[models.Model], fields: tuple[str, ...], *, newest: int | None,
                 batch_size: int) -> Iterator[tuple[Any, ...]]:
    """``(pk, *ciphertexts)`` of ``model``'s rows: the ``newest`` (highest pk), or all of
    them in keyset batches. ``values_list`` hands out the stored ciphertext, undecrypted."""
    rows = model._default_manager.using(router.db_for_read(model))
    if newest is not None:
        yield from rows.order_by("-pk").values_list("pk", *fields)[:newest]
        return
    last: Any = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        batch = list(page.order_by("pk").values_list("pk", *fields)[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        last = batch[-1][0]


def check_decryption(*, newest: int | None = None,
                     batch_size: int = DEFAULT_CHUNK_SIZE) -> DecryptionCheck:
    """Try every stored secret and token with ``EULER_OAUTH_ENCRYPTION_KEYS``; write nothing.

    ``newest``: only that many of each model's newest rows (the system check's sample);
    default every row, ``batch_size`` rows per query. Failures name model, field and pk,
    never the value. Raises :class:`~django_euler_oauth.errors.EncryptionKeyError` when
    the keys themselves are missing or invalid.
    """
    crypto.get_fernet()  # fail early, and clearly, without keys
    result = DecryptionCheck()
    for model, fields in ENCRYPTED_FIELDS:
        for pk, *values in _stored_rows(model, fields, newest=newest, batch_size=batch_size):
            for field, value in zip(fields, values, strict=True):
                if not value:
                    continue
                result.values += 1
                if crypto.is_current(str(value)):
                    continue
                try:
                    crypto.decrypt(str(value))
                except EncryptionKeyError:
                    result.failures.append(f"{model.__name__}.{field} pk={pk}")
                else:
                    result.stale += 1
    return result


# --- clean-up ---------------------------------------------------------------------

@dataclasses.dataclass
class CleanupSummary:
    examined: int = 0
    marked: int = 0


def expire_refresh_tokens(*, chunk_size: int = DEFAULT_CHUNK_SIZE,
                          now: datetime.datetime | None = None) -> CleanupSummary:
    """Mark active connections whose refresh token has expired as needing re-authorization.

    Reason ``expired_token``; ``reauthorization_required`` is sent once per
    connection (re-checked under the row lock, so a reconnect or a concurrent
    run is never overruled).
    """
    now = now or timezone.now()
    summary = CleanupSummary()
    for chunk in iter_pk_chunks(Connection.objects.refresh_expired(now), chunk_size):
        for pk in chunk:
            summary.examined += 1
            try:
                with locked_connection(pk) as row:
                    if row.is_active and row.refresh_expired(timezone.now()):
                        error = ExpiredToken("The refresh token has expired; the user "
                                             "must reconnect.")
                        if mark_dead_locked(row, "expired_token", error):
                            summary.marked += 1
            except Connection.DoesNotExist:
                continue
    return summary
