"""A real Redis broker and real Celery worker processes, on loopback, for tests and bench.

:class:`RedisServer` runs Debian's ``redis-server`` on 127.0.0.1 on a free port,
with an append-only file fsynced on every write (so a restart keeps the queues,
as a production broker would) in a temporary directory; :meth:`restart` stops
and starts it on the same port. :class:`WorkerPool` starts ``celery -A
tests.support.celery_app worker`` (prefork, ``concurrency`` pool processes) in its own
process group; :meth:`kill` sends SIGKILL to the whole group (main process and
pool processes at once, as an OOM kill or a lost machine would). Both are
stopped by ``stop()`` and, as a last resort, at interpreter exit. Every wait is
bounded.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


def redis_server_path() -> str | None:
    """runtests.py names the one it installed in ``EULER_REDIS_SERVER``."""
    named = os.environ.get("EULER_REDIS_SERVER")
    if named and os.path.exists(named):
        return named
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port>, persistent across :meth:`restart`
    (``durable``: every write fsynced, as a broker needs; a channel layer does not)."""

    def __init__(self, binary: str | None = None, *, durable: bool = True) -> None:
        self.durable = durable
        found = binary or redis_server_path()
        if not found:
            raise RuntimeError("redis-server is not installed")
        self.binary = found
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="euler-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.dir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", str(self.dir), "--save", "",
             *(["--appendonly", "yes", "--appendfsync", "always"] if self.durable
               else ["--appendonly", "no"]),
             "--protected-mode", "yes", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start; see {self.dir}/redis.log")
            time.sleep(0.05)

    def halt(self) -> None:
        """Stop the server (its data stays on disk for :meth:`start`)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def restart(self, down_for: float = 0.0) -> None:
        self.halt()
        time.sleep(down_for)
        self.start()

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


class WorkerPool:
    """One ``celery worker`` (prefork, ``concurrency`` processes) on ``broker_url``."""

    def __init__(self, workdir: Path, *, broker_url: str, databases: dict[str, Any],
                 concurrency: int = 2, name: str = "w1", visibility_timeout: float = 3600,
                 settings: dict[str, Any] | None = None, events: Path | None = None,
                 celery: dict[str, Any] | None = None,
                 settings_module: str = "tests.settings") -> None:
        self.workdir = workdir
        self.name = name
        config = {"broker_url": broker_url, "databases": databases,
                  "settings": settings or {}, "events": str(events) if events else None,
                  "visibility_timeout": visibility_timeout, "celery": celery or {}}
        path = workdir / f"celery-{name}.json"
        path.write_text(json.dumps(config))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
               "DJANGO_SETTINGS_MODULE": settings_module, "EULER_CELERY_CONFIG": str(path)}
        self.log_path = workdir / f"celery-{name}.log"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.support.celery_app", "worker",
             "--pool", "prefork", "--concurrency", str(concurrency), "--loglevel", "WARNING",
             "--hostname", f"{name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        atexit.register(self.kill)

    def children(self) -> list[int]:
        """Pids of the pool processes (the main process's children)."""
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def wait_ready(self, app: Any, timeout: float = START_TIMEOUT) -> None:
        """Until the worker answers a ping over the broker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited; see {self.log_path}:\n"
                                   + self.log_tail())
            with contextlib.suppress(Exception):
                replies = app.control.ping(destination=[f"{self.name}@{socket.gethostname()}"],
                                           timeout=0.5)
                if replies:
                    return
        raise RuntimeError(f"celery worker not ready in {timeout:.0f} s:\n" + self.log_tail())

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the main process and every pool process at once."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=15)

    def stop(self, timeout: float = 20.0) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it takes longer than ``timeout``."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
