"""The Celery app of the real-broker tests (and of bench/bench_celery.py).

Worker processes run ``celery -A tests.support.celery_app worker``; the JSON file named
by ``EULER_CELERY_CONFIG`` gives the broker URL, the databases (the tests'
PostgreSQL databases), settings to override and where to record signals. The
configuration is the one the README's "Celery" section recommends, with a short
Redis ``visibility_timeout`` so a redelivery after a crash comes within the
test's deadline rather than after an hour.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from celery import Celery

#: The settings django_euler_oauth's tasks need (see the README's "Celery" section).
RECOMMENDED: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "task_time_limit": 300,
    "task_soft_time_limit": 240,
    "broker_connection_retry_on_startup": True,
    "task_ignore_result": True,
    "worker_hijack_root_logger": False,
}


def make_app(broker_url: str, visibility_timeout: float = 3600, **extra: Any) -> Celery:
    app = Celery("euler-oauth-tests", set_as_current=False)
    app.conf.update(RECOMMENDED, broker_url=broker_url, result_backend=None,
                    broker_transport_options={
                        "visibility_timeout": visibility_timeout,
                        # kombu sweeps for abandoned tasks every interval x throttle
                        # seconds (10 x 10 by default): every second here.
                        "unacked_restore_interval": 1, "unacked_restore_throttle": 1,
                        "socket_timeout": 10},
                    **extra)
    return app


def _configure_worker() -> Celery:
    config = json.loads(Path(os.environ["EULER_CELERY_CONFIG"]).read_text())
    import django
    from django.conf import settings

    for alias, db in config["databases"].items():
        settings.DATABASES[alias] = db
    for key, value in config.get("settings", {}).items():
        setattr(settings, key, value)
    django.setup()
    if config.get("events"):
        from .load_server import _record_signals

        _record_signals(Path(config["events"]))
    worker_app = make_app(config["broker_url"], config.get("visibility_timeout", 3600),
                          **config.get("celery", {}))
    worker_app.set_current()
    worker_app.set_default()
    import django_euler_oauth.tasks  # noqa: F401  (registers the tasks)

    # Celery's Django fix-up (DJANGO_SETTINGS_MODULE is set) drops the database
    # connections a forked pool process inherits and closes them after each task.
    return worker_app


app = _configure_worker() if os.environ.get("EULER_CELERY_CONFIG") else None
