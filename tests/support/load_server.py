"""Serving the test project from several worker processes on one loopback port.

:class:`ServerGroup` starts ``processes`` interpreters, each a pooled WSGI
server (``threads`` threads, like gunicorn's gthread workers) bound to the same
127.0.0.1 port with ``SO_REUSEPORT``, so the kernel spreads connections over
the processes as it would over a pre-forked server's workers. Each worker uses
the PostgreSQL test databases named in its configuration, answers with an
``X-Served-By`` header (its pid), and appends every signal of
``django_euler_oauth.signals`` it sends to ``events-<pid>.jsonl`` (signal name
and connection pk, never a token).

Run as ``python -m tests.support.load_server CONFIG.json``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
SIGNAL_NAMES = ("connected", "token_refreshed", "refresh_failed", "reauthorization_required",
                "disconnected")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerGroup:
    """``processes`` workers serving the test project on one port; :meth:`stop` ends them."""

    def __init__(self, workdir: Path, databases: dict[str, dict[str, Any]], *,
                 processes: int = 3, threads: int = 8, name: str = "site",
                 settings: dict[str, Any] | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.processes: list[subprocess.Popen[bytes]] = []
        config = {"port": self.port, "threads": threads, "databases": databases,
                  "events": str(workdir), "settings": settings or {}}
        path = workdir / f"{name}.json"
        path.write_text(json.dumps(config))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
               "DJANGO_SETTINGS_MODULE": "tests.settings"}
        for index in range(processes):
            log = (workdir / f"{name}-{index}.log").open("wb")
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "tests.support.load_server", str(path)], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT))
            log.close()
        try:
            self._wait_ready(processes)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, processes: int) -> None:
        # Each worker answers once it is set up; ask until every pid has been seen.
        import requests

        seen: set[str] = set()
        deadline = time.monotonic() + START_TIMEOUT
        while len(seen) < processes:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(seen)} of {processes} workers answered within "
                                   f"{START_TIMEOUT:.0f} s; see {self.workdir}")
            if any(proc.poll() is not None for proc in self.processes):
                raise RuntimeError(f"a worker exited while starting; see {self.workdir}")
            try:
                answer = requests.get(self.url + "/untouched/", timeout=2,
                                      headers={"Connection": "close"})
                seen.add(answer.headers.get("X-Served-By", ""))
            except requests.RequestException:
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pids(self) -> set[str]:
        return {str(proc.pid) for proc in self.processes}

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def crashed(self) -> list[int]:
        """Exit codes of workers that died while they should be serving."""
        return [code for code in (proc.poll() for proc in self.processes) if code is not None]


# --- inside a worker process ------------------------------------------------------------

def _record_signals(events: Path) -> None:
    from django_euler_oauth import signals

    path = events / f"events-{os.getpid()}.jsonl"
    lock = threading.Lock()

    def receiver_for(name: str) -> Any:
        def receiver(sender: Any, connection: Any, **kwargs: Any) -> None:
            line = {"signal": name, "pk": connection.pk, "user": connection.user_id}
            for key in ("created", "revoked_remotely", "reason"):
                if key in kwargs:
                    line[key] = kwargs[key]
            with lock, path.open("a") as out:
                out.write(json.dumps(line) + "\n")
        return receiver

    for name in SIGNAL_NAMES:
        getattr(signals, name).connect(receiver_for(name), weak=False,
                                       dispatch_uid=f"load-{name}")


def serve(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    import django
    from django.conf import settings

    for alias, db in config["databases"].items():
        settings.DATABASES[alias] = db
    for key, value in config["settings"].items():
        setattr(settings, key, value)
    django.setup()
    _record_signals(Path(config["events"]))

    from django.core.handlers.wsgi import WSGIHandler

    from .pooled_server import pooled_server

    pid = str(os.getpid()).encode()
    django_app = WSGIHandler()

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, ("X-Served-By", pid.decode())], exc_info)
        return django_app(environ, start)

    # No keep-alive: one request per connection, so the kernel spreads them over the
    # workers sharing the port and no idle socket holds a pool thread.
    server = pooled_server(int(config["port"]), app, threads=int(config["threads"]),
                           keep_alive=False, reuse_port=True, queue_size=512)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        server.pool.shutdown(wait=True, cancel_futures=True)
        from django.db import connections
        connections.close_all()


if __name__ == "__main__":
    serve(sys.argv[1])
