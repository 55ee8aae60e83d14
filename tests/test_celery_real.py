"""The Celery tasks on a real broker, with real worker processes (PostgreSQL, -m postgres).

Debian's ``redis-server`` on loopback (runtests.py installs and starts it; here a
fresh one per test, see tests/support/celery_support.py), ``celery worker`` processes
(prefork) configured as the README's "Celery" section recommends (acks_late,
reject_on_worker_lost, prefetch multiplier 1, time limits; a short Redis
``visibility_timeout`` so a redelivery after a crash comes within the test), and
the sandbox provider in its own server process, rotating refresh tokens and
answering ``invalid_grant`` to a used one. Proven:

- ``refresh_expiring`` over 2,000 expiring connections refreshes each exactly
  once (the sandbox counts every token request), every stored token is live;
- the same chunk delivered twice is harmless: no connection refreshed twice;
- a pool process killed with SIGKILL, and then a whole worker (main process and
  pool) killed with SIGKILL mid-chunk, leave nothing behind: every connection not
  in flight at a kill ends refreshed (redelivery, or the next scheduled run), the
  few in flight (at most the pool's concurrency per kill) end refreshed or
  visibly ``reauthorization_required`` with the signal sent; none is left active
  with a token the provider has retired;
- a broker restart mid-run recovers: every connection refreshed exactly once.

Every wait has a deadline; every process started here is stopped at the end.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from django.utils import timezone

from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox import controls
from django_euler_oauth.sandbox.models import AccessToken, RefreshToken, token_hash

from .support.celery_support import RedisServer, WorkerPool, redis_server_path
from .support.sandbox_fixtures import SANDBOX_DATABASES, TEST_SECRET

celery = pytest.importorskip("celery")

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)]

VISIBILITY_TIMEOUT = 4.0  # seconds before Redis hands an unacknowledged task out again
DEADLINE = 120.0  # the longest any phase may take before the test fails


def _missing(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what}: CI must run the Celery tests (runtests.py installs it)")
    pytest.skip(f"{what}: the real-broker Celery tests need it")


@pytest.fixture
def redis_broker() -> Iterator[RedisServer]:
    try:
        import redis  # noqa: F401
    except ImportError:
        _missing("the redis Python package is not installed")
    if not redis_server_path():
        _missing("redis-server is not installed")
    server = RedisServer()
    try:
        yield server
    finally:
        server.stop()


class Stack:
    """Broker, sandbox server, producer app and the worker pools of one test."""

    def __init__(self, workdir: Path, broker: RedisServer) -> None:
        from bench.populate import expiring_connections
        from django_euler_oauth.sandbox.setup import ensure_demo_client

        from .support.celery_app import make_app
        from .support.load_server import ServerGroup

        self.workdir = workdir
        self.broker = broker
        self.databases = {alias: {key: connections[alias].settings_dict[key]
                                  for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST",
                                              "PORT")}
                          for alias in SANDBOX_DATABASES}
        self.events = workdir / "events"
        self.events.mkdir()
        self.pools: list[WorkerPool] = []
        self.sandbox = ServerGroup(workdir, self.databases, processes=1, threads=16,
                                   name="sandbox")
        self.sandbox_client, self.oauth = ensure_demo_client(
            self.sandbox.url + "/sandbox", redirect_uris=["http://testserver/cb"],
            slug="celery", client_id="celery-client", client_secret=TEST_SECRET,
            scopes="webcast:fetch", fetch_userinfo=False)
        self._populate = expiring_connections
        self.app = make_app(broker.url, VISIBILITY_TIMEOUT)
        self._previous = celery._state.get_current_app()
        self.app.set_current()
        self.app.set_default()

    def populate(self, count: int) -> list[int]:
        self._populate(count, self.sandbox_client, self.oauth)
        controls.reset_counts()
        return list(Connection.objects.order_by("pk").values_list("pk", flat=True))

    def pool(self, name: str, concurrency: int = 2) -> WorkerPool:
        pool = WorkerPool(self.workdir, broker_url=self.broker.url, databases=self.databases,
                          concurrency=concurrency, name=name,
                          visibility_timeout=VISIBILITY_TIMEOUT, events=self.events,
                          settings={"EULER_OAUTH_HTTP_TIMEOUT": 10.0})
        self.pools.append(pool)
        pool.wait_ready(self.app)
        return pool

    def close(self) -> None:
        for pool in self.pools:
            pool.stop()
        self.sandbox.stop()
        self._previous.set_current()
        self._previous.set_default()

    # -- observing ---------------------------------------------------------------

    def queued(self) -> int:
        """Messages waiting in the queue or delivered and not yet acknowledged."""
        import redis

        client = redis.Redis.from_url(self.broker.url, socket_timeout=2)
        try:
            return int(client.llen("celery")) + int(client.hlen("unacked"))
        except redis.RedisError:
            return -1  # the broker is down: not drained
        finally:
            client.close()

    def signals(self) -> list[dict[str, Any]]:
        lines: list[dict[str, Any]] = []
        for path in sorted(self.events.glob("events-*.jsonl")):
            lines.extend(json.loads(line) for line in path.read_text().splitlines() if line)
        return lines

    def wait(self, done: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
        began = time.monotonic()
        deadline = began + timeout
        while not done():
            for pool in self.pools:
                if pool.process.poll() is not None and pool.process.returncode not in (
                        -signal.SIGKILL, 0):
                    pytest.fail(f"worker {pool.name} exited: {pool.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f} s; "
                            f"{self.outcome()}; queued {self.queued()}; "
                            + " | ".join(pool.log_tail(800) for pool in self.pools))
            time.sleep(0.2)
        print(f"[celery-test] {what}: {time.monotonic() - began:.1f} s", flush=True)

    def outcome(self) -> Counter[str]:
        """How the connections stand: refreshed, pending (still the old token), or dead."""
        counts: Counter[str] = Counter()
        for status, refreshed_at in Connection.objects.values_list("status", "refreshed_at"):
            if status != "active":
                counts[status] += 1
            else:
                counts["refreshed" if refreshed_at else "pending"] += 1
        return counts

    def settled(self) -> bool:
        return self.outcome()["pending"] == 0 and self.queued() == 0

    def assert_tokens_live(self) -> None:
        """Each active connection holds tokens the provider says are current and unused."""
        now = timezone.now()
        live_access = set(AccessToken.objects.filter(revoked_at__isnull=True, expires_at__gt=now)
                          .values_list("token_hash", flat=True))
        live_refresh = set(RefreshToken.objects.filter(revoked_at__isnull=True,
                                                       used_at__isnull=True)
                           .values_list("token_hash", flat=True))
        broken = [row.pk for row in Connection.objects.filter(status="active")
                  if token_hash(row.access_token) not in live_access
                  or token_hash(row.refresh_token) not in live_refresh]
        assert not broken, f"{len(broken)} active connections hold retired tokens: {broken[:10]}"


@pytest.fixture
def stack(tmp_path: Path, redis_broker: RedisServer) -> Iterator[Stack]:
    assert connections["default"].vendor == "postgresql"
    built = Stack(tmp_path, redis_broker)
    try:
        yield built
    finally:
        built.close()


def _refresh_expiring(stack: Stack, chunk_size: int, threads: int = 1) -> None:
    from django_euler_oauth import tasks

    tasks.refresh_expiring.delay(within=900, chunk_size=chunk_size, threads=threads)


def test_refresh_expiring_refreshes_each_connection_exactly_once(stack):
    pks = stack.populate(2000)
    controls.set_latency(5, "token")
    stack.pool("w1", concurrency=2)
    stack.pool("w2", concurrency=2)
    # Each chunk with 4 refreshes in flight (threads): still exactly once each.
    _refresh_expiring(stack, chunk_size=100, threads=4)
    stack.wait(stack.settled, "every connection refreshed")
    assert stack.outcome() == {"refreshed": len(pks)}
    assert controls.call_count("token") == len(pks)  # exactly one refresh each
    refreshed = Counter(e["pk"] for e in stack.signals() if e["signal"] == "token_refreshed")
    assert set(refreshed) == set(pks) and set(refreshed.values()) == {1}
    assert not [e for e in stack.signals() if e["signal"] != "token_refreshed"]
    stack.assert_tokens_live()
    # The next scheduled run finds nothing to do.
    _refresh_expiring(stack, chunk_size=100)
    stack.wait(lambda: stack.queued() == 0, "an idle run drained")
    assert controls.call_count("token") == len(pks)


def test_duplicate_delivery_of_a_chunk_is_harmless(stack):
    from django_euler_oauth import tasks

    pks = stack.populate(200)
    controls.set_latency(5, "token")
    stack.pool("w1", concurrency=2)
    stack.pool("w2", concurrency=2)
    for start in range(0, len(pks), 50):
        chunk = pks[start:start + 50]
        for _copy in range(2):  # the same chunk twice, to run at the same time
            tasks.refresh_connections.delay(chunk, within=900)
    stack.wait(stack.settled, "every connection refreshed")
    assert stack.outcome() == {"refreshed": len(pks)}
    assert controls.call_count("token") == len(pks)
    refreshed = Counter(e["pk"] for e in stack.signals() if e["signal"] == "token_refreshed")
    assert set(refreshed.values()) == {1} and len(refreshed) == len(pks)
    stack.assert_tokens_live()


def test_sigkill_of_pool_process_and_whole_worker_leaves_nothing_behind(stack):
    pks = stack.populate(400)
    controls.set_latency(30, "token")
    concurrency = 2
    first = stack.pool("w1", concurrency=concurrency)
    _refresh_expiring(stack, chunk_size=20)

    # 1. One pool process dies mid-chunk: the main process re-queues its task at once.
    stack.wait(lambda: controls.call_count("token") >= 60, "the run under way")
    children = first.children()
    assert children, "no pool processes"
    os.kill(children[0], signal.SIGKILL)

    # 2. The whole worker (main process and pool) dies mid-chunk: nothing acknowledges
    # its tasks, and Redis hands them out again after the visibility timeout.
    stack.wait(lambda: controls.call_count("token") >= 160, "the run resumed")
    first.kill()
    killed_at = controls.call_count("token")
    assert killed_at < len(pks) - 40, "the kill came too late to prove anything"
    stack.pool("w2", concurrency=concurrency)
    stack.wait(stack.settled, "every connection refreshed after the kills")

    # The next scheduled run: whatever a crash might have left is picked up now.
    _refresh_expiring(stack, chunk_size=20)
    stack.wait(lambda: stack.queued() == 0 and stack.settled(), "the next run drained")

    outcome = stack.outcome()
    dead = set(Connection.objects.filter(status="reauthorization_required")
               .values_list("pk", flat=True))
    # Only connections in flight at a kill can have lost their rotated refresh token.
    assert outcome["refreshed"] + len(dead) == len(pks), outcome
    assert len(dead) <= 2 * concurrency, outcome
    events = stack.signals()
    told = {e["pk"] for e in events if e["signal"] == "reauthorization_required"}
    assert dead <= told, "a connection went dead without the signal"
    refreshed = Counter(e["pk"] for e in events if e["signal"] == "token_refreshed")
    assert max(refreshed.values()) == 1 and set(refreshed) | dead == set(pks)
    # Each connection reached the provider once, the few in flight at most twice.
    assert len(pks) <= controls.call_count("token") <= len(pks) + 2 * concurrency
    stack.assert_tokens_live()


def test_broker_restart_mid_run_recovers(stack):
    pks = stack.populate(400)
    controls.set_latency(10, "token")
    stack.pool("w1", concurrency=2)
    _refresh_expiring(stack, chunk_size=20)
    stack.wait(lambda: controls.call_count("token") >= 100, "the run under way")
    stack.broker.restart(down_for=2.0)
    assert controls.call_count("token") < len(pks) - 40, "the restart came too late"

    def quiet() -> bool:
        return stack.settled() or (stack.queued() == 0 and _stalled())

    last = [controls.call_count("token"), time.monotonic()]

    def _stalled() -> bool:
        count = controls.call_count("token")
        if count != last[0]:
            last[:] = [count, time.monotonic()]
        return time.monotonic() - last[1] > 3 * VISIBILITY_TIMEOUT

    stack.wait(quiet, "the run went on after the restart")
    # The next scheduled run (a beat period later) finds whatever was not queued.
    _refresh_expiring(stack, chunk_size=20)
    stack.wait(stack.settled, "every connection refreshed after the restart")
    assert stack.outcome() == {"refreshed": len(pks)}
    assert controls.call_count("token") == len(pks)
    refreshed = Counter(e["pk"] for e in stack.signals() if e["signal"] == "token_refreshed")
    assert set(refreshed.values()) == {1} and len(refreshed) == len(pks)
    stack.assert_tokens_live()
