"""A deadline on the whole answer, a size limit, and Content-Length enforced.

Real sockets on 127.0.0.1: a raw server that trickles bytes, announces or streams
huge bodies, or closes before the promised length. Nothing in the library is
patched; the deadline and the limit are the library's own settings.
"""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
import requests

from django_euler_oauth.client import BinaryAnswer, ProviderClient
from django_euler_oauth.errors import (
    EulerOAuthError,
    MalformedResponse,
    ResponseTooLarge,
    TransportError,
)
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection
from django_euler_oauth.revocation import revoke_tokens

from .support.loopback import Answer, token_body
from .support.raw_server import Link, answering, response_head

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"


# --- an overall deadline ---------------------------------------------------------------

@pytest.fixture
def expired(make_client: Any, make_connection: Any, user: Any) -> Callable[[str], Connection]:
    def make(base: str) -> Connection:
        return make_connection(user, make_client(base=base), expires_in=-5)
    return make


def refresh_times_out(connection: Connection) -> Connection:
    """Refresh ``connection`` against a trickling provider: a timeout within ~1 s."""
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        refresh_connection(connection)
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"the refresh took {elapsed:.1f} s with a 1 s timeout"
    return connection


def test_a_trickling_refresh_answer_ends_within_the_timeout(raw_server, expired, settings,
                                                             recorder):
    """One byte every 0.2 s never trips a per-read timeout of 1 s; the call must end in ~1 s
    all the same (it held the refresh, and the connection's lock, for 20 s before)."""
    settings.EULER_OAUTH_HTTP_TIMEOUT = 1.0
    body = b'{"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600}' * 2

    def trickle(link: Link) -> None:
        link.send(response_head(len(body)))
        for byte in body[:100]:  # at most 20 s, so a broken build fails instead of hanging
            link.send(bytes([byte]))
            time.sleep(0.2)

    server = raw_server(answering(trickle))
    connection = refresh_times_out(expired(server.url))
    assert recorder.count("refresh_failed") == 1 and len(recorder.events) == 1
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token, row.status) == ("access-0", "refresh-0",
                                                                 "active")


def test_trickling_chunked_answer_also_ends_within_the_timeout(raw_server, oauth, settings):
    settings.EULER_OAUTH_HTTP_TIMEOUT = 1.0

    def trickle(link: Link) -> None:
        link.send(response_head(None))
        for _ in range(100):
            link.send(b"1\r\n \r\n")
            time.sleep(0.2)

    server = raw_server(answering(trickle))
    oauth.token_url = server.url + TOKEN
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        ProviderClient(oauth).refresh("refresh-0")
    assert time.monotonic() - started < 2.5


def test_trickling_status_line_and_headers_also_end_within_the_timeout(raw_server, expired,
                                                                       settings):
    """Each byte of the status line and headers arrives well within the per-read timeout;
    the call must still end at its deadline (the body's watchdog had not started yet)."""
    settings.EULER_OAUTH_HTTP_TIMEOUT = 1.0
    head = response_head(20) + b"x" * 20

    def trickle(link: Link) -> None:
        for byte in head[:100]:  # at most 20 s, so a broken build fails instead of hanging
            link.send(bytes([byte]))
            time.sleep(0.2)

    server = raw_server(answering(trickle))
    refresh_times_out(expired(server.url))


def test_a_fast_answer_is_not_cut(provider, oauth, settings):
    settings.EULER_OAUTH_HTTP_TIMEOUT = 1.0
    provider.queue(TOKEN, Answer(200, token_body("access-9", "refresh-9"), delay=0.5))
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-9"


def test_the_connection_is_reused_after_a_complete_answer(provider, oauth):
    """Reading the body ourselves must still give the connection back to the pool."""
    provider.default(TOKEN, Answer(200, token_body()))
    session = requests.Session()
    client = ProviderClient(oauth, session=session)
    for _ in range(3):
        client.refresh("refresh-0")
    pools = session.get_adapter(provider.url).poolmanager.pools
    opened = sum(pools[key].num_connections for key in pools.keys())
    assert opened == 1, f"{opened} connections for 3 answers"


# --- a size limit ----------------------------------------------------------------------

def test_an_announced_huge_answer_is_refused_unread(raw_server, expired, recorder):
    def huge(link: Link) -> None:
        link.send(response_head(300 * 1024 * 1024))
        block = b" " * 65536
        for _ in range(64):  # up to 4 MiB, then give up
            link.send(block)

    server = raw_server(answering(huge))
    connection = expired(server.url)
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge) as caught:
            refresh_connection(connection)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(caught.value, MalformedResponse) and caught.value.is_retryable
    assert peak < 2 * 1024 * 1024, f"{peak} bytes allocated to refuse it"
    assert recorder.count("refresh_failed") == 1 and len(recorder.events) == 1


def test_a_streamed_huge_answer_is_refused_after_the_limit(raw_server, oauth, settings):
    """No Content-Length (chunked): read up to the limit, then stop."""
    settings.EULER_OAUTH_MAX_RESPONSE_BYTES = 256 * 1024
    block = b" " * 65536
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"

    def stream(link: Link) -> None:
        link.send(response_head(None))
        for _ in range(512):  # 32 MiB on offer
            link.send(chunk)

    server = raw_server(answering(stream))
    oauth.token_url = server.url + TOKEN
    tracemalloc.start()
    try:
        with pytest.raises(ResponseTooLarge):
            ProviderClient(oauth).refresh("refresh-0")
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"{peak} bytes allocated"
    time.sleep(0.2)
    assert server.sent < 8 * 1024 * 1024, "the client kept reading past the limit"


def test_a_compressed_bomb_is_refused(raw_server, oauth, settings):
    import gzip

    settings.EULER_OAUTH_MAX_RESPONSE_BYTES = 64 * 1024
    bomb = gzip.compress(b" " * (16 * 1024 * 1024))

    def send_bomb(link: Link) -> None:
        link.send(response_head(len(bomb), extra="Content-Encoding: gzip"))
        link.send(bomb)

    server = raw_server(answering(send_bomb))
    oauth.token_url = server.url + TOKEN
    with pytest.raises(ResponseTooLarge):
        ProviderClient(oauth).refresh("refresh-0")


def test_binary_answers_have_their_own_limit(provider, oauth, settings):
    settings.EULER_OAUTH_MAX_RESPONSE_BYTES = 64 * 1024
    settings.EULER_OAUTH_MAX_BINARY_RESPONSE_BYTES = 256 * 1024
    payload = b"\x08\x01" * (50 * 1024)  # 100 KiB
    provider.default("/webcast/connect", Answer(200, payload))
    client = ProviderClient(oauth)
    answer = client.api_call("GET", "/webcast/connect", "access-0", binary=True)
    assert isinstance(answer, BinaryAnswer) and answer.content == payload
    with pytest.raises(ResponseTooLarge):
        client.api_call("GET", "/webcast/connect", "access-0")  # a JSON answer: 64 KiB
    settings.EULER_OAUTH_MAX_BINARY_RESPONSE_BYTES = 64 * 1024
    with pytest.raises(ResponseTooLarge):
        client.api_call("GET", "/webcast/connect", "access-0", binary=True)


# --- Content-Length (requests 2.28 / urllib3 1.26 themselves accept a short body) ------

def _short(status: str, promised: int, sent: bytes) -> Callable[[Link], None]:
    @answering
    def script(link: Link) -> None:
        link.send(response_head(promised, status=status) + sent)
        link.sock.shutdown(socket.SHUT_WR)  # close early
    return script


def test_a_truncated_token_answer_is_a_transport_error(raw_server, oauth):
    body = b'{"access_token": "access-1", "token_type": "Bearer", "expires_in": 3600}'
    # A complete JSON object, but fewer bytes than promised: it must not be accepted.
    server = raw_server(_short("200 OK", len(body) + 40, body))
    oauth.token_url = server.url + TOKEN
    with pytest.raises(TransportError, match="ended after"):
        ProviderClient(oauth).refresh("refresh-0")


def test_a_truncated_revoke_is_not_a_success(raw_server, make_client):
    server = raw_server(_short("200 OK", 20, b""))
    client = make_client(base=server.url)
    with pytest.raises(TransportError):
        ProviderClient(client).revoke("access-0", "access_token")
    assert revoke_tokens(client, "access-0", "refresh-0") is False


def test_a_complete_empty_revoke_is_still_a_success(provider, make_client):
    provider.default(REVOKE, Answer(200, ""))
    client = make_client(base=provider.url)
    assert revoke_tokens(client, "access-0", "refresh-0") is True


# --- nothing sent (form body, credentials) is kept on the answer ------------------------

def test_errors_keep_neither_the_request_body_nor_credential_headers(provider, oauth):
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant"}))
    with pytest.raises(EulerOAuthError) as caught:  # EulerOAuthError
        ProviderClient(oauth).refresh("refresh-secret-xyz")
    response = caught.value.response
    assert response is not None and response.request.body is None
    provider.queue("/webcast/fetch", Answer(401, {"error": "invalid_token"}))
    with pytest.raises(EulerOAuthError) as caught:
        ProviderClient(oauth).api_call("GET", "/webcast/fetch", "access-secret-xyz")
    request = caught.value.response.request
    assert "access-secret-xyz" not in repr(dict(request.headers))
    assert request.body is None


def test_transport_errors_are_not_chained_to_requests(oauth, settings):
    """A chained requests exception keeps its frames, whose locals hold the body."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    oauth.token_url = f"http://127.0.0.1:{port}{TOKEN}"
    with pytest.raises(TransportError) as caught:
        ProviderClient(oauth).refresh("refresh-0")
    assert caught.value.__cause__ is None and caught.value.__context__ is None
