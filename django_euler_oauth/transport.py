"""Reading the provider's answers within a deadline and a size limit.

``EULER_OAUTH_HTTP_TIMEOUT`` given to ``requests`` bounds each socket operation,
not the answer: a provider sending one byte every few seconds could hold a
refresh (and the connection's lock) for as long as it liked, and a huge answer
was read whole into memory. :func:`read_body` reads a streamed answer in
chunks against a monotonic deadline and a byte limit, and checks the body
against its ``Content-Length`` (``urllib3`` 1.26 accepts a short body).

The deadline is enforced by :data:`watchdog`, one daemon thread that shuts down
the socket of an answer still being read when its deadline passes (a blocked
``recv`` returns at once), so no read, however the bytes trickle in, outlives it.
It holds in every phase of a call made within a :class:`RequestPhase`:

- name resolution and connect: a new connection of the provider's pools
  (:class:`DeadlineHTTPConnection`) connects within what is left of the budget,
  and fails at once (``ConnectTimeoutError``, which ``requests`` raises as a
  timeout) when the deadline has passed by the time its socket exists (a
  resolver slower than the whole timeout: ``getaddrinfo`` itself cannot be cut
  short); otherwise the new socket is watched from that moment, before any TLS
  handshake;
- sending and waiting for the status line and headers: the connection taken from
  the pool (:class:`_DeadlinePool`) and its socket are watched;
- the body: :func:`read_body` watches the socket it reads from.

Nothing here keeps what was sent: :func:`forget_request` drops the request body
and credentials headers from the ``PreparedRequest`` a response (and any error
carrying it) refers to.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import os
import socket
import threading
import time
import zlib
from typing import Any

import requests
import urllib3
import urllib3.connection
import urllib3.exceptions

from .errors import BodyError

CHUNK = 64 * 1024
REDACTED = "[redacted]"
_CREDENTIAL_HEADERS = frozenset({"authorization", "x-oauth-token", "x-api-key", "cookie",
                                 "proxy-authorization"})


class _Watchdog:
    """One thread shutting down the sockets of answers that overran their deadline."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked child has neither the parent's thread nor a usable lock state.
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, list[Any]]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, sock: Any) -> list[Any]:
        """Shut ``sock`` down at ``deadline`` unless :meth:`cancel` comes first.

        ``sock`` is a socket, or a urllib3 connection whose ``sock`` is read when the
        deadline passes (it may connect after being watched).
        """
        entry: list[Any] = [sock, False]  # the socket or connection (None once done), fired
        with self._cond:
            thread = self._thread
            if thread is None or not thread.is_alive():
                thread = self._thread = threading.Thread(target=self._run, daemon=True,
                                                         name="euler-oauth-deadlines")
                thread.start()
            heap = self._heap
            # Wake the thread only when it must wait less than it does now: the deadlines
            # of calls with one timeout come in order, so most calls wake nobody (a
            # finished call's entry is dropped when the thread next wakes).
            wake = not heap or deadline < heap[0][0]
            heapq.heappush(heap, (deadline, next(self._seq), entry))
            if wake:
                self._cond.notify()
        return entry

    def cancel(self, entry: list[Any]) -> bool:
        """Stop watching; True when the deadline had already shut the socket down."""
        with self._cond:
            entry[0] = None
            return bool(entry[1])

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while cond is self._cond:
                now = time.monotonic()
                heap = self._heap
                while heap and (heap[0][2][0] is None or heap[0][0] <= now):
                    _deadline, _seq, entry = heapq.heappop(heap)
                    target = entry[0]
                    if target is not None:
                        entry[0], entry[1] = None, True
                        # A socket, or a pooled connection (its socket once connected).
                        sock = target if isinstance(target, socket.socket) else getattr(
                            target, "sock", None)
                        try:  # the plain socket's shutdown, also under TLS: wakes the reader
                            if sock is not None:
                                socket.socket.shutdown(sock, socket.SHUT_RDWR)
                        except OSError:
                            pass
                cond.wait(heap[0][0] - now if heap else None)


watchdog = _Watchdog()

#: The deadline of the provider call this thread is making (set by :class:`RequestPhase`).
_call = threading.local()


def _too_late(host: object) -> urllib3.exceptions.ConnectTimeoutError:
    # A timeout to urllib3 and requests (ConnectTimeout): the client's "timed out" error.
    return urllib3.exceptions.ConnectTimeoutError(
        f"Connection to {host} opened after the call's deadline.")


class _DeadlineConnection:
    """A connection whose new socket obeys the deadline of the call in progress.

    The watchdog may fire while the socket does not exist yet (name resolution or
    connect outlasting the deadline): the connection's ``sock`` is still None, there is
    nothing to shut down, and the sending and the wait for headers that follow would
    be bounded by the per-operation timeout alone. So the socket is made here with a
    connect timeout no longer than what is left of the budget, refused (closed, and a
    connect timeout raised) when the deadline has passed by the time it exists, and
    otherwise watched at once, before anything (a TLS handshake) is done on it.

    What cannot be cut short: ``getaddrinfo`` itself (a blocking call), and each address
    urllib3 tries in turn gets the time that was left when connecting began.
    """

    timeout: Any
    host: str

    def _new_conn(self) -> socket.socket:
        deadline = getattr(_call, "deadline", None)
        if deadline is None:
            return super()._new_conn()  # type: ignore[misc]
        remaining = deadline - time.monotonic()
        if remaining <= 0:  # spent before connecting: do not even resolve
            raise _too_late(self.host)
        timeout = self.timeout
        if not isinstance(timeout, (int, float)) or timeout > remaining:
            self.timeout = remaining  # no timeout or a longer one: what is left
        try:
            sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        finally:
            self.timeout = timeout
        if time.monotonic() >= deadline:
            sock.close()
            raise _too_late(self.host)
        # Registered even if the deadline passes right now: the watchdog then fires at once.
        _call.entries.append(watchdog.watch(deadline, sock))
        return sock


class DeadlineHTTPConnection(_DeadlineConnection, urllib3.connection.HTTPConnection):
    pass


class DeadlineHTTPSConnection(_DeadlineConnection, urllib3.connection.HTTPSConnection):
    pass


class _DeadlinePool:
    """A connection pool that watches each connection it hands out to a call in progress,
    so the wait for the status line and headers (not only the body) ends at the call's
    deadline: a provider trickling its headers cannot hold a call past it. Its new
    connections (``ConnectionCls``) obey the deadline while they connect."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        deadline = getattr(_call, "deadline", None)
        if deadline is not None:
            _call.entries.append(watchdog.watch(deadline, conn))
        return conn


class DeadlineHTTPConnectionPool(_DeadlinePool, urllib3.HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(_DeadlinePool, urllib3.HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


#: For ``PoolManager.pool_classes_by_scheme`` of the provider's adapter.
DEADLINE_POOLS = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}


class RequestPhase:
    """``with RequestPhase(deadline) as phase``: connections taken from the provider's
    pools meanwhile, and the sockets they open, are shut down at ``deadline`` (a socket
    opened after it is refused at once); ``phase.fired`` says whether the watchdog fired."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False

    def __enter__(self) -> RequestPhase:
        _call.deadline = self.deadline
        _call.entries = []
        return self

    def __exit__(self, *exc: object) -> None:
        entries = getattr(_call, "entries", [])
        _call.deadline, _call.entries = None, []
        for entry in entries:
            self.fired = watchdog.cancel(entry) or self.fired


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket the body is read from (urllib3 1.26 and 2.x; also after
    ``Connection: close``, which hands the socket from the connection to the response)."""
    raw = response.raw
    candidates = (getattr(getattr(raw, "_connection", None), "sock", None),
                  getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None),
                          "_sock", None))
    for sock in candidates:
        if isinstance(sock, socket.socket):
            return sock
    return None


def declared_length(headers: Any) -> int | None:
    """The body length an answer's headers announce (None: chunked or not said)."""
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return None
    raw = headers.get("Content-Length")
    if raw is None:
        return None
    try:
        values = {int(part.strip()) for part in raw.split(",")}
    except ValueError:
        raise BodyError("broken", "its Content-Length is not a number") from None
    if len(values) != 1 or min(values) < 0:
        raise BodyError("broken", "its Content-Length is not one number")
    return values.pop()


def forget_request(response: requests.Response) -> None:
    """Drop what was sent (body, credential headers) from ``response.request``."""
    prepared = response.request
    if prepared is None:
        return
    prepared.body = None
    for name in list(prepared.headers):
        if name.lower() in _CREDENTIAL_HEADERS:
            prepared.headers[name] = REDACTED


def decode_body(data: bytes, encoding: str, limit: int) -> bytes:
    """``data`` decoded per its ``Content-Encoding``, never more than ``limit`` bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise BodyError("broken", f"its Content-Encoding {encoding[:20]!r} is not supported")
    wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
    try:
        decoder = zlib.decompressobj(wbits)
        out = decoder.decompress(data, limit + 1)  # never more than the limit, however packed
    except zlib.error:
        raise BodyError("broken", "its compressed body is corrupt") from None
    if len(out) > limit:
        raise BodyError("too_large", f"it is larger than {limit} bytes once decompressed")
    return out


def read_body(response: requests.Response, *, deadline: float, limit: int) -> bytes:
    """The whole body of a streamed ``response``, by ``deadline`` and within ``limit`` bytes.

    Raises :class:`BodyError`. The response is closed either way: its connection goes
    back to the pool only after a complete read.
    """
    try:
        declared = declared_length(response.headers)
        if declared is not None and declared > limit:
            raise BodyError("too_large", f"it announces {declared} bytes (limit {limit})")
        data = _read_raw(response, deadline=deadline, limit=limit, declared=declared)
        content = decode_body(data, response.headers.get("Content-Encoding", ""), limit)
        response._content = content
        response._content_consumed = True  # type: ignore[attr-defined]
    finally:
        response.close()
    return content


def _read_raw(response: requests.Response, *, deadline: float, limit: int,
              declared: int | None) -> bytes:
    sock = _socket_of(response)
    entry = watchdog.watch(deadline, sock) if sock is not None else None
    chunks: list[bytes] = []
    received = 0
    failure = ""
    try:
        while True:
            if time.monotonic() >= deadline:
                raise BodyError("timeout", "it did not arrive in time")
            try:
                chunk = response.raw.read(min(CHUNK, limit - received + 1),
                                          decode_content=False)
            except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError,
                    ValueError) as err:
                # Named, never shown: the text may echo what was received.
                failure = type(err).__name__
                chunk = b""
            if failure or not chunk:
                break
            received += len(chunk)
            if received > limit:
                raise BodyError("too_large", f"it is larger than {limit} bytes")
            chunks.append(chunk)
            if received == declared:
                break  # all it announced: urllib3 would only answer b"" to one more read
    finally:
        fired = watchdog.cancel(entry) if entry is not None else False
    if fired or time.monotonic() >= deadline:
        raise BodyError("timeout", "it did not arrive in time")
    if declared is not None and received < declared:
        raise BodyError("truncated", f"it ended after {received} of {declared} bytes")
    if failure:
        raise BodyError("broken", f"reading it failed: {failure}")
    return b"".join(chunks)
