"""Single flight under real concurrency: threads and processes against one database.

PostgreSQL (``-m postgres``, transactional): 16 threads in this process, and 4
processes x 4 threads, ask for the token of one expired connection at once; the
provider (real HTTP on loopback, rotating refresh tokens and answering
``invalid_grant`` to a reused one) must see exactly one refresh and everyone
must get the new token. Dead grants and transient failures are raced too.

SQLite (no mark): the same race on a file database (an in-memory database
cannot be shared between processes), threads in one process and then two
processes, to show what holds there: the database's single write lock makes
the refresh single flight across processes as well, at the price of blocking
every other writer while the provider answers.

Worker processes are started with ``subprocess`` (a fresh interpreter, like
``spawn``); each configures Django for the same database, reading the test
database's name from ``connection.settings_dict`` in the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from django.db import connection as db
from django.db import connections

from django_euler_oauth import signals
from django_euler_oauth.errors import InvalidGrant, ReauthorizationRequired, RetryableError
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import get_access_token

from .support.loopback import Answer, RotatingTokenEndpoint, token_body

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "/tiktok/oauth/token"
DEADLINE = 90.0  # seconds any race may take before the test fails (never hangs)
SIGNALS = ("token_refreshed", "refresh_failed", "reauthorization_required")

BOOT = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
cfg = json.load(open(sys.argv[1]))
import django
from django.conf import settings
settings.DATABASES["default"] = cfg["db"]
django.setup()
from tests.test_concurrency_pg import worker_main
worker_main(cfg)
"""


# --- the race itself (in this process, or in a worker process) ---------------------

def race(pk: int, threads: int) -> dict[str, Any]:
    """``threads`` threads ask for connection ``pk``'s token at once; what each got."""
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    receivers = []
    for name in SIGNALS:
        def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            with lock:
                counts[_name] += 1
        getattr(signals, name).connect(receiver, weak=False)
        receivers.append((name, receiver))
    barrier = threading.Barrier(threads, timeout=DEADLINE)
    results: list[dict[str, Any]] = [{"error": "did not finish"} for _ in range(threads)]
    row_locks = [0]

    def count_row_locks(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "FOR UPDATE" in sql:
            with lock:
                row_locks[0] += 1
        return execute(sql, params, many, context)

    def work(index: int) -> None:
        try:
            barrier.wait()
            conn = Connection.objects.select_related("client").get(pk=pk)
            with connections["default"].execute_wrapper(count_row_locks):
                results[index] = {"token": get_access_token(conn)}
        except Exception as err:
            results[index] = {"error": type(err).__name__, "code": getattr(err, "code", ""),
                              "retryable": isinstance(err, RetryableError),
                              "reauth": isinstance(err, ReauthorizationRequired)}
        finally:
            connections.close_all()  # this thread's connection

    pool = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=DEADLINE)
    for name, receiver in receivers:
        getattr(signals, name).disconnect(receiver)
    return {"results": results, "signals": dict(counts), "row_locks": row_locks[0],
            "alive": sum(thread.is_alive() for thread in pool)}


def worker_main(cfg: dict[str, Any]) -> None:
    """Entry point of a worker process (see BOOT)."""
    out = Path(cfg["out"])
    if cfg["mode"] == "setup":
        _setup(cfg)
        return
    if cfg["mode"] == "expire":
        from django.utils import timezone

        Connection.objects.filter(pk=cfg["pk"]).update(expires_at=timezone.now())
        out.write_text("{}")
        return
    Path(cfg["ready"]).write_text("ready")
    go = Path(cfg["go"])
    deadline = time.monotonic() + DEADLINE
    while not go.exists():
        if time.monotonic() > deadline:
            out.write_text(json.dumps({"error": "no go signal"}))
            return
        time.sleep(0.005)
    out.write_text(json.dumps(race(cfg["pk"], cfg["threads"])))


def _setup(cfg: dict[str, Any]) -> None:
    """Create the schema and one expired connection in a fresh (file) database."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from django_euler_oauth.models import OAuthClient

    call_command("migrate", database="default", verbosity=0, interactive=False)
    base = cfg["provider"]
    client = OAuthClient.objects.create(
        slug="race", name="Race", client_id="cid", client_secret="secret-value",
        token_url=f"{base}/tiktok/oauth/token", revoke_url=f"{base}/tiktok/oauth/revoke",
        api_base_url=base, authorize_url=f"{base}/tiktok/oauth/authorize")
    user = get_user_model().objects.create_user("racer")
    now = timezone.now()
    conn = Connection.objects.create(
        user=user, client=client, access_token="access-0", refresh_token="refresh-0",
        scope="webcast:fetch", expires_at=now - datetime.timedelta(seconds=5),
        refresh_expires_at=now + datetime.timedelta(days=30))
    Path(cfg["out"]).write_text(json.dumps({"pk": conn.pk}))


# --- running worker processes ------------------------------------------------------

def _run(cfg: dict[str, Any], workdir: Path, name: str) -> subprocess.Popen[bytes]:
    path = workdir / f"{name}.json"
    cfg = {**cfg, "out": str(workdir / f"{name}.out"), "ready": str(workdir / f"{name}.ready"),
           "go": str(workdir / "go")}
    path.write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.Popen([sys.executable, "-c", BOOT, str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen[bytes], timeout: float = DEADLINE) -> None:
    try:
        _out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=10)
        raise AssertionError("a worker process did not finish in time") from None
    assert proc.returncode == 0, err.decode()[-3000:]


def _run_once(cfg: dict[str, Any], workdir: Path, name: str) -> dict[str, Any]:
    proc = _run(cfg, workdir, name)
    _finish(proc)
    result: dict[str, Any] = json.loads((workdir / f"{name}.out").read_text())
    return result


def race_in_processes(db_settings: dict[str, Any], pk: int, processes: int, threads: int,
                      workdir: Path) -> list[dict[str, Any]]:
    """Start the workers, wait until each is ready, then let them all go at once."""
    (workdir / "go").unlink(missing_ok=True)
    cfg = {"db": db_settings, "mode": "race", "pk": pk, "threads": threads}
    names = [f"race-{time.monotonic_ns()}-{i}" for i in range(processes)]
    procs = [_run(cfg, workdir, name) for name in names]
    try:
        deadline = time.monotonic() + DEADLINE
        while not all((workdir / f"{name}.ready").exists() for name in names):
            if time.monotonic() > deadline or any(p.poll() not in (None, 0) for p in procs):
                raise AssertionError("worker processes did not get ready")
            time.sleep(0.02)
        (workdir / "go").write_text("go")
        for proc in procs:
            _finish(proc)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=10)
    return [json.loads((workdir / f"{name}.out").read_text()) for name in names]


def _pg_settings() -> dict[str, Any]:
    keys = ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")
    return {key: db.settings_dict[key] for key in keys}


def _merge(reports: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    results: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for report in reports:
        assert report.get("alive", 0) == 0, report
        results.extend(report["results"])
        counts.update(report["signals"])
    return results, counts


@pytest.fixture
def race_connection(make_client: Any, make_connection: Any, user: Any, provider: Any) -> Any:
    client = make_client(base=provider.url)
    return make_connection(user, client, expires_in=-5)


# --- PostgreSQL ----------------------------------------------------------------------

pg = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _apply(marks: list[Any]) -> Any:
    def decorate(func: Any) -> Any:
        for mark in marks:
            func = mark(func)
        return func
    return decorate


@_apply(pg)
def test_16_threads_one_refresh_on_postgres(provider, race_connection):
    assert db.vendor == "postgresql"
    endpoint = RotatingTokenEndpoint("refresh-0", delay=0.5)
    provider.handle(TOKEN, endpoint)
    report = race(race_connection.pk, 16)
    assert report["alive"] == 0
    assert report["results"] == [{"token": "access-1"}] * 16
    assert len(provider.requests_to(TOKEN)) == 1
    assert (endpoint.issued, endpoint.rejected) == (1, 0)
    assert report["signals"] == {"token_refreshed": 1}
    row = Connection.objects.get(pk=race_connection.pk)
    assert (row.access_token, row.refresh_token) == ("access-1", "refresh-1")


@_apply(pg)
def test_threads_of_one_process_share_one_locked_attempt(provider, race_connection):
    """The other 15 threads wait for the first one's outcome instead of each taking the
    row lock in turn (which under a storm adds a transaction per waiting thread)."""
    endpoint = RotatingTokenEndpoint("refresh-0", delay=0.5)
    provider.handle(TOKEN, endpoint)
    report = race(race_connection.pk, 16)
    assert report["results"] == [{"token": "access-1"}] * 16
    assert report["row_locks"] == 1
    assert len(provider.requests_to(TOKEN)) == 1


@_apply(pg)
def test_4_processes_x_4_threads_one_refresh_on_postgres(provider, race_connection, tmp_path):
    endpoint = RotatingTokenEndpoint("refresh-0", delay=0.5)
    provider.handle(TOKEN, endpoint)
    reports = race_in_processes(_pg_settings(), race_connection.pk, 4, 4, tmp_path)
    results, counts = _merge(reports)
    assert results == [{"token": "access-1"}] * 16
    assert len(provider.requests_to(TOKEN)) == 1
    assert (endpoint.issued, endpoint.rejected) == (1, 0)
    assert counts == {"token_refreshed": 1}
    # One locked attempt per process; its other threads share that attempt's outcome.
    assert [report["row_locks"] for report in reports] == [1] * 4
    assert Connection.objects.get(pk=race_connection.pk).refresh_token == "refresh-1"


@_apply(pg)
def test_racing_dead_grant_asks_once_and_signals_once(provider, race_connection):
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant"}, delay=0.5))
    provider.default(TOKEN, Answer(200, token_body("should-not", "be-asked")))
    report = race(race_connection.pk, 8)
    assert len(provider.requests_to(TOKEN)) == 1
    assert all(r["reauth"] and r["error"] == InvalidGrant.__name__
               and r["code"] == "invalid_grant" for r in report["results"]), report
    assert report["signals"] == {"reauthorization_required": 1}
    row = Connection.objects.get(pk=race_connection.pk)
    assert (row.status, row.status_reason) == ("reauthorization_required", "invalid_grant")


@_apply(pg)
def test_racing_transient_failure_asks_once_and_changes_nothing(provider, race_connection):
    fields = ("access_token", "refresh_token", "status", "expires_at", "refresh_expires_at")
    before = Connection.objects.filter(pk=race_connection.pk).values_list(*fields).get()
    provider.queue(TOKEN, Answer(500, {"error": "server_error"}, delay=0.5))
    provider.default(TOKEN, Answer(200, token_body("should-not", "be-asked")))
    report = race(race_connection.pk, 8)
    assert len(provider.requests_to(TOKEN)) == 1
    assert all(r["retryable"] for r in report["results"]), report
    assert report["signals"] == {"refresh_failed": 1}
    assert Connection.objects.filter(pk=race_connection.pk).values_list(*fields).get() == before


@_apply(pg)
def test_lock_wait_is_bounded(provider, race_connection, settings):
    """A refresh stuck longer than EULER_OAUTH_LOCK_TIMEOUT: waiters give up, retryably."""
    settings.EULER_OAUTH_LOCK_TIMEOUT = 0.5
    endpoint = RotatingTokenEndpoint("refresh-0", delay=2.0)
    provider.handle(TOKEN, endpoint)
    started = time.monotonic()
    report = race(race_connection.pk, 4)
    winners = [r for r in report["results"] if "token" in r]
    losers = [r for r in report["results"] if "error" in r]
    assert winners == [{"token": "access-1"}]
    assert len(losers) == 3 and all(r["retryable"] for r in losers), report
    assert endpoint.issued == 1 and time.monotonic() - started < 10


# --- SQLite (file database, worker processes) -------------------------------------

def test_sqlite_file_threads_and_processes_one_refresh(provider):
    endpoint = RotatingTokenEndpoint("refresh-0", delay=0.3)
    provider.handle(TOKEN, endpoint)
    with tempfile.TemporaryDirectory(prefix="euler-sqlite-race-") as tmp:
        workdir = Path(tmp)
        sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(workdir / "race.db"),
                  "OPTIONS": {"timeout": 30}}
        pk = _run_once({"db": sqlite, "mode": "setup", "provider": provider.url}, workdir,
                       "setup")["pk"]
        # Threads in one process.
        results, counts = _merge(race_in_processes(sqlite, pk, 1, 8, workdir))
        assert results == [{"token": "access-1"}] * 8
        assert counts == {"token_refreshed": 1}
        assert (endpoint.issued, endpoint.rejected) == (1, 0)
        # Expire it again; now two processes of four threads each.
        _run_once({"db": sqlite, "mode": "expire", "pk": pk}, workdir, "expire")
        results, counts = _merge(race_in_processes(sqlite, pk, 2, 4, workdir))
        assert results == [{"token": "access-2"}] * 8
        assert counts == {"token_refreshed": 1}
        assert (endpoint.issued, endpoint.rejected) == (2, 0)
        assert [r.form["refresh_token"] for r in provider.requests_to(TOKEN)] == [
            "refresh-0", "refresh-1"]
