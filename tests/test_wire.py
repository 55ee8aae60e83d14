"""The wire path: ``ProviderClient`` calls made by :mod:`django_euler_oauth.wire`.

When the process-wide session is plain and ``requests`` is as shipped, a provider
call is one HTTP/1.1 exchange on a kept-alive socket of wire's own pool. These
tests talk to raw servers on 127.0.0.1 (plain TCP and TLS with a throwaway CA):
keep-alive and when a connection must not be reused, chunked bodies, interim and
bodiless answers, malformed heads, certificate checks, libraries that patch
``requests`` (the call must go through their patch), a forked child, and the
call's deadline.

No code of the library is replaced: tests only configure it (settings, the
session's ``verify``/``cert``, a fresh process-wide session per test). Each server
counts the TCP connections it accepted and the requests it read; every loop is
bounded in count and time, and every server thread is stopped (and checked to
have ended) after its test.
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import json
import os
import select
import signal
import socket
import ssl
import struct
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from requests.adapters import HTTPAdapter

from django_euler_oauth import client as client_module
from django_euler_oauth import transport, wire
from django_euler_oauth.client import ProviderClient, get_session
from django_euler_oauth.errors import ResponseTooLarge, TransportError
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
WAIT = 5.0  # the longest any server thread waits for anything


# --- a raw server that counts connections and requests ----------------------------------

class Link:
    """One accepted connection, seen from the server: read requests, send bytes."""

    def __init__(self, server: WireServer, sock: socket.socket) -> None:
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


Script = Callable[[Link], None]


class WireServer:
    """Accepts TCP (or TLS) connections on loopback; ``script(link)`` runs for each one."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script, self.tls = script, tls
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.accepted = 0  # TCP connections
        self.served = 0  # requests read, over all connections
        self.requests: list[bytes] = []
        self.ended = threading.Semaphore(0)  # released as each connection's script ends
        self.socks: list[socket.socket] = []
        self.threads: list[threading.Thread] = []
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._accept, daemon=True, name="wire-server")
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
                                      name="wire-server-conn")
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


@pytest.fixture
def wire_server() -> Iterator[Callable[..., WireServer]]:
    servers: list[WireServer] = []

    def make(script: Script, tls: ssl.SSLContext | None = None) -> WireServer:
        server = WireServer(script, tls)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(autouse=True)
def fresh_wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A new process-wide session for each test (no proxy: the wire path applies), and
    wire's pool emptied before and after."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(client_module, "_session", None)
    wire.pool.clear()
    yield
    wire.pool.clear()
    session = client_module._session
    if session is not None:
        session.close()


@pytest.fixture
def expired(make_client: Any, make_connection: Any, user: Any) -> Callable[[str], Connection]:
    def make(base: str) -> Connection:
        return make_connection(user, make_client(base=base), expires_in=-5)
    return make


# --- answers ------------------------------------------------------------------------------

def token_json(access: str = "access-1", refresh: str = "refresh-1") -> bytes:
    return json.dumps({"access_token": access, "refresh_token": refresh,
                       "token_type": "Bearer", "expires_in": 3600,
                       "scope": "webcast:fetch"}).encode()


def answer(body: bytes, *, status: str = "200 OK", version: str = "HTTP/1.1",
           headers: tuple[str, ...] = ()) -> bytes:
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
    return answer(token_json(f"access-{n}", f"refresh-{n}"))


def requests_pools(server: WireServer) -> list[Any]:
    """The pools ``requests`` opened for ``server`` (none when wire carried every call)."""
    adapter: Any = get_session().get_adapter(server.url)
    return [key for key in adapter.poolmanager.pools.keys() if key.key_port == server.port]


def is_refresh(request: bytes) -> bool:
    return (request.startswith(f"POST {TOKEN} HTTP/1.1\r\n".encode())
            and b"grant_type=refresh_token" in request)


# --- keep-alive ---------------------------------------------------------------------------

def test_three_refreshes_share_one_kept_alive_connection(wire_server, oauth):
    server = wire_server(keep_alive(numbered))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    got = [client.refresh("refresh-0").access_token for _ in range(3)]
    assert got == ["access-1", "access-2", "access-3"]  # each call read its own answer
    assert server.accepted == 1, f"{server.accepted} connections for 3 answers"
    assert len(server.requests) == 3 and all(is_refresh(r) for r in server.requests)
    assert requests_pools(server) == []  # wire carried them, not requests


@pytest.mark.parametrize(("version", "headers", "connections"), [
    ("HTTP/1.1", ("Connection: keep-alive",), 1),
    ("HTTP/1.1", ("Connection: close",), 2),
    ("HTTP/1.1", ("Connection: Close",), 2),
    ("HTTP/1.0", (), 2),
    ("HTTP/1.0", ("Connection: keep-alive",), 2),
], ids=["1.1-keep-alive", "1.1-close", "1.1-Close", "1.0", "1.0-keep-alive"])
def test_an_answer_that_ends_the_connection_is_not_reused(wire_server, oauth, version,
                                                          headers, connections):
    """The server keeps serving on the same socket regardless: only the client's choice
    decides whether the second call opens a new connection."""
    server = wire_server(keep_alive(
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
def test_an_idle_connection_the_server_closed_is_not_used(wire_server, oauth, ending):
    """The server answers once on each connection and then hangs up while the socket
    sits in the pool: the next call opens a new connection and succeeds."""
    server = wire_server(_answer_then(ending))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    server.wait_ended()
    time.sleep(0.05)  # the FIN (or RST) crosses loopback
    assert client.refresh("refresh-0").access_token == "access-2"
    assert server.accepted == 2
    assert len(server.requests) == 2  # the second request was sent once, on the new one


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
def test_a_request_the_server_drops_is_not_retried(wire_server, oauth, reused):
    """A refresh token is single-use: a request that got no answer is not sent again."""
    server = wire_server(_hang_up_on(2 if reused else 1))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    if reused:
        assert client.refresh("refresh-0").access_token == "access-1"
    with pytest.raises(TransportError, match="failed: ConnectionError"):
        client.refresh("refresh-1")
    time.sleep(0.3)  # a retry would have connected (and been read) by now
    assert server.accepted == 1
    assert len(server.requests) == (2 if reused else 1)
    assert b"refresh_token=refresh-1" in server.requests[-1]


# --- chunked answers ------------------------------------------------------------------------

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


def test_chunked_answers_decode_and_keep_the_connection(wire_server, oauth):
    def respond(n: int) -> bytes:
        return chunked(token_json(f"access-{n}"), trailers=("X-Checksum: abc", "X-Other: 1"))

    assert b"1A;" in respond(1)  # a size with a hex letter
    server = wire_server(keep_alive(respond))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    first, second = client.refresh("refresh-0"), client.refresh("refresh-1")
    assert (first.access_token, first.refresh_token) == ("access-1", "refresh-1")
    assert first.expires_in == 3600 and first.scope == "webcast:fetch"
    assert second.access_token == "access-2"  # the trailers were read to their end
    assert server.accepted == 1


def test_chunks_arriving_one_byte_at_a_time_decode(wire_server, oauth):
    data = chunked(token_json("access-slow"), trailers=("X-T: 1",))

    def script(link: Link) -> None:
        if link.request() is None:
            return
        for index in range(len(data)):  # bounded by the answer's length (~300 sends)
            link.send(data[index:index + 1])
            if index % 16 == 0:
                time.sleep(0.001)

    server = wire_server(script)
    oauth.token_url = server.url + TOKEN
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-slow"


@pytest.mark.parametrize("size", [b"zz", b"", b"-5", b"5 5", b"0x"])
def test_a_chunk_size_that_is_not_hex_is_unusable(wire_server, expired, size):
    bad = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           + size + b"\r\n" + b"{}\r\n0\r\n\r\n")
    server = wire_server(keep_alive(lambda n: bad))
    connection = expired(server.url)
    with pytest.raises(TransportError, match="answer unusable"):
        refresh_connection(connection)
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token) == ("access-0", "refresh-0")
    assert len(server.requests) == 1


def test_a_chunked_answer_above_the_limit_is_refused(wire_server, oauth, settings):
    settings.EULER_OAUTH_MAX_RESPONSE_BYTES = 256 * 1024
    block = b" " * 65536
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    sent = [0]

    def stream(link: Link) -> None:
        if link.request() is None:
            return
        link.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(128):  # 8 MiB on offer
            link.send(chunk)
            sent[0] += len(chunk)

    server = wire_server(stream)
    oauth.token_url = server.url + TOKEN
    with pytest.raises(ResponseTooLarge) as caught:
        ProviderClient(oauth).refresh("refresh-0")
    assert caught.value.status == 200
    server.wait_ended()
    assert sent[0] < 4 * 1024 * 1024, "the client kept reading past the limit"


def test_one_huge_announced_chunk_is_refused_without_waiting_for_it(wire_server, oauth,
                                                                   settings):
    settings.EULER_OAUTH_HTTP_TIMEOUT = 3.0
    settings.EULER_OAUTH_MAX_RESPONSE_BYTES = 64 * 1024
    huge = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000\r\n" + b" " * 100
    server = wire_server(keep_alive(lambda n: huge))
    oauth.token_url = server.url + TOKEN
    started = time.monotonic()
    with pytest.raises(ResponseTooLarge):
        ProviderClient(oauth).refresh("refresh-0")
    assert time.monotonic() - started < 1.5  # refused on its size line, not timed out


# --- interim and bodiless answers ---------------------------------------------------------

def test_interim_answers_before_the_real_one_are_skipped(wire_server, oauth):
    def script(link: Link) -> None:
        for _ in range(3):
            if link.request() is None:
                return
            link.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.02)  # the real answer in a later read
            link.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                      + numbered(link.server.served))

    server = wire_server(script)
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    assert client.refresh("refresh-1").access_token == "access-2"
    assert server.accepted == 1 and len(server.requests) == 2


def test_endless_interim_answers_are_refused_well_before_the_deadline(wire_server, oauth,
                                                                       settings):
    """A provider that never stops sending ``100 Continue``: not followed until the
    deadline (3 s here), refused after a few."""
    settings.EULER_OAUTH_HTTP_TIMEOUT = 3.0
    interims = b"HTTP/1.1 100 Continue\r\n\r\n" * 100

    def script(link: Link) -> None:
        if link.request() is None:
            return
        for _ in range(200):  # 20,000 interim answers over 4 s at most
            if link.server.stopped.is_set():
                return
            link.send(interims)
            time.sleep(0.02)

    server = wire_server(script)
    oauth.token_url = server.url + TOKEN
    started = time.monotonic()
    with pytest.raises(TransportError, match="failed") as caught:
        ProviderClient(oauth).refresh("refresh-0")
    assert time.monotonic() - started < 1.5
    assert "timed out" not in str(caught.value)


def test_a_204_revoke_is_a_success_with_no_body_read(wire_server, oauth, settings):
    """No Content-Length, and the server keeps the connection open: reading a body
    would wait for the deadline; the next revoke reuses the connection."""
    settings.EULER_OAUTH_HTTP_TIMEOUT = 2.0
    server = wire_server(keep_alive(lambda n: b"HTTP/1.1 204 No Content\r\n\r\n"))
    oauth.revoke_url = server.url + REVOKE
    client = ProviderClient(oauth)
    started = time.monotonic()
    assert client.revoke("access-0", "access_token") is None
    assert client.revoke("refresh-0", "refresh_token") is None
    assert time.monotonic() - started < 1.0
    assert server.accepted == 1
    assert [r.split(b"\r\n", 1)[0] for r in server.requests] == [
        f"POST {REVOKE} HTTP/1.1".encode()] * 2


# --- malformed heads ----------------------------------------------------------------------

BODY = token_json("access-9", "refresh-9")
# answer() adds Content-Type and Content-Length: with these, exactly MAX_HEADERS (100).
PADDING = tuple(f"X-Pad-{i}: {i}" for i in range(wire.MAX_HEADERS - 2))


@pytest.mark.parametrize("raw", [
    b"HTTP/2 200\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
    b"FOO\r\n\r\n" + BODY,
    b"HTTP/1.1 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
    b"HTTP/1.1 20 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
    b"HTTP/1.1 200 OK\r\nContent-Type application/json\r\nContent-Length: %d\r\n\r\n"
    % len(BODY) + BODY,
    b"HTTP/1.1 200 OK\r\nContent-Length : %d\r\n\r\n" % len(BODY) + BODY,
    answer(BODY, headers=(*PADDING, "X-One-Too-Many: 1")),
], ids=["HTTP/2", "FOO", "no-code", "two-digit-code", "no-colon", "space-before-colon",
        "101-headers"])
def test_a_malformed_head_is_a_transport_error_and_nothing_is_stored(wire_server, expired,
                                                                     raw):
    server = wire_server(keep_alive(lambda n: raw))
    connection = expired(server.url)
    with pytest.raises(TransportError, match="failed: ConnectionError"):
        refresh_connection(connection)
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token, row.status) == ("access-0", "refresh-0",
                                                                 "active")
    assert len(server.requests) == 1


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY,
    answer(BODY, headers=PADDING),
    answer(BODY, headers=("X-Folded: one", " two", "X-Twice: a", "x-twice: b")),
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n\r\n",
], ids=["no-reason", "100-headers", "folded-and-repeated", "chunked-no-extensions"])
def test_lawful_heads_are_accepted(wire_server, expired, raw):
    server = wire_server(keep_alive(lambda n: raw))
    connection = refresh_connection(expired(server.url))
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token) == ("access-9", "refresh-9")
    assert requests_pools(server) == []


# --- HTTPS ----------------------------------------------------------------------------------

class Pki:
    """A throwaway CA, server certificates for 127.0.0.1 and for localhost only, and a
    client certificate, as files; server contexts for them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wire tests CA")])
        self.ca = (self._valid(x509.CertificateBuilder())
                   .subject_name(ca_name).issuer_name(ca_name)
                   .public_key(self.ca_key.public_key())
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                  critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                       decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                       self.ca_key.public_key()), critical=False)
                   .sign(self.ca_key, hashes.SHA256()))
        self.ca_file = root / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))
        ip_files = self._issue("ip", x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                               ExtendedKeyUsageOID.SERVER_AUTH)
        self.ip_context = self._server(*ip_files)
        self.name_context = self._server(*self._issue(
            "name", x509.DNSName("localhost"), ExtendedKeyUsageOID.SERVER_AUTH))
        self.client_files = self._issue("wire-client", x509.DNSName("client.invalid"),
                                        ExtendedKeyUsageOID.CLIENT_AUTH)
        self.mutual_context = self._server(*ip_files)
        self.mutual_context.verify_mode = ssl.CERT_REQUIRED
        self.mutual_context.load_verify_locations(self.ca_file)

    def _valid(self, builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
        return (builder.serial_number(x509.random_serial_number())
                .not_valid_before(self.now - datetime.timedelta(minutes=5))
                .not_valid_after(self.now + datetime.timedelta(days=1)))

    def _issue(self, label: str, san: x509.GeneralName,
               usage: x509.ObjectIdentifier) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (self._valid(x509.CertificateBuilder())
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, label)]))
                .issuer_name(self.ca.subject).public_key(key.public_key())
                .add_extension(x509.SubjectAlternativeName([san]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.ca_key.public_key()), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        cert_file, key_file = self.root / f"{label}.pem", self.root / f"{label}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return str(cert_file), str(key_file)

    @staticmethod
    def _server(cert_file: str, key_file: str) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def test_https_with_the_ca_as_the_sessions_verify(wire_server, oauth, pki, monkeypatch):
    server = wire_server(keep_alive(numbered), tls=pki.ip_context)
    monkeypatch.setattr(get_session(), "verify", str(pki.ca_file))
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    assert client.refresh("refresh-1").access_token == "access-2"
    assert server.accepted == 1  # one TLS connection, kept alive
    assert requests_pools(server) == []  # and wire's, not requests'
    assert all(is_refresh(r) for r in server.requests)


def test_https_with_the_ca_from_requests_ca_bundle(wire_server, oauth, pki, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setattr(client_module, "_session", None)  # rebuilt: reads the variable
    server = wire_server(keep_alive(numbered), tls=pki.ip_context)
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    assert client.refresh("refresh-1").access_token == "access-2"
    assert server.accepted == 1 and requests_pools(server) == []


def test_https_with_the_default_verify_refuses_an_unknown_ca(wire_server, oauth, pki,
                                                            monkeypatch):
    server = wire_server(keep_alive(numbered), tls=pki.ip_context)
    monkeypatch.setattr(get_session(), "verify", True)  # certifi's bundle
    oauth.token_url = server.url + TOKEN
    with pytest.raises(TransportError, match="SSLError"):
        ProviderClient(oauth).refresh("refresh-0")
    server.wait_ended()
    assert server.requests == []  # the refresh token never left the client


def test_https_refuses_a_certificate_for_another_name(wire_server, oauth, pki, monkeypatch):
    server = wire_server(keep_alive(numbered), tls=pki.name_context)  # localhost only
    monkeypatch.setattr(get_session(), "verify", str(pki.ca_file))
    oauth.token_url = server.url + TOKEN
    with pytest.raises(TransportError, match="SSLError"):
        ProviderClient(oauth).refresh("refresh-0")
    server.wait_ended()
    assert server.requests == []


def test_https_without_verification_when_verify_is_false(wire_server, oauth, pki,
                                                          monkeypatch):
    server = wire_server(keep_alive(numbered), tls=pki.name_context)  # wrong name, unknown CA
    monkeypatch.setattr(get_session(), "verify", False)
    oauth.token_url = server.url + TOKEN
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-1"
    assert requests_pools(server) == []


def test_https_with_a_client_certificate(wire_server, oauth, pki, monkeypatch):
    subjects = []

    def script(link: Link) -> None:
        subjects.append(getattr(link.sock, "getpeercert", lambda: None)())
        keep_alive(numbered)(link)

    server = wire_server(script, tls=pki.mutual_context)
    monkeypatch.setattr(get_session(), "verify", str(pki.ca_file))
    monkeypatch.setattr(get_session(), "cert", pki.client_files)
    oauth.token_url = server.url + TOKEN
    client = ProviderClient(oauth)
    assert client.refresh("refresh-0").access_token == "access-1"
    assert client.refresh("refresh-1").access_token == "access-2"
    assert server.accepted == 1 and requests_pools(server) == []
    assert ((("commonName", "wire-client"),),) == subjects[0]["subject"]


def test_a_ca_bundle_that_is_not_a_certificate_is_a_transport_error(wire_server, oauth, pki,
                                                                    monkeypatch, tmp_path):
    server = wire_server(keep_alive(numbered), tls=pki.ip_context)
    junk = tmp_path / "junk.pem"
    junk.write_text("this is not a certificate\n")
    monkeypatch.setattr(get_session(), "verify", str(junk))
    oauth.token_url = server.url + TOKEN
    with pytest.raises(TransportError, match="failed: SSLError"):
        ProviderClient(oauth).refresh("refresh-0")
    assert server.requests == []


# --- libraries that patch requests get the call -------------------------------------------

CANNED = token_json("access-canned", "refresh-canned")
patched_calls: list[str] = []


def canned_raw() -> urllib3.HTTPResponse:
    return urllib3.HTTPResponse(
        body=io.BytesIO(CANNED), status=200, reason="OK", preload_content=False,
        headers={"Content-Type": "application/json", "Content-Length": str(len(CANNED))})


def patched_send(self: HTTPAdapter, request: requests.PreparedRequest,
                 **kwargs: Any) -> requests.Response:
    """What ``responses`` puts in place of ``HTTPAdapter.send``."""
    patched_calls.append(str(request.url))
    return self.build_response(request, canned_raw())


class CannedAdapter(HTTPAdapter):
    """What ``requests-mock`` hands out from a patched ``Session.get_adapter``."""

    def send(self, request: requests.PreparedRequest, *args: Any,
             **kwargs: Any) -> requests.Response:
        patched_calls.append(str(request.url))
        return self.build_response(request, canned_raw())


canned_adapter = CannedAdapter()


def patched_get_adapter(self: requests.Session, url: str) -> HTTPAdapter:
    return canned_adapter


class RecordingHTTPConnection(urllib3.connection.HTTPConnection):
    """What ``vcrpy`` puts in the pools' ``ConnectionCls`` (here: records and carries on)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        patched_calls.append(url)
        return super().request(method, url, *args, **kwargs)


@pytest.mark.parametrize("patch", ["HTTPAdapter.send", "Session.get_adapter",
                                   "ConnectionCls"])
def test_a_patched_requests_gets_the_call(wire_server, oauth, monkeypatch, patch):
    server = wire_server(keep_alive(lambda n: answer(token_json("access-network"))))
    oauth.token_url = server.url + TOKEN
    patched_calls.clear()
    if patch == "HTTPAdapter.send":
        monkeypatch.setattr(HTTPAdapter, "send", patched_send)
    elif patch == "Session.get_adapter":
        monkeypatch.setattr(requests.Session, "get_adapter", patched_get_adapter)
    else:
        monkeypatch.setattr(transport.DeadlineHTTPConnectionPool, "ConnectionCls",
                            RecordingHTTPConnection)
    tokens = ProviderClient(oauth).refresh("refresh-0")
    assert len(patched_calls) == 1 and patched_calls[0].endswith(TOKEN)
    if patch == "ConnectionCls":  # the recording connection carried it to the server
        assert tokens.access_token == "access-network" and server.accepted == 1
    else:  # the canned answer, and nothing reached the network
        assert (tokens.access_token, tokens.refresh_token) == ("access-canned",
                                                                "refresh-canned")
        assert server.accepted == 0 and server.requests == []


def requests_mock_send(session: requests.Session, request: requests.PreparedRequest,
                       **kwargs: Any) -> requests.Response:
    """What ``requests-mock`` (1.x) puts in place of ``Session.send``: the session's
    ``get_adapter`` answers its own adapter while the real ``send`` runs."""
    setattr(session, "get_adapter", types.MethodType(patched_get_adapter, session))  # noqa: B010
    try:
        return real_session_send(session, request, **kwargs)
    finally:
        delattr(session, "get_adapter")


real_session_send = requests.Session.send


def test_a_requests_mock_style_patch_of_session_send_gets_the_call(wire_server, oauth,
                                                                   monkeypatch):
    server = wire_server(keep_alive(lambda n: answer(token_json("access-network"))))
    oauth.token_url = server.url + TOKEN
    patched_calls.clear()
    monkeypatch.setattr(requests.Session, "send", requests_mock_send)
    tokens = ProviderClient(oauth).refresh("refresh-0")
    assert tokens.access_token == "access-canned", "the network answered, not the mock"
    assert len(patched_calls) == 1 and server.accepted == 0


def test_wire_is_used_again_once_the_patch_is_gone(wire_server, oauth, monkeypatch):
    server = wire_server(keep_alive(numbered))
    oauth.token_url = server.url + TOKEN
    patched_calls.clear()
    with monkeypatch.context() as patching:
        patching.setattr(HTTPAdapter, "send", patched_send)
        assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-canned"
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-1"
    assert len(patched_calls) == 1 and server.accepted == 1
    assert requests_pools(server) == []


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
def test_a_forked_child_does_not_use_the_parents_idle_connections(wire_server, oauth):
    server = wire_server(keep_alive(numbered))
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


# --- the deadline ---------------------------------------------------------------------------

TRICKLES = {
    "head": (b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 100),
    "body": (answer(BODY)[:-len(BODY)], BODY),
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"1\r\n \r\n" * 15),
}


@pytest.mark.parametrize("part", list(TRICKLES))
def test_a_trickling_answer_ends_at_the_deadline(wire_server, oauth, settings, part):
    """One byte every 0.2 s never trips a per-read timeout; the call still ends at 0.5 s."""
    settings.EULER_OAUTH_HTTP_TIMEOUT = 0.5
    first, rest = TRICKLES[part]

    def trickle(link: Link) -> None:
        if link.request() is None:
            return
        link.send(first)
        for index in range(min(len(rest), 100)):  # at most 20 s if the client never gives up
            if link.server.stopped.is_set():
                return
            link.send(rest[index:index + 1])
            time.sleep(0.2)

    server = wire_server(trickle)
    oauth.token_url = server.url + TOKEN
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        ProviderClient(oauth).refresh("refresh-0")
    elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"the call took {elapsed:.1f} s with a 0.5 s timeout"
    assert requests_pools(server) == []  # wire's deadline, not requests'
    assert len(server.requests) == 1


@pytest.mark.parametrize("tls", [False, True])
def test_a_request_larger_than_the_socket_buffers_is_sent_whole(wire_server, oauth, pki,
                                                                monkeypatch, tls):
    """The socket is non-blocking: a send that fills the buffers waits for the peer."""
    refresh_token = "r" * (8 * 1024 * 1024)
    lengths = []

    def slow_reader(link: Link) -> None:
        time.sleep(0.3)  # the client's sends block meanwhile
        request = link.request()
        if request is not None:
            lengths.append(len(request.partition(b"\r\n\r\n")[2]))
            link.send(numbered(1))

    server = wire_server(slow_reader, tls=pki.ip_context if tls else None)
    monkeypatch.setattr(get_session(), "verify", str(pki.ca_file))
    oauth.token_url = server.url + TOKEN
    assert ProviderClient(oauth).refresh(refresh_token).access_token == "access-1"
    assert lengths and lengths[0] > len(refresh_token)  # the whole form arrived
    assert requests_pools(server) == []


def test_a_peer_that_never_reads_ends_the_call_at_the_deadline(wire_server, oauth, settings):
    settings.EULER_OAUTH_HTTP_TIMEOUT = 0.5
    server = wire_server(lambda link: link.server.stopped.wait(WAIT))  # reads nothing
    oauth.token_url = server.url + TOKEN
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        ProviderClient(oauth).refresh("r" * (64 * 1024 * 1024))
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"the call took {elapsed:.1f} s with a 0.5 s timeout"
    assert requests_pools(server) == []


@pytest.mark.parametrize("url", ["not a url", "http://", "ftp-less://host/token"])
def test_a_token_url_that_is_no_url_is_a_transport_error(oauth, url):
    """Before any byte is sent: requests' own URL errors become TransportError, typed."""
    oauth.token_url = url
    with pytest.raises(TransportError, match="failed: "):
        ProviderClient(oauth).refresh("refresh-0")
