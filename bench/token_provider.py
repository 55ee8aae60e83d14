"""A lean OAuth token endpoint in its own process, for measuring *our* side of a refresh.

The sandbox provider is a Django site: each refresh costs it ~8 ms of CPU, more
than the refresh costs us, so on two cores it caps any refresh benchmark before
our code does. This server answers ``POST /tiktok/oauth/token`` (refresh grant)
with rotating tokens after ``latency_ms``, on HTTP/1.1 keep-alive, from a
thread per connection; ``GET /count`` returns how many refreshes it answered
``GET /cpu`` its CPU seconds and ``GET /connections`` how many TCP connections
it accepted (each ``get`` opens one). Loopback only.

Run as ``python -m bench.token_provider PORT LATENCY_MS``; :class:`TokenProvider`
starts and stops it.
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
from urllib.request import urlopen

from bench.serve import LoopbackProcess


class TokenProvider(LoopbackProcess):
    """The server below in a subprocess on 127.0.0.1; :meth:`stop` ends it."""

    def __init__(self, latency_ms: int) -> None:
        super().__init__("bench.token_provider", str(latency_ms))

    def ping(self) -> None:
        self.get("count")

    def get(self, what: str) -> float:
        with urlopen(f"{self.url}/{what}", timeout=5) as answer:  # loopback only
            return float(json.loads(answer.read())["value"])


def serve(port: int, latency_ms: int) -> None:
    counter = itertools.count(1)
    answered = [0]
    opened = [0]  # TCP connections accepted: shows whether clients reuse them
    lock = threading.Lock()
    delay = latency_ms / 1000

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else headers and body wait on delayed ACKs

        def log_message(self, *args: object) -> None:
            pass

        def setup(self) -> None:
            with lock:
                opened[0] += 1
            super().setup()

        def _send(self, status: int, body: dict[str, object]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/count":
                self._send(200, {"value": answered[0]})
            elif self.path == "/connections":
                self._send(200, {"value": opened[0]})
            elif self.path == "/cpu":
                usage = resource.getrusage(resource.RUSAGE_SELF)
                self._send(200, {"value": usage.ru_utime + usage.ru_stime})
            else:
                self._send(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), 65536)
            form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
            if form.get("grant_type", [""])[0] != "refresh_token":
                self._send(400, {"error": "unsupported_grant_type"})
                return
            if delay:
                time.sleep(delay)
            number = next(counter)
            with lock:
                answered[0] += 1
            self._send(200, {"access_token": f"bench-access-{number}",
                             "refresh_token": f"bench-refresh-{number}",
                             "token_type": "Bearer", "expires_in": 3600,
                             "scope": "webcast:fetch"})

    class Server(ThreadingHTTPServer):
        # A class attribute: the constructor calls listen() with it. (Set on the instance
        # afterwards it changed nothing: the backlog stayed 5, and a burst of connections
        # from 4 pool processes on a busy machine was refused.)
        request_queue_size = 256
        daemon_threads = True

    Server(("127.0.0.1", port), Handler).serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
