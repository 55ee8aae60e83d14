"""Serving the bench project (with the sandbox provider) on loopback, in a subprocess.

A fixed pool of threads answers requests (tests/support/pooled_server.py), with
keep-alive, as gunicorn's gthread workers would; Django's runserver would open
a new database connection per request and measure that instead of the provider.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LoopbackProcess:
    """``python -m MODULE PORT ARGS...`` on a free 127.0.0.1 port; :meth:`stop` ends it."""

    def __init__(self, module: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, str(self.port), *args], cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.ping()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{module} did not start within 30 s")

    def ping(self) -> None:
        """Raises OSError until the server answers."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
            pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class Server(LoopbackProcess):
    """The pooled bench project server below, with ``threads`` worker threads."""

    def __init__(self, threads: int = 32) -> None:
        super().__init__("bench.serve", str(threads),
                         env={"DJANGO_SETTINGS_MODULE": "bench.settings"})


def serve(port: int, threads: int) -> None:
    from bench.common import setup_django

    setup_django()
    from django.core.handlers.wsgi import WSGIHandler

    from tests.support.pooled_server import pooled_server

    pooled_server(port, WSGIHandler(), threads=threads, keep_alive=True).serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
