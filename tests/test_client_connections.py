"""The process-wide session's connections: kept alive, never retried, sized by a setting.

``ProviderClient`` calls go through one ``requests.Session`` per process. These
tests talk to raw servers on 127.0.0.1 (:mod:`tests.support.raw_server`) that count the
TCP connections they accepted and the requests they read: keep-alive and when a
connection must not be reused, a request the server drops (never sent again: a
refresh token is single use), chunked and interim answers, the pool size
setting, and a forked child. Nothing in the library is patched: tests configure
it (settings, a fresh process-wide session per test).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from django_euler_oauth.client import ProviderClient
from django_euler_oauth.errors import MalformedResponse, TransportError
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

from .support.raw_server import Link, Script, answer, keep_alive, numbered
from .support.raw_server import token_json as token_json
from .support.threads import in_threads

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"

pytestmark = pytest.mark.usefixtures("fresh_provider_session")


def is_refresh(request: bytes) -> bool:
    return (request.startswith(f"POST {TOKEN} HTTP/1.1\r\n".encode())
            and b"grant_type=refresh_token" in request)


# --- keep-alive ---------------------------------------------------------------------------

def test_three_refreshes_share_one_kept_alive_connection(raw_server, oauth):
    server = raw_server(keep_alive(numbered))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    got = [client.refresh("refresh-0").access_token for _ in range(3)]
    assert got == ["access-1", "access-2", "access-3"]  # each call read its own answer
    assert server.accepted == 1, f"{server.accepted} connections for 3 answers"
    assert len(server.requests) == 3 and all(is_refresh(r) for r in server.requests)


@pytest.mark.parametrize(("version", "headers", "connections"), [
    ("HTTP/1.1", ("Connection: keep-alive",), 1),
    ("HTTP/1.1", ("Connection: close",), 2),
    ("HTTP/1.1", ("Connection: Close",), 2),
    ("HTTP/1.0", (), 2),
], ids=["1.1-keep-alive", "1.1-close", "1.1-Close", "1.0"])
def test_an_answer_that_ends_the_connection_is_not_reused(raw_server, oauth, version,
                                                          headers, connections):
    """The server keeps serving on the same socket regardless: only the client's choice
    decides whether the second call opens a new connection."""
    server = raw_server(keep_alive(
        lambda n: answer(token_json(f"access-{n}"), version=version, headers=headers)))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    assert client.refresh("refresh-0").access_token == "access-2"
    assert server.accepted == connections
    assert len(server.requests) == 2


def _answer_then(ending: str) -> Script:
    def script(link: Link) -> None:
        if link.request() is None:
            return
        link.send(numbered(link.server.served))
        if ending == "408":  # what some servers send on an idle connection before closing
            time.sleep(0.05)  # after the client has read its answer and pooled the socket
            link.send(answer(b"{}", status="408 Request Timeout", headers=("Connection: close",)))
        elif ending == "reset":
            link.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return script


@pytest.mark.parametrize("ending", ["close", "reset", "408"])
def test_an_idle_connection_the_server_closed_is_not_used(raw_server, oauth, ending):
    """The server answers once on each connection and then hangs up while the socket
    sits in the pool: the next call opens a new connection and succeeds."""
    server = raw_server(_answer_then(ending))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    server.wait_ended()
    time.sleep(0.05)  # the FIN (or RST) crosses loopback
    assert client.refresh("refresh-0").access_token == "access-2"
    assert server.accepted == 2
    assert len(server.requests) == 2  # the second request was sent once, on the new one


# --- no retry -----------------------------------------------------------------------------

def _hang_up_on(request_number: int) -> Script:
    """Answer requests before ``request_number``; read that one, close without answering."""
    def script(link: Link) -> None:
        for _ in range(10):
            if link.request() is None:
                return
            if link.server.served >= request_number:
                return
            link.send(numbered(link.server.served))
    return script


@pytest.mark.parametrize("reused", [False, True], ids=["new-connection", "reused-connection"])
def test_a_refresh_the_server_drops_is_not_retried(raw_server, expired, reused):
    """A refresh token is single use: a request that got no answer is not sent again,
    and the connection keeps its tokens."""
    server = raw_server(_hang_up_on(2 if reused else 1))
    connection = expired(server.url)
    if reused:
        assert ProviderClient(connection.client).refresh("refresh-x").access_token == "access-1"
    with pytest.raises(TransportError, match="failed: ConnectionError"):
        refresh_connection(connection)
    time.sleep(0.3)  # a retry would have connected (and been read) by now
    assert server.accepted == 1
    assert len(server.requests) == (2 if reused else 1)
    assert b"refresh_token=refresh-0" in server.requests[-1]
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token) == ("access-0", "refresh-0")


# --- the pool size ------------------------------------------------------------------------

@pytest.mark.parametrize(("pool_size", "connections"), [(3, 3), (1, 5)])
def test_the_pool_keeps_as_many_connections_as_the_setting(raw_server, oauth, settings,
                                                            pool_size, connections):
    """Two rounds of three calls at once: a pool of 3 keeps all three connections for the
    second round; a pool of 1 keeps one, and two more are opened."""
    settings.EULER_OAUTH_HTTP_POOL_SIZE = pool_size
    together = threading.Barrier(3, timeout=5)

    def script(link: Link) -> None:
        for _ in range(4):
            if link.request() is None:
                return
            together.wait()  # answer only once all three calls are in flight
            link.send(numbered(link.server.served))

    server = raw_server(script)
    oauth.token_url = server.url + TOKEN
    for _round in range(2):
        tokens = in_threads(3, lambda: ProviderClient(oauth).refresh("refresh-0"), timeout=10)
        assert all(not isinstance(t, BaseException) for t in tokens), tokens
    assert len(server.requests) == 6
    assert server.accepted == connections


# --- chunked, interim and bodiless answers --------------------------------------------------

def chunked(body: bytes, *, trailers: tuple[str, ...] = ()) -> bytes:
    """``body`` in three chunks (uppercase hex sizes, extensions), then trailer fields."""
    cuts = [0, 7, 7 + 26, len(body)]
    extensions = [";ext", ';name="quoted;value"', " ; a=b ;c"]
    out = [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n"]
    for start, end, ext in zip(cuts, cuts[1:], extensions, strict=False):
        out.append(f"{end - start:X}{ext}\r\n".encode() + body[start:end] + b"\r\n")
    out.append(b"0\r\n" + b"".join(f"{t}\r\n".encode() for t in trailers) + b"\r\n")
    return b"".join(out)


def test_chunked_answers_decode_and_keep_the_connection(raw_server, oauth):
    def respond(n: int) -> bytes:
        return chunked(token_json(f"access-{n}"), trailers=("X-Checksum: abc", "X-Other: 1"))

    assert b"1A;" in respond(1)  # a size with a hex letter
    server = raw_server(keep_alive(respond))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    first, second = client.refresh("refresh-0"), client.refresh("refresh-1")
    assert (first.access_token, first.refresh_token) == ("access-1", "refresh-1")
    assert first.expires_in == 3600 and first.scope == "webcast:fetch"
    assert second.access_token == "access-2"  # the trailers were read to their end
    assert server.accepted == 1


def test_chunks_arriving_one_byte_at_a_time_decode(raw_server, oauth):
    data = chunked(token_json("access-slow"), trailers=("X-T: 1",))

    def script(link: Link) -> None:
        if link.request() is None:
            return
        for index in range(len(data)):  # bounded by the answer's length (~300 sends)
            link.send(data[index:index + 1])
            if index % 16 == 0:
                time.sleep(0.001)

    server = raw_server(script)
    oauth.token_url = server.url + TOKEN
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-slow"


@pytest.mark.parametrize("size", [b"zz", b"", b"5 5", b"0x"])
def test_a_chunk_size_that_is_not_hex_is_unusable(raw_server, expired, size):
    bad = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           + size + b"\r\n" + b"{}\r\n0\r\n\r\n")
    server = raw_server(keep_alive(lambda n: bad))
    connection = expired(server.url)
    with pytest.raises(TransportError, match="answer unusable"):
        refresh_connection(connection)
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token) == ("access-0", "refresh-0")
    assert len(server.requests) == 1


def test_a_100_continue_before_the_answer_is_skipped(raw_server, oauth):
    def script(link: Link) -> None:
        for _ in range(3):
            if link.request() is None:
                return
            link.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.02)  # the real answer in a later read
            link.send(numbered(link.server.served))

    server = raw_server(script)
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    assert client.refresh("refresh-1").access_token == "access-2"
    assert server.accepted == 1 and len(server.requests) == 2


def test_an_interim_answer_is_never_read_as_the_next_calls_answer(raw_server, oauth):
    """``103 Early Hints`` then the real answer to the first call: whatever that call makes
    of it, the second call reads its own answer (access-2), never the first one's left in
    the socket."""
    def script(link: Link) -> None:
        for _ in range(3):
            if link.request() is None:
                return
            hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            served = link.server.served
            link.send((hints if served == 1 else b"") + numbered(served))

    server = raw_server(script)
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    try:  # http.client hands a 103 over as the answer: a MalformedResponse (not JSON)
        first: str | None = client.refresh("refresh-0").access_token
    except (TransportError, MalformedResponse):
        first = None
    assert first in ("access-1", None)
    assert client.refresh("refresh-1").access_token == "access-2"
    assert len(server.requests) == 2


def test_a_204_revoke_is_a_success_with_no_body_read(raw_server, oauth, settings):
    """No Content-Length, and the server keeps the connection open: reading a body
    would wait for the deadline; the next revoke reuses the connection."""
    settings.EULER_OAUTH_HTTP_TIMEOUT = 2.0
    server = raw_server(keep_alive(lambda n: b"HTTP/1.1 204 No Content\r\n\r\n"))
    oauth.revoke_url = server.url + REVOKE
    client = ProviderClient(oauth)
    started = time.monotonic()
    assert client.revoke("access-0", "access_token") is None
    assert client.revoke("refresh-0", "refresh_token") is None
    assert time.monotonic() - started < 1.0
    assert server.accepted == 1
    assert [r.split(b"\r\n", 1)[0] for r in server.requests] == [
        f"POST {REVOKE} HTTP/1.1".encode()] * 2


BODY = token_json("access-9", "refresh-9")


@pytest.mark.parametrize("raw", [
    b"FOO\r\n\r\n" + BODY,
    b"HTTP/1.1 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
    b"HTTP/1.1 20 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
], ids=["FOO", "no-code", "two-digit-code"])
def test_a_malformed_head_is_a_transport_error_and_nothing_is_stored(raw_server, expired,
                                                                     raw):
    server = raw_server(keep_alive(lambda n: raw))
    connection = expired(server.url)
    with pytest.raises(TransportError, match="failed: ConnectionError"):
        refresh_connection(connection)
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token, row.status) == ("access-0", "refresh-0",
                                                                 "active")
    assert len(server.requests) == 1


@pytest.fixture
def expired(make_client: Any, make_connection: Any, user: Any) -> Callable[[str], Connection]:
    def make(base: str) -> Connection:
        return make_connection(user, make_client(base=base), expires_in=-5)
    return make


# --- fork -----------------------------------------------------------------------------------

def _child(oauth: Any, write_fd: int) -> None:
    """In the forked child: one refresh, reported through the pipe; never returns."""
    code = 1
    try:
        try:
            report = {"access": ProviderClient(oauth).refresh("refresh-0").access_token}
        except Exception as err:
            report = {"error": f"{type(err).__name__}: {err}"}
        os.write(write_fd, json.dumps(report).encode())
        code = 0
    finally:
        os._exit(code)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_use_the_parents_idle_connections(raw_server, oauth):
    server = raw_server(keep_alive(numbered))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    assert server.accepted == 1  # its socket now idles in the parent's pool
    read_fd, write_fd = os.pipe()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
            pid = os.fork()
        if pid == 0:
            _child(oauth, write_fd)
        os.close(write_fd)
        write_fd = -1
        ready, _, _ = select.select([read_fd], [], [], 10)
        report_bytes = os.read(read_fd, 65536) if ready else b""
        for _ in range(100):  # up to 10 s
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the child did not exit")
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, report_bytes
    assert json.loads(report_bytes) == {"access": "access-2"}
    assert server.accepted == 2  # the child opened its own connection
    # The parent's idle socket is still its own, and still good.
    assert client.refresh("refresh-0").access_token == "access-3"
    assert server.accepted == 2 and len(server.requests) == 3


# --- sending ------------------------------------------------------------------------------

def test_a_request_larger_than_the_socket_buffers_is_sent_whole(raw_server, oauth):
    refresh_token = "r" * (8 * 1024 * 1024)
    lengths = []

    def slow_reader(link: Link) -> None:
        time.sleep(0.3)  # the client's sends block meanwhile
        request = link.request()
        if request is not None:
            lengths.append(len(request.partition(b"\r\n\r\n")[2]))
            link.send(numbered(1))

    server = raw_server(slow_reader)
    oauth.token_url = server.url + TOKEN
    assert ProviderClient(oauth).refresh(refresh_token).access_token == "access-1"
    assert lengths and lengths[0] > len(refresh_token)  # the whole form arrived


def test_a_peer_that_never_reads_ends_the_call_at_the_deadline(raw_server, oauth, settings):
    settings.EULER_OAUTH_HTTP_TIMEOUT = 0.5
    server = raw_server(lambda link: link.server.stopped.wait(5))  # reads nothing
    oauth.token_url = server.url + TOKEN
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        ProviderClient(oauth).refresh("r" * (64 * 1024 * 1024))
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"the call took {elapsed:.1f} s with a 0.5 s timeout"


@pytest.mark.parametrize("url", ["not a url", "http://", "ftp-less://host/token"])
def test_a_token_url_that_is_no_url_is_a_transport_error(oauth, url):
    """Before any byte is sent: requests' own URL errors become TransportError, typed."""
    oauth.token_url = url
    with pytest.raises(TransportError, match="failed: "):
        ProviderClient(oauth).refresh("refresh-0")
