"""A scripted HTTP server on 127.0.0.1 that stands in for a misbehaving provider.

Tests queue answers per path (status, JSON or raw body, headers, delay, or a
connection reset) and read back every request it received. Real sockets, real
``requests`` responses: nothing inside the library is patched.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclasses.dataclass
class Answer:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> raw
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False  # close the socket without answering
    truncate: bool = False  # promise more bytes than sent, then close


@dataclasses.dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            data = json.loads(self.body or b"{}")
            return {k: str(v) for k, v in data.items()}
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


class ScriptedProvider:
    def __init__(self) -> None:
        self.answers: dict[str, deque[Answer]] = defaultdict(deque)
        self.defaults: dict[str, Answer] = {}
        # Per-path callables computing an answer from the request (queued answers win).
        self.handlers: dict[str, Callable[[Received], Answer]] = {}
        self.received: list[Received] = []
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                received = Received(self.command, parts.path, parse_qs(parts.query),
                                    {k: v for k, v in self.headers.items()}, body)
                with provider._lock:
                    provider.received.append(received)
                    queue = provider.answers.get(parts.path)
                    answer = queue.popleft() if queue else None
                    handler = provider.handlers.get(parts.path)
                if answer is None:
                    # Handlers run outside the lock: they may sleep or keep their own state.
                    answer = handler(received) if handler else provider.defaults.get(
                        parts.path, Answer(404, {"error": "not_found"}))
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.reset:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.close()
                    self.close_connection = True
                    return
                if isinstance(answer.body, (dict, list)):
                    payload = json.dumps(answer.body).encode()
                    ctype = "application/json"
                elif isinstance(answer.body, bytes):
                    payload, ctype = answer.body, "application/octet-stream"
                else:
                    payload = (answer.body or "").encode()
                    ctype = "text/html; charset=utf-8"
                self.send_response(answer.status)
                headers = {"Content-Type": ctype, **answer.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                claimed = len(payload) * 2 + 10 if answer.truncate else len(payload)
                self.send_header("Content-Length", str(claimed))
                self.end_headers()
                self.wfile.write(payload)
                if answer.truncate:
                    self.wfile.flush()
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # Faults (resets, truncation) break connections on purpose: no tracebacks for them.
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"  # bound to 127.0.0.1 above

    def start(self) -> ScriptedProvider:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def queue(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self.answers[path].extend(answers)

    def default(self, path: str, answer: Answer) -> None:
        self.defaults[path] = answer

    def handle(self, path: str, handler: Callable[[Received], Answer]) -> None:
        """Answer ``path`` with ``handler(request)`` whenever no queued answer is left."""
        self.handlers[path] = handler

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]


def token_body(access: str = "access-1", refresh: str = "refresh-1", *, expires_in: int = 3600,
               scope: str = "webcast:fetch", envelope: bool = False, **extra: Any) -> dict:
    """A token answer, flat as documented or in the live service's envelope."""
    data = {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": expires_in, **extra}
    if envelope:
        data["scopes"] = scope.split()
        return {"code": 200, "message": "OK", "data": data}
    data["scope"] = scope
    return data


class RotatingTokenEndpoint:
    """A token endpoint that rotates refresh tokens like Euler Stream does.

    ``provider.handle("/tiktok/oauth/token", endpoint)``. Each refresh token is
    single use: presenting the current one returns ``access-N``/``refresh-N`` and
    retires it; presenting any other (a reused, rotated-away token) answers
    ``invalid_grant``, so a refresh race shows up as a dead connection. Several
    connections may be tracked at once: ``current`` maps each live refresh token
    to its successor's number. ``delay`` makes each answer slow.
    """

    def __init__(self, *initial: str, delay: float = 0.0, expires_in: int = 3600,
                 prefix: str = "", with_refresh_token: bool = True) -> None:
        self._lock = threading.Lock()
        self.live: set[str] = set(initial)
        self.delay = delay
        self.expires_in = expires_in
        self.prefix = prefix
        self.with_refresh_token = with_refresh_token
        self.issued = 0
        self.rejected = 0
        self.used: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def __call__(self, request: Received) -> Answer:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return self._answer(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _answer(self, request: Received) -> Answer:
        form = request.form
        if self.delay:
            time.sleep(self.delay)
        if form.get("grant_type") != "refresh_token":
            return Answer(400, {"error": "unsupported_grant_type",
                                "error_description": "refresh_token only"})
        presented = form.get("refresh_token", "")
        with self._lock:
            if presented not in self.live:
                self.rejected += 1
                return Answer(400, {"error": "invalid_grant",
                                    "error_description": "Refresh token invalid or used"})
            self.live.discard(presented)
            self.used.append(presented)
            self.issued += 1
            number = self.issued
            new_refresh = f"{self.prefix}refresh-{number}"
            if self.with_refresh_token:
                self.live.add(new_refresh)
            else:
                self.live.add(presented)  # provider keeps the old one valid
        body = token_body(f"{self.prefix}access-{number}",
                          new_refresh if self.with_refresh_token else "",
                          expires_in=self.expires_in)
        if not self.with_refresh_token:
            body.pop("refresh_token")
        return Answer(200, body)
