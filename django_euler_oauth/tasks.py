"""Celery tasks for proactive refresh at scale (optional: the `[celery]` extra).

Schedule :func:`refresh_expiring` with Celery beat (every few minutes, a
window longer than the period). It streams the pks of expiring connections in
chunks and fans each chunk out to :func:`refresh_connections`, so the work
spreads over as many Celery workers as you run. Every refresh still goes
through the row-locked single flight, so overlapping runs, retries and
interactive refreshes never race.
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


@shared_task(name="django_euler_oauth.refresh_expiring", ignore_result=True)
def refresh_expiring(within: float | None = None,
                     chunk_size: int = maintenance.DEFAULT_CHUNK_SIZE) -> int:
    """Queue one :func:`refresh_connections` per chunk of expiring connections.

    ``within`` is in seconds (default: the refresh leeway plus 10 minutes).
    Returns the number of connections queued.
    """
    window = _window(within)
    queued = 0
    for chunk in maintenance.expiring_pk_chunks(window, chunk_size):
        refresh_connections.delay(chunk, within=window.total_seconds())
        queued += len(chunk)
    return queued


@shared_task(name="django_euler_oauth.refresh_connections")
def refresh_connections(pks: list[int], within: float | None = None) -> dict[str, Any]:
    """Refresh the listed connections if they still expire within ``within`` seconds.

    Returns the counts (refreshed, skipped, reauthorization_required, failed).
    """
    summary = maintenance.refresh_pks([int(pk) for pk in pks], _window(within))
    summary.candidates = len(pks)
    return summary.as_dict()
