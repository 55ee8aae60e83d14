"""A raw TCP (or TLS) server on 127.0.0.1 for provider answers no HTTP server would send.

Each accepted connection runs ``script(link)``: read whole requests, send any bytes
(trickled, truncated, chunked, interim answers, a hang-up). The server counts the
connections it accepted, the requests it read and the bytes it sent; every wait is
bounded (``WAIT``), and :meth:`RawServer.stop` checks that its threads have ended.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WAIT = 5.0  # the longest any server thread waits for anything


class Link:
    """One accepted connection, seen from the server: read requests, send bytes."""

    def __init__(self, server: RawServer, sock: socket.socket) -> None:
        self.server, self.sock, self.buf = server, sock, b""

    def _recv(self) -> bytes:
        """Some bytes; b"" at the end of the stream, when the server stops, or after 5 s."""
        give_up = time.monotonic() + WAIT
        self.sock.settimeout(0.1)
        while not self.server.stopped.is_set() and time.monotonic() < give_up:
            try:
                return self.sock.recv(65536)
            except TimeoutError:
                continue
        return b""

    def request(self) -> bytes | None:
        """The next whole request (head and Content-Length body), None when none comes."""
        while b"\r\n\r\n" not in self.buf:
            data = self._recv()
            if not data:
                return None
            self.buf += data
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            data = self._recv()
            if not data:
                return None
            rest += data
        self.buf = rest[length:]
        request = head + b"\r\n\r\n" + rest[:length]
        with self.server.lock:
            self.server.requests.append(request)
            self.server.served += 1
        return request

    def send(self, data: bytes) -> None:
        self.sock.settimeout(WAIT)
        self.sock.sendall(data)
        with self.server.lock:
            self.server.sent += len(data)


Script = Callable[[Link], None]


class RawServer:
    """Accepts TCP (or TLS) connections on loopback; ``script(link)`` runs for each one."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script, self.tls = script, tls
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.accepted = 0  # TCP connections
        self.served = 0  # requests read, over all connections
        self.sent = 0  # bytes sent, over all connections
        self.requests: list[bytes] = []
        self.ended = threading.Semaphore(0)  # released as each connection's script ends
        self.socks: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True, name="raw-server")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                sock, _addr = self.listener.accept()
            except OSError:
                continue
            thread = threading.Thread(target=self._run, args=(sock,), daemon=True,
                                      name="raw-server-conn")
            with self.lock:
                self.accepted += 1
                self.socks.append(sock)
                self.threads.append(thread)
            thread.start()

    def _run(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock.settimeout(WAIT)
                sock = self.tls.wrap_socket(sock, server_side=True)
            self.script(Link(self, sock))
        except OSError:
            pass  # the client hung up or refused the certificate: what some tests want
        finally:
            sock.close()
            self.ended.release()

    def wait_ended(self, count: int = 1) -> None:
        """Wait until ``count`` connection scripts have ended (and closed their socket)."""
        for _ in range(count):
            assert self.ended.acquire(timeout=WAIT), "a server connection did not end"

    def stop(self) -> None:
        self.stopped.set()
        try:  # wakes the accepting thread at once (Linux); it also checks every 0.1 s
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(WAIT)
        self.listener.close()
        with self.lock:
            socks, threads = list(self.socks), list(self.threads)
        for sock in socks:
            try:  # wakes a script blocked on its socket (also under TLS)
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(WAIT)
        alive = [t for t in [self.thread, *threads] if t.is_alive()]
        assert not alive, f"{len(alive)} server threads still running"


@contextmanager
def raw_servers() -> Iterator[Callable[..., RawServer]]:
    """``make(script, tls=None)`` makes a started server; all are stopped on exit."""
    servers: list[RawServer] = []

    def make(script: Script, tls: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(script, tls)
        servers.append(server)
        return server

    try:
        yield make
    finally:
        for server in servers:
            server.stop()


def token_json(access: str = "access-1", refresh: str = "refresh-1") -> bytes:
    return json.dumps({"access_token": access, "refresh_token": refresh,
                       "token_type": "Bearer", "expires_in": 3600,
                       "scope": "webcast:fetch"}).encode()


def answer(body: bytes, *, status: str = "200 OK", version: str = "HTTP/1.1",
           headers: tuple[str, ...] = ()) -> bytes:
    """A whole HTTP answer: JSON ``body`` with its Content-Length, and ``headers``."""
    lines = [f"{version} {status}", "Content-Type: application/json",
             f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def keep_alive(respond: Callable[[int], bytes], *, most: int = 10) -> Script:
    """Answer up to ``most`` requests on each connection; ``respond(n)`` for the server's
    n-th request (counted from 1 over all connections). The server never closes first."""
    def script(link: Link) -> None:
        for _ in range(most):
            if link.request() is None:
                return
            link.send(respond(link.server.served))
    return script


def numbered(n: int) -> bytes:
    """A token answer with ``access-n``/``refresh-n``."""
    return answer(token_json(f"access-{n}", f"refresh-{n}"))


def answering(script: Script) -> Script:
    """``script`` run once the request is read (nothing sent if none comes)."""
    def run(link: Link) -> None:
        if link.request() is not None:
            script(link)
    return run


def response_head(length: int | None, ctype: str = "application/json", status: str = "200 OK",
                  extra: str = "") -> bytes:
    """The status line and headers of an answer; chunked when ``length`` is None."""
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {ctype}", "Connection: close"]
    if length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {length}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()
