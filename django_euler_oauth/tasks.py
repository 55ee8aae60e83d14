"""Celery tasks for proactive refresh at scale (optional: the `[celery]` extra).

Schedule :func:`refresh_expiring` with Celery beat (every few minutes, a
window longer than the period). It streams the pks of expiring connections in
chunks and fans each chunk out to :func:`refresh_connections`, so the work
spreads over as many Celery workers as you run. Every refresh still goes
through the row-locked single flight, so overlapping runs, retries and
interactive refreshes never race.

Both tasks are idempotent (a connection no longer expiring is skipped), so they
are declared ``acks_late`` with ``reject_on_worker_lost``: a worker that dies
mid-chunk leaves its chunk on the broker to be delivered again, and a chunk
delivered twice refreshes nothing twice. The worker settings this relies on
(prefetch multiplier 1, time limits, the Redis ``visibility_timeout``) are in the
docs' "Celery" page and checked by ``manage.py check``
(``django_euler_oauth.W030``-``W033``).
"""

from __future__ import annotations

import datetime
from typing import Any

try:
    from celery import shared_task
except ImportError as err:  # pragma: no cover - exercised only without Celery
    raise ImportError(
        "django_euler_oauth.tasks needs Celery: pip install \"django-euler-oauth[celery]\" "
        "(or use the euler_oauth_refresh management command instead)."
    ) from err

from . import maintenance


def _window(within: float | None) -> datetime.timedelta:
    return maintenance.default_window() if within is None else datetime.timedelta(
        seconds=within)


#: Options every task here is declared with: safe to run again, so acknowledged only
#: once done, and handed back to the broker when the process running it dies.
TASK_OPTIONS: dict[str, Any] = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="django_euler_oauth.refresh_expiring", ignore_result=True, **TASK_OPTIONS)
def refresh_expiring(within: float | None = None,
                     chunk_size: int = maintenance.DEFAULT_CHUNK_SIZE,
                     threads: int = 1) -> int:
    """Queue one :func:`refresh_connections` per chunk of expiring connections.

    ``within`` is in seconds (default: the refresh leeway plus 10 minutes);
    ``threads`` is passed on to each chunk. Returns the number of connections queued.
    """
    window = _window(within)
    queued = 0
    options = {"threads": threads} if threads != 1 else {}
    for chunk in maintenance.expiring_pk_chunks(window, chunk_size):
        refresh_connections.delay(chunk, within=window.total_seconds(), **options)
        queued += len(chunk)
    return queued


@shared_task(name="django_euler_oauth.refresh_connections", **TASK_OPTIONS)
def refresh_connections(pks: list[int], within: float | None = None,
                        threads: int = 1) -> dict[str, Any]:
    """Refresh the listed connections if they still expire within ``within`` seconds.

    With ``threads`` > 1 (PostgreSQL), that many refreshes of the chunk are in
    flight at once, each thread with its own database connection: a refresh mostly
    waits for the provider, so one pool process then does ``threads`` times the work.
    Returns the counts (refreshed, skipped, reauthorization_required, failed).
    """
    threads = max(1, min(int(threads), 64))
    summary = maintenance.refresh_pks([int(pk) for pk in pks], _window(within),
                                      workers=threads)
    summary.candidates = len(pks)
    return summary.as_dict()
