"""The eulerapisdk helper: Euler's own SDK with a connection's token and our outcomes.

Real HTTP on loopback (the scripted provider) and the sandbox; the SDK itself
(eulerapisdk 0.5.0, httpx) makes the requests. The 16-thread race runs on
PostgreSQL (``-m postgres``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from EulerApiSdk.api.tik_tok_live_moderation import mute_room_user, retrieve_room_muted_users
from EulerApiSdk.api.tik_tok_live_rooms import fetch_webcast_url
from EulerApiSdk.models.room_mute_user_api_response import RoomMuteUserAPIResponse

from django_euler_oauth import sdk
from django_euler_oauth.client import BinaryAnswer
from django_euler_oauth.endpoints import SPEC_SCOPES
from django_euler_oauth.errors import (
    InvalidToken,
    MalformedResponse,
    RateLimited,
    ResponseTooLarge,
    RetryableError,
    ServerError,
    SessionExpired,
    TemporarilyUnavailable,
    TransportError,
)
from django_euler_oauth.models import Connection

from .support.loopback import Answer, Received, RotatingTokenEndpoint
from .support.raw_server import Link, RawServer
from .support.sandbox_fixtures import SAMPLES, SANDBOX_DATABASES, connect_all_scopes
from .support.threads import in_threads

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
MUTES = "/webcast/rooms/r1/moderation/mutes"
CONNECT = "/webcast/rooms/r1/connect"
OK = {"code": 200, "message": "ok"}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def conn(oauth: Any, user: Any, make_connection: Any, settings: Any) -> Connection:
    oauth.token_transport = "x-oauth-token"
    oauth.api_key = "acct-key-1234"
    oauth.save()
    connection = make_connection(user, oauth, scope=" ".join(SPEC_SCOPES))
    return Connection.objects.select_related("client").get(pk=connection.pk)


def test_call_sends_key_and_token_and_returns_the_sdk_model(provider, conn):
    provider.queue(MUTES, Answer(200, OK))
    answer = sdk.call(conn, mute_room_user, "r1", user_id="u-7")
    assert isinstance(answer, RoomMuteUserAPIResponse) and answer.code == 200
    [sent] = provider.received
    assert (sent.method, sent.path, sent.query) == ("PUT", MUTES, {"user_id": ["u-7"]})
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["x-api-key"] == "acct-key-1234"
    assert headers["x-oauth-token"] == "access-0"
    # The function itself works as well as its module.
    provider.queue(MUTES, Answer(200, OK))
    assert sdk.call(conn, mute_room_user.sync_detailed, "r1", user_id="u-7").code == 200


def test_token_expired_refreshes_once_and_retries(provider, conn, recorder):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    provider.queue(MUTES, Answer(401, {"code": 401, "error": {"error": "token_expired"}}),
                   Answer(200, OK))
    assert sdk.call(conn, mute_room_user, "r1", user_id="u").code == 200
    sent = [r.headers.get("x-oauth-token") for r in provider.requests_to(MUTES)]
    assert sent == ["access-0", "access-1"]
    assert len(provider.requests_to(TOKEN)) == 1
    assert recorder.count("token_refreshed") == 1


def test_session_expired_revokes_and_clears(provider, conn, recorder):
    provider.default(REVOKE, Answer(200, {}))
    provider.queue(MUTES, Answer(401, {"error": "session_expired",
                                       "error_description": "TikTok session ended"}))
    with pytest.raises(SessionExpired):
        sdk.call(conn, mute_room_user, "r1", user_id="u")
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert stored.access_token == "" and stored.refresh_token == ""
    assert len(provider.requests_to(REVOKE)) == 2
    assert recorder.count("reauthorization_required") == 1


def test_invalid_token_requires_reauthorization(provider, conn):
    provider.queue(MUTES, Answer(401, {"error": "invalid_token"}))
    with pytest.raises(InvalidToken):
        sdk.call(conn, mute_room_user, "r1", user_id="u")
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert stored.access_token == "access-0"  # kept: only the status says it is dead


def test_429_and_503_retry_bounded_honouring_reset(provider, conn, settings):
    settings.EULER_OAUTH_API_MAX_RETRIES = 2
    provider.queue(MUTES, Answer(429, {"code": 429, "message": "slow down"},
                                 headers={"RateLimit-Reset": "3"}),
                   Answer(503, {"code": 503, "message": "busy"}), Answer(200, OK))
    sleeps = Sleeps()
    assert sdk.call(conn, mute_room_user, "r1", user_id="u", sleep=sleeps).code == 200
    assert sleeps == [3.0, 1.0]
    provider.default(MUTES, Answer(429, {"code": 429, "message": "slow down"}))
    with pytest.raises(RateLimited):
        sdk.call(conn, mute_room_user, "r1", user_id="u", sleep=Sleeps())
    assert len(provider.requests_to(MUTES)) == 3 + 3


@pytest.mark.parametrize(("answer", "cls"), [
    (Answer(500, {"code": 500, "message": "boom"}), ServerError),
    (Answer(503, {"code": 503, "message": "down"}), TemporarilyUnavailable),
    (Answer(200, {"message": "no code"}), MalformedResponse),
    (Answer(reset=True), RetryableError),
])
def test_failures_are_our_retryable_family(provider, conn, settings, answer, cls):
    settings.EULER_OAUTH_API_MAX_RETRIES = 0
    provider.queue(MUTES, answer)
    with pytest.raises(cls) as caught:
        sdk.call(conn, mute_room_user, "r1", user_id="u")
    assert isinstance(caught.value, RetryableError)
    assert "acct-key-1234" not in str(caught.value) and "access-0" not in str(caught.value)
    # Nothing chained: httpx's exception (its request holds the token and key) never
    # reaches an error report through __cause__ or __context__.
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_binary_answer(provider, conn):
    provider.queue(CONNECT, Answer(200, b"\x08\x96\x01",
                                   headers={"Content-Type": "application/x-protobuf"}))
    answer = sdk.call(conn, fetch_webcast_url, "r1")
    assert isinstance(answer, BinaryAnswer)
    assert answer.content == b"\x08\x96\x01" and answer.content_type == "application/x-protobuf"


def test_euler_sdk_gives_client_and_fresh_token(provider, oauth, user, make_connection):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    conn = make_connection(user, oauth, expires_in=10)  # within the refresh leeway
    client, token = sdk.euler_sdk(conn)
    assert token == "access-1"  # refreshed before handing it out
    provider.queue(MUTES, Answer(200, OK))
    with client:
        response = mute_room_user.sync_detailed("r1", client=client, user_id="u",
                                                x_oauth_token=token)
    assert response.parsed.code == 200
    assert "x-api-key" not in {k.lower() for k in provider.requests_to(MUTES)[0].headers}


# --- the same deadline and size limit as our own calls --------------------------------

@pytest.fixture
def raw_conn(make_client: Any, make_connection: Any, user: Any,
             settings: Any) -> Callable[[RawServer], Connection]:
    settings.EULER_OAUTH_API_MAX_RETRIES = 0

    def make(server: RawServer) -> Connection:
        oauth = make_client(base=server.url, token_transport="x-oauth-token",
                            api_key="acct-key-1234")
        connection = make_connection(user, oauth, scope=" ".join(SPEC_SCOPES))
        return Connection.objects.select_related("client").get(pk=connection.pk)
    return make


def head(length: int | None) -> bytes:
    size = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{size}\r\n"
            "Connection: close\r\n\r\n").encode()


def sdk_call_times_out(connection: Connection) -> None:
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out"):
        sdk.call(connection, mute_room_user, "r1", user_id="u")
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"the SDK call took {elapsed:.1f} s with a 1 s timeout"


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_trickling_answer_ends_the_sdk_call_at_the_deadline(raw_server, raw_conn, settings,
                                                              part):
    """One byte every 0.2 s never trips httpx's per-read timeout of 1 s; the call as a
    whole still ends at 1 s (before, it lasted as long as the provider liked)."""
    settings.EULER_OAUTH_HTTP_TIMEOUT = 1.0
    body = b'{"code": 200, "message": "ok"}' * 4
    first, rest = (b"", head(len(body)) + body) if part == "head" else (head(len(body)), body)

    def trickle(link: Link) -> None:
        if link.request() is None:
            return
        link.send(first)
        for index in range(min(len(rest), 100)):  # at most 20 s if the client never gives up
            if link.server.stopped.is_set():
                return
            link.send(rest[index:index + 1])
            time.sleep(0.2)

    server = raw_server(trickle)
    sdk_call_times_out(raw_conn(server))
    assert len(server.requests) == 1


def test_an_announced_huge_answer_is_refused_unread_by_the_sdk_call(raw_server, raw_conn):
    def huge(link: Link) -> None:
        if link.request() is None:
            return
        link.send(head(300 * 1024 * 1024))
        for _ in range(64):  # up to 4 MiB, then give up
            link.send(b" " * 65536)

    server = raw_server(huge)
    with pytest.raises(ResponseTooLarge):
        sdk.call(raw_conn(server), mute_room_user, "r1", user_id="u")


def test_a_streamed_huge_answer_is_cut_at_the_limit_in_the_sdk_call(raw_server, raw_conn,
                                                                    settings):
    """Chunked, no length announced: read up to the limit, then stop."""
    settings.EULER_OAUTH_MAX_RESPONSE_BYTES = 256 * 1024
    block = b" " * 65536
    chunk = f"{len(block):x}\r\n".encode() + block + b"\r\n"

    def stream(link: Link) -> None:
        if link.request() is None:
            return
        link.send(head(None))
        for _ in range(512):  # 32 MiB on offer
            link.send(chunk)

    server = raw_server(stream)
    with pytest.raises(ResponseTooLarge):
        sdk.call(raw_conn(server), mute_room_user, "r1", user_id="u")
    time.sleep(0.2)
    assert server.sent < 8 * 1024 * 1024, "the SDK call kept reading past the limit"


def test_the_sdk_call_goes_through_the_process_wide_session(raw_server, raw_conn):
    """Kept alive between calls (one connection), sent with our User-Agent and key."""
    from .support.raw_server import answer, keep_alive

    server = raw_server(keep_alive(lambda n: answer(b'{"code": 200, "message": "ok"}')))
    connection = raw_conn(server)
    for _ in range(2):
        assert sdk.call(connection, mute_room_user, "r1", user_id="u").code == 200
    assert server.accepted == 1 and len(server.requests) == 2
    head_lines = server.requests[0].partition(b"\r\n\r\n")[0].lower()
    assert b"x-api-key: acct-key-1234" in head_lines
    assert b"user-agent: django-euler-oauth/" in head_lines


# --- 16 concurrent calls on one connection: exactly one refresh ----------------------

def _expired_token_api(request: Received) -> Answer:
    if request.headers.get("x-oauth-token") == "access-0":
        return Answer(401, {"code": 401, "error": {"error": "token_expired"}})
    return Answer(200, OK)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_16_threads_token_expired_one_refresh_on_postgres(provider, conn):
    from django.db import connection as db

    assert db.vendor == "postgresql"
    refreshes = RotatingTokenEndpoint("refresh-0", delay=0.2)
    provider.handle(TOKEN, refreshes)
    provider.handle(MUTES, _expired_token_api)
    threads = 16

    def work() -> Any:
        mine = Connection.objects.select_related("client").get(pk=conn.pk)
        return sdk.call(mine, mute_room_user, "r1", user_id="u").code

    results = in_threads(threads, work, timeout=90)
    assert results == [200] * threads
    assert refreshes.issued == 1 and refreshes.rejected == 0
    assert len(provider.requests_to(TOKEN)) == 1
    assert Connection.objects.get(pk=conn.pk).refresh_token == "refresh-1"


# --- against the sandbox --------------------------------------------------------------

@pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)
def test_sdk_against_the_sandbox_with_refresh(client, user, make_sandbox_oauth,
                                              sandbox_browser):
    from django_euler_oauth.sandbox import controls

    conn = connect_all_scopes(client, user, make_sandbox_oauth, sandbox_browser)
    answer = sdk.call(conn, retrieve_room_muted_users, SAMPLES["room_id"])
    assert answer.code == 200
    tokens = controls.call_count("token")
    assert controls.expire_access_tokens(unique_id="sandbox_streamer") == 1
    assert sdk.call(conn, mute_room_user, SAMPLES["room_id"], user_id="7").code == 200
    assert controls.call_count("token") == tokens + 1
    assert isinstance(sdk.call(conn, fetch_webcast_url, SAMPLES["room_id"]), BinaryAnswer)


def test_the_sdk_clients_async_functions_go_through_the_same_client(provider, conn):
    """``euler_sdk``'s client also serves the SDK's ``asyncio_detailed`` functions."""
    import asyncio

    client, token = sdk.euler_sdk(conn)
    provider.queue(MUTES, Answer(200, OK))

    async def mute() -> Any:
        async with client:
            return await mute_room_user.asyncio_detailed("r1", client=client, user_id="u",
                                                         x_oauth_token=token)

    response = asyncio.run(mute())
    assert response.status_code == 200 and response.parsed.code == 200
    [sent] = provider.requests_to(MUTES)
    assert sent.headers.get("x-oauth-token") == "access-0"
    assert sent.headers.get("User-Agent", "").startswith("django-euler-oauth/")
