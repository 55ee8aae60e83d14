"""One HTTP/1.1 exchange with the provider on a kept-alive socket, and nothing more.

A refresh is a small form POST and a small JSON answer. Through ``requests``,
urllib3 and ``http.client`` that exchange costs about five times the CPU of
writing the request and parsing the answer on a socket (``bench/README.md``):
adapters, pools, ``Timeout`` objects, header parsing with the ``email`` package.
:func:`exchange` sends the request ``requests`` would send (built by
``client._direct_request``) and reads the answer itself, on a pool of its own.

It is used only when ``requests`` would add nothing: the process-wide session,
no proxy from the environment, a request without files or query parameters, and
``requests``' sending machinery as shipped (a test library that patches it,
such as ``responses``, ``requests-mock`` or ``vcrpy``, is detected and gets the
call through ``requests``): see ``client._wire_ok``. The limits are those of
:mod:`.transport`. The whole call (connect, TLS, send,
status line, headers, body) ends by the deadline: every wait on the socket
(non-blocking once connected: one system call per send, wait and read) lasts at
most what is left of it. An answer above the size limit is refused (unread when
it announces its size); a body shorter than its ``Content-Length`` or its chunks
is an error. Nothing is retried: a refresh token sent once may already be spent.
"""

from __future__ import annotations

import math
import os
import select
import socket
import ssl
import threading
import time
from typing import Any

from django.views.decorators.debug import sensitive_variables
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from .transport import CHUNK, BodyError, declared_length, decode_body

MAX_HEAD = 64 * 1024  # status line and headers, as http.client allows
MAX_HEADERS = 100
MAX_INTERIM = 8  # 1xx answers skipped before the real one
IDLE_PER_HOST = 64  # kept-alive sockets per provider host (the requests adapter's pool size)


class RequestFailed(Exception):
    """No answer came: ``reason`` reads ``timed out`` or ``failed: <kind>``.

    ``kind`` is the name ``requests`` gives the same failure (``ConnectionError``,
    ``SSLError``), so messages do not depend on which path made the call.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Answer:
    """A complete answer: status, reason, headers (case-insensitive) and the decoded body."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: CaseInsensitiveDict[str],
                 body: bytes) -> None:
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class _Pool:
    """Idle kept-alive sockets per (scheme, host, port, TLS settings); LIFO; per process."""

    def __init__(self) -> None:
        self._reset()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # A forked child must not talk on its parent's sockets.
        self._lock = threading.Lock()
        self._idle: dict[tuple[Any, ...], list[socket.socket]] = {}

    def take(self, key: tuple[Any, ...]) -> socket.socket | None:
        while True:
            with self._lock:
                idle = self._idle.get(key)
                if not idle:
                    return None
                sock = idle.pop()
            if _still_open(sock):
                return sock
            sock.close()

    def give(self, key: tuple[Any, ...], sock: socket.socket) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < IDLE_PER_HOST:
                idle.append(sock)
                return
        sock.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for socks in idle.values():
            for sock in socks:
                sock.close()


pool = _Pool()


def _still_open(sock: socket.socket) -> bool:
    """An idle socket with nothing to read: readable means closed by the peer (or junk)."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


_contexts: dict[tuple[Any, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def tls_context(verify: Any, cert: Any) -> ssl.SSLContext:
    """The TLS settings ``requests`` applies for ``verify`` and ``cert`` (cached).

    ``verify``: True (certifi's bundle, as ``requests``), a CA bundle file or
    directory, or False (no verification). ``cert``: a client certificate file,
    or a ``(certificate, key)`` pair.
    """
    key = (verify, cert if not isinstance(cert, list) else tuple(cert))
    context = _contexts.get(key)
    if context is None:
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            where = DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
            context = (ssl.create_default_context(capath=where) if os.path.isdir(where)
                       else ssl.create_default_context(cafile=where))
        if cert:
            if isinstance(cert, (tuple, list)):
                context.load_cert_chain(cert[0], cert[1])
            else:
                context.load_cert_chain(cert)
        context.set_alpn_protocols(["http/1.1"])
        with _contexts_lock:
            _contexts[key] = context
    return context


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


def _connect(scheme: str, host: str, port: int, context: ssl.SSLContext | None,
             deadline: float) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=_left(deadline))
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as urllib3 does
        if context is not None:
            sock.settimeout(_left(deadline))
            sock = context.wrap_socket(sock, server_hostname=host.strip("[]"))
        # From here on every wait is a poll of our own (_wait): a socket with a timeout
        # would poll before each send and read, and switch modes with each new timeout.
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _wait(sock: socket.socket, event: int, deadline: float) -> None:
    """Wait until ``sock`` is ready for ``event`` (POLLIN, POLLOUT); TimeoutError at the end."""
    poller = select.poll()
    poller.register(sock, event)
    while not poller.poll(math.ceil(_left(deadline) * 1000)):
        pass  # nothing yet (woken early): _left raises once the deadline has passed


def _send(sock: socket.socket, data: bytes, deadline: float) -> None:
    """All of ``data`` by ``deadline`` (usually one system call)."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, ssl.SSLWantWriteError):
            _wait(sock, select.POLLOUT, deadline)
            continue
        except ssl.SSLWantReadError:  # TLS renegotiation: the peer speaks first
            _wait(sock, select.POLLIN, deadline)
            continue
        view = view[sent:]


class _Reader:
    """Buffered reads from ``sock``, each waiting at most until ``deadline``."""

    __slots__ = ("buf", "deadline", "sock", "waited")

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline, self.buf = sock, deadline, bytearray()
        self.waited = False

    def fill(self) -> bool:
        """Read what has arrived (waiting for some); False at the end of the stream."""
        sock = self.sock
        pending = getattr(sock, "pending", None)
        if not self.waited and not (pending and pending()):
            # The answer to a request just sent is not there yet: wait, then read.
            self.waited = True
            _wait(sock, select.POLLIN, self.deadline)
        while True:
            try:
                data = sock.recv(CHUNK)
            except (BlockingIOError, ssl.SSLWantReadError):
                _wait(sock, select.POLLIN, self.deadline)
                continue
            except ssl.SSLWantWriteError:
                _wait(sock, select.POLLOUT, self.deadline)
                continue
            if not data:
                return False
            self.buf += data
            return True

    def line(self, limit: int) -> bytes | None:
        """One CRLF-terminated line (without it), None when the stream ends first."""
        start = 0
        while True:
            end = self.buf.find(b"\r\n", start)
            if end >= 0:
                line = bytes(self.buf[:end])
                del self.buf[:end + 2]
                return line
            if len(self.buf) > limit:
                raise BodyError("broken", "a line of it is too long")
            start = max(0, len(self.buf) - 1)
            if not self.fill():
                return None

    def take(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes, None when the stream ends first."""
        while len(self.buf) < size:
            if not self.fill():
                return None
        data = bytes(self.buf[:size])
        del self.buf[:size]
        return data


def _head(reader: _Reader) -> tuple[int, str, str, CaseInsensitiveDict[str]]:
    """Status, reason, HTTP version and headers of the next answer (1xx skipped)."""
    for _ in range(MAX_INTERIM + 1):
        end = -1
        while end < 0:
            end = reader.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(reader.buf) > MAX_HEAD:
                    raise ConnectionError("the answer's head is too long")
                if not reader.fill():
                    raise ConnectionError("the connection closed before an answer")
        head = bytes(reader.buf[:end]).decode("latin-1")
        del reader.buf[:end + 4]
        status_line, *lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise ConnectionError("not an HTTP/1 status line")
        if len(lines) > MAX_HEADERS:
            raise ConnectionError("too many headers")
        status = int(code)
        if status == 101:
            raise ConnectionError("a protocol switch nobody asked for")
        if 100 <= status < 200:
            continue  # 100 Continue and friends: the real answer follows
        # lower-case name -> (name, value), the layout of CaseInsensitiveDict's store,
        # built directly (~20 lookups fewer per answer than item by item).
        store: dict[str, tuple[str, str]] = {}
        last = ""
        for line in lines:
            if line[:1] in (" ", "\t") and last:  # an obsolete folded continuation
                name, value = store[last]
                store[last] = (name, f"{value} {line.strip()}")
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ConnectionError("a header line is malformed")
            value = value.strip()
            last = name.lower()
            seen = store.get(last)
            # Repeated headers are joined with ", ", as urllib3 does for requests.
            store[last] = (seen[0], f"{seen[1]}, {value}") if seen else (name, value)
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        headers._store = store  # type: ignore[attr-defined]
        return status, reason.strip(), version, headers
    raise ConnectionError("too many interim answers")


def _body(reader: _Reader, method: str, status: int, headers: CaseInsensitiveDict[str],
          limit: int) -> tuple[bytes, bool]:
    """The raw body and whether the connection can carry another exchange."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b"", True
    codings = [part.strip().lower()
               for part in headers.get("Transfer-Encoding", "").split(",") if part.strip()]
    if codings:
        if codings[-1] == "chunked":
            return _chunked(reader, limit), True
        return _until_close(reader, limit), False  # RFC 9112 §6.3: read until closed
    declared = declared_length(headers)
    if declared is None:
        return _until_close(reader, limit), False
    if declared > limit:
        raise BodyError("too_large", f"it announces {declared} bytes (limit {limit})")
    data = reader.take(declared)
    if data is None:  # take leaves what did arrive in the buffer
        raise BodyError("truncated", f"it ended after {len(reader.buf)} of {declared} bytes")
    return data, True


def _until_close(reader: _Reader, limit: int) -> bytes:
    while len(reader.buf) <= limit:
        if not reader.fill():
            return bytes(reader.buf)
    raise BodyError("too_large", f"it is larger than {limit} bytes")


def _chunked(reader: _Reader, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    while True:
        line = reader.line(4096)
        if line is None:
            raise BodyError("truncated", f"it ended after {received} bytes, mid-chunk")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise BodyError("broken", "a chunk size is not a number") from None
        if size < 0:
            raise BodyError("broken", "a chunk size is not a number")
        if size == 0:
            break
        received += size
        if received > limit:
            raise BodyError("too_large", f"it is larger than {limit} bytes")
        data = reader.take(size + 2)
        if data is None:
            raise BodyError("truncated", f"it ended after {received} bytes, mid-chunk")
        if data[-2:] != b"\r\n":
            raise BodyError("broken", "a chunk does not end where its size says")
        chunks.append(data[:-2])
    for _ in range(MAX_HEADERS + 1):  # trailer fields, then the blank line
        trailer = reader.line(MAX_HEAD)
        if trailer is None:
            raise BodyError("truncated", "it ended before the end of its chunks")
        if not trailer:
            return b"".join(chunks)
    raise BodyError("broken", "too many trailer fields")


def _failure(err: BaseException) -> RequestFailed:
    if isinstance(err, (TimeoutError, socket.timeout)):
        return RequestFailed("timed out")
    if isinstance(err, ssl.SSLError) or isinstance(err, ssl.CertificateError):
        return RequestFailed("failed: SSLError")
    return RequestFailed("failed: ConnectionError")


@sensitive_variables()
def exchange(method: str, scheme: str, host: str, port: int,
             head: bytes, body: bytes | None, *, verify: Any, cert: Any,
             deadline: float, limit: int) -> Answer:
    """Send one request and read its whole answer by ``deadline``.

    ``head`` is the request line and header block, ``body`` what follows it. Raises
    :class:`RequestFailed` when no answer came (connect, TLS, send, status line and
    headers) and :class:`~.transport.BodyError` (with ``status`` set) when its body is
    refused. The socket goes back to the pool only after a complete answer that
    leaves it reusable.
    """
    key = (scheme, host, port, verify, cert if not isinstance(cert, list) else tuple(cert))
    sock = pool.take(key)
    try:
        if sock is None:
            # A CA bundle or client certificate that cannot be loaded fails here, as a call.
            context = tls_context(verify, cert) if scheme == "https" else None
            sock = _connect(scheme, host, port, context, deadline)
        _send(sock, head + body if body else head, deadline)
        reader = _Reader(sock, deadline)
        status, reason, version, headers = _head(reader)
    except (OSError, ValueError) as err:  # socket, TLS and head errors; timeouts
        if sock is not None:
            sock.close()
        raise _failure(err) from None
    try:
        raw, reusable = _body(reader, method, status, headers, limit)
        content = decode_body(raw, headers.get("Content-Encoding", ""), limit)
    except BodyError as err:
        sock.close()
        err.status = status
        raise
    except (OSError, ValueError) as err:
        sock.close()
        timed_out = isinstance(err, (TimeoutError, socket.timeout))
        raise BodyError("timeout" if timed_out else "broken",
                        "it did not arrive in time" if timed_out
                        else f"reading it failed: {type(err).__name__}", status) from None
    pending = getattr(sock, "pending", None)
    if (reusable and not reader.buf and version == "HTTP/1.1"
            and "close" not in headers.get("Connection", "").lower()
            and not (pending and pending())):
        pool.give(key, sock)
    else:
        sock.close()
    return Answer(status, reason, headers, content)
