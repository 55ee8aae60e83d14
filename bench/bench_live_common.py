"""Shared pieces of the LIVE events figures (bench/bench_live_*.py): rooms, relay processes,
a Redis for the channel layer, and a process's memory and CPU read from /proc.

Not a figure of its own (bench/run.py does not run it).
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT

API_KEY = "bench-live-api-key"
#: The channel layer of a real deployment, as the docs configure it.
REDIS_CONFIG_KEY = "BENCH_CHANNEL_REDIS"


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.05,
               ) -> bool:
    """Poll ``predicate()`` until it is true or ``timeout`` seconds pass (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` now (VmRSS), KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) ``pid`` has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit(needed: int) -> int:
    """Raise this process's soft limit of open files towards ``needed`` (children inherit
    it); the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def redis_server() -> Any:
    """A ``redis-server`` on loopback as a channel layer runs it, or None when not installed.

    Like bench_celery's broker (tests/support/celery_support.py) but in memory only: a
    channel layer keeps nothing worth an append-only file fsynced on every write."""
    from tests.support.celery_support import RedisServer, redis_server_path

    if not redis_server_path():
        return None

    return RedisServer(durable=False)


def redis_layer_config(url: str) -> dict[str, Any]:
    """channels_redis's CONFIG, as the docs tell sites (no read timeout on the socket)."""
    return {"hosts": [{"address": url, "socket_timeout": None}]}


def live_client(websocket_url: str, slug: str = "bench-live") -> Any:
    """An OAuth client whose rooms are served by the Euler-speaking server at
    ``websocket_url`` (its HTTP endpoints are never called here)."""
    from bench.site import make_client

    return make_client("http://127.0.0.1:9", slug=slug, api_key=API_KEY,
                       websocket_url=websocket_url)


def make_rooms(owner: Any, client: Any, handles: list[str]) -> list[Any]:
    """One active connection of ``owner`` per TikTok handle (bulk-inserted), not listened
    to yet; in the order of ``handles``."""
    from django.utils import timezone

    from django_euler_oauth.models import Connection

    now = timezone.now()
    hours = datetime.timedelta(hours=1)
    made = Connection.objects.bulk_create([
        Connection(user=owner, client=client, access_token=f"bench-live-access-{handle}",
                   refresh_token=f"bench-live-refresh-{handle}", scope="webcast:fetch",
                   expires_at=now + 6 * hours,
                   refresh_expires_at=now + 720 * hours,
                   external_id=f"uid-{handle}", external_username=handle)
        for handle in handles], batch_size=500)
    by_handle = {c.external_username: c for c in Connection.objects.filter(
        client=client, external_username__in=[c.external_username for c in made])}
    return [by_handle[handle] for handle in handles]


def listen(connections: list[Any]) -> None:
    """``live.start`` for each, in one transaction (the accounts page's button, in bulk)."""
    from django.db import transaction

    from django_euler_oauth import live

    with transaction.atomic():
        for connection in connections:
            live.start(connection)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process of the bench site (relay, ASGI server)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "bench.settings", **extra}


class Child:
    """A process of the figure (in its process group, so a runner's timeout ends it too),
    its output in a log file; killed at exit at the latest."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str],
                 stdin: int | None = subprocess.DEVNULL) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, stdin=stdin)
        atexit.register(self.kill)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def terminate(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit status."""
        if self.alive():
            self.process.terminate()
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        return self.process.returncode

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


def relay_process(name: str, log: Path, *, tick: float = 2.0, **env: str) -> Child:
    """``manage.py euler_oauth_live`` of the bench site, as a deployment runs it."""
    return Child([sys.executable, "-m", "django", "euler_oauth_live", "--name", name,
                  "--tick", str(tick)], log, child_env(**env))


def workdir() -> Path:
    path = Path(os.environ.get("BENCH_DIR", "/tmp/euler-bench"))
    path.mkdir(parents=True, exist_ok=True)
    return path
