"""The optional Celery tasks, run eagerly by a Celery app configured here."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

celery = pytest.importorskip("celery")

from django_euler_oauth.models import Connection  # noqa: E402

from .support.commands import make_many  # noqa: E402
from .support.loopback import RotatingTokenEndpoint  # noqa: E402

TOKEN = "/tiktok/oauth/token"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def eager_app() -> Iterator[Any]:
    app = celery.Celery("euler-oauth-tests", set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=True,
                    broker_url="memory://", result_backend="cache+memory://")
    previous = celery._state.get_current_app()
    app.set_current()
    app.set_default()
    try:
        yield app
    finally:
        previous.set_current()
        previous.set_default()


def test_refresh_expiring_fans_out_chunks(eager_app, provider, oauth, django_user_model):
    from django_euler_oauth import tasks

    endpoint = RotatingTokenEndpoint(*(f"r-{i}" for i in range(12)))
    provider.handle(TOKEN, endpoint)
    make_many(oauth, django_user_model, 12)
    make_many(oauth, django_user_model, 2, expires_in=7200, prefix="fresh")
    seen: list[list[int]] = []
    original = tasks.refresh_connections.run

    def spy(pks: list[int], within: float | None = None) -> dict[str, Any]:
        seen.append(list(pks))
        return original(pks, within=within)

    tasks.refresh_connections.run = spy
    try:
        queued = tasks.refresh_expiring.delay(within=900, chunk_size=5).get(timeout=60)
    finally:
        tasks.refresh_connections.run = original
    assert queued == 12
    assert [len(chunk) for chunk in seen] == [5, 5, 2]
    assert sorted(endpoint.used) == sorted(f"r-{i}" for i in range(12))
    assert Connection.objects.filter(refreshed_at__isnull=False).count() == 12


def test_refresh_connections_reports_outcomes(eager_app, provider, oauth, django_user_model):
    from django_euler_oauth import tasks

    provider.handle(TOKEN, RotatingTokenEndpoint("r-0", "r-1"))
    pks = make_many(oauth, django_user_model, 3)  # r-2 is unknown: dead grant
    fresh = sorted(set(make_many(oauth, django_user_model, 1, expires_in=7200,
                                 prefix="fresh")) - set(pks))
    result = tasks.refresh_connections.delay(pks + fresh, within=900).get(timeout=60)
    assert result == {"candidates": 4, "refreshed": 2, "skipped": 1,
                      "reauthorization_required": 1, "failed": 0, "failure_codes": {}}
    assert Connection.objects.get(pk=pks[2]).status == "reauthorization_required"
    # Idempotent: a retried task refreshes nothing twice.
    again = tasks.refresh_connections.delay(pks, within=datetime.timedelta(minutes=15)
                                            .total_seconds()).get(timeout=60)
    assert again["refreshed"] == 0 and again["skipped"] == 3


def test_tasks_module_explains_missing_celery():
    """Without Celery the import fails with a clear message (simulated by blocking it)."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'celery' or name.startswith('celery.'):\n"
        "            raise ImportError('blocked')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'\n"
        "import django; django.setup()\n"
        "try:\n"
        "    import django_euler_oauth.tasks\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=ROOT, env=env)
    assert "pip install" in out.stdout and "celery" in out.stdout, out.stderr[-2000:]
