"""The browser's socket for LIVE events (:mod:`django_euler_oauth.live.consumers`).

Against a real ASGI server on loopback (uvicorn in a thread serving :mod:`tests.asgi`,
where the socket is ``/live/live/<connection pk>/`` behind ``AuthMiddlewareStack``), with
a browser's session cookie (the test client's ``force_login``) handed to Python's
``websockets`` client. Events are published to the connection's channel layer group as
the relay does; the in-memory layer by default, a real Redis when ``EULER_REDIS_SERVER``
is set. Who is refused is refused before the handshake (the client sees HTTP 403); an
accepted socket that loses access is closed with 4403 within seconds.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from django_euler_oauth import teams
from django_euler_oauth.live.consumers import LiveEventsConsumer
from django_euler_oauth.live.events import group_name
from django_euler_oauth.models import Connection, Delegation
from django_euler_oauth.revocation import disconnect

from .support.asgi_server import AsgiServer, serving
from .support.loopback import Answer
from .support.sandbox_fixtures import SANDBOX_DATABASES

pytestmark = pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)

WAIT = 5.0

CHAT = {"type": "WebcastChatMessage",
        "data": {"common": {"msgId": "7001", "roomId": "7300", "createTime": "1"},
                 "user": {"userId": "7100", "uniqueId": "viewer", "nickname": "Viewer"},
                 "comment": "hello ✓"}}
LIKE = {"type": "WebcastLikeMessage",
        "data": {"common": {"msgId": "7002"}, "user": {"userId": "7101"}, "likeCount": 5,
                 "totalLikeCount": 20}}


# -- fixtures and helpers -----------------------------------------------------------------

@pytest.fixture(params=["memory", "redis"])
def layer(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    """The channel layer: in-memory (the test settings'), or a real Redis when
    ``EULER_REDIS_SERVER`` names a ``redis-server``."""
    if request.param == "memory":
        yield "memory"
        return
    binary = os.environ.get("EULER_REDIS_SERVER")
    if not binary or not os.path.exists(binary):
        pytest.skip("EULER_REDIS_SERVER is not set: no real Redis for the channel layer")
    from .support.celery_support import RedisServer

    redis = RedisServer(binary)
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s timeout by default, which ends the layer's
        # blocking receive: none here, as the docs tell sites.
        "CONFIG": {"hosts": [{"address": redis.url, "socket_timeout": None}]}}}
    try:
        yield "redis"
    finally:
        redis.stop()


@pytest.fixture
def server() -> Iterator[AsgiServer]:
    with serving() as running:
        yield running


@pytest.fixture
def slow_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sockets' timer out of the way: only ``live.recheck`` can close them."""
    monkeypatch.setattr(LiveEventsConsumer, "recheck_interval", 120.0)


@pytest.fixture
def fast_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LiveEventsConsumer, "recheck_interval", 0.3)


@pytest.fixture
def owned(oauth: Any, user: Any, make_connection: Any, provider: Any) -> Connection:
    """``user``'s connection to @streamer, granting webcast:fetch and chat."""
    provider.default("/tiktok/oauth/revoke", Answer(200, {}))
    return make_connection(user, oauth, scope="webcast:fetch webcast:chat",
                           external_username="streamer")


def session_cookie(user: Any) -> str:
    """A browser's session cookie, signed in as ``user``."""
    browser = Client()
    browser.force_login(user)
    return browser.cookies[django_settings.SESSION_COOKIE_NAME].value


def socket_url(server: AsgiServer, pk: object) -> str:
    return f"{server.ws_url}/live/live/{pk}/"


def open_socket(server: AsgiServer, pk: object, cookie: str | None = None,
                **headers: str) -> ClientConnection:
    if cookie:
        headers["Cookie"] = f"{django_settings.SESSION_COOKIE_NAME}={cookie}"
    return connect(socket_url(server, pk), additional_headers=headers or None,
                   open_timeout=WAIT, close_timeout=2)


def refused_status(server: AsgiServer, pk: object, cookie: str | None = None) -> int:
    """The HTTP status a refused socket's handshake gets (it is never accepted)."""
    with pytest.raises(InvalidStatus) as refused:
        open_socket(server, pk, cookie).close()
    return refused.value.response.status_code


def publish(server: AsgiServer, pk: int, *messages: dict[str, Any]) -> None:
    """What the relay does with a frame's events: one group message."""
    layer = get_channel_layer()
    server.call(async_to_sync(layer.group_send), group_name(pk),
                {"type": "live.events", "messages": list(messages)})


def next_frame(socket: ClientConnection, timeout: float = WAIT) -> Any:
    return json.loads(socket.recv(timeout=timeout))


def close_code(socket: ClientConnection, timeout: float = WAIT) -> int | None:
    """The close code the server sends (frames before it are skipped)."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            socket.recv(timeout=max(0.01, deadline - time.monotonic()))
    return closed.value.rcvd.code if closed.value.rcvd else None


def closed_within(socket: ClientConnection, seconds: float) -> tuple[int | None, float]:
    started = time.monotonic()
    code = close_code(socket, timeout=seconds)
    return code, time.monotonic() - started


# -- who hears the room -------------------------------------------------------------------

def test_the_owner_receives_each_group_message_as_eulers_frame(
        layer: str, server: AsgiServer, owned: Connection, user: Any) -> None:
    with open_socket(server, owned.pk, session_cookie(user)) as socket:
        publish(server, owned.pk, CHAT, LIKE)
        frame = next_frame(socket)
        # Euler's own frame with bundleEvents: front-end code written for its SDK reads it.
        assert frame == {"messages": [CHAT, LIKE]}
        publish(server, owned.pk, LIKE)
        assert next_frame(socket) == {"messages": [LIKE]}


def test_each_socket_hears_only_its_own_connection(
        server: AsgiServer, owned: Connection, user: Any, oauth: Any,
        make_connection: Any, django_user_model: Any) -> None:
    other_user = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    other = make_connection(other_user, oauth, external_username="other")
    with open_socket(server, owned.pk, session_cookie(user)) as mine, \
            open_socket(server, other.pk, session_cookie(other_user)) as theirs:
        publish(server, other.pk, LIKE)
        publish(server, owned.pk, CHAT)
        assert next_frame(mine) == {"messages": [CHAT]}
        assert next_frame(theirs) == {"messages": [LIKE]}
        with pytest.raises(TimeoutError):
            mine.recv(timeout=0.3)


def test_a_delegate_holding_webcast_fetch_receives_them_too(
        layer: str, server: AsgiServer, owned: Connection, user: Any, moderator: Any) -> None:
    teams.grant(owned, moderator, "webcast:fetch", by=user)
    with open_socket(server, owned.pk, session_cookie(moderator)) as socket:
        publish(server, owned.pk, CHAT)
        assert next_frame(socket) == {"messages": [CHAT]}


def test_the_owner_hears_the_room_even_without_the_webcast_fetch_scope(
        server: AsgiServer, oauth: Any, user: Any, make_connection: Any) -> None:
    # The relay listens with the site's API key: the owner's own room needs no OAuth scope.
    connection = make_connection(user, oauth, scope="webcast:chat", external_username="s2")
    with open_socket(server, connection.pk, session_cookie(user)) as socket:
        publish(server, connection.pk, CHAT)
        assert next_frame(socket) == {"messages": [CHAT]}


@pytest.mark.parametrize("who", ["delegate without webcast:fetch", "stranger", "anonymous",
                                 "expired delegation"])
def test_anyone_else_is_refused_before_the_handshake(
        server: AsgiServer, owned: Connection, user: Any, moderator: Any,
        django_user_model: Any, who: str) -> None:
    cookie: str | None = None
    if who == "delegate without webcast:fetch":
        teams.grant(owned, moderator, "webcast:chat", by=user)
        cookie = session_cookie(moderator)
    elif who == "expired delegation":
        delegation = teams.grant(owned, moderator, "webcast:fetch", by=user)
        Delegation.objects.filter(pk=delegation.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1))
        cookie = session_cookie(moderator)
    elif who == "stranger":
        cookie = session_cookie(django_user_model.objects.create_user("eve", "e@x.org", "pw"))
    # Uvicorn answers the upgrade with HTTP 403: a browser sees an error event, then a
    # close event with code 1006 (the consumer's 4403 is not sent before a handshake).
    assert refused_status(server, owned.pk, cookie) == 403


@pytest.mark.parametrize("pk", ["unknown", "0", "99999999999999999999", "abc", "-1", "1.5"])
def test_an_unknown_or_malformed_id_is_refused(server: AsgiServer, owned: Connection,
                                               user: Any, pk: str) -> None:
    target = owned.pk + 1000 if pk == "unknown" else pk
    # A malformed id matches no route: Channels refuses it before any consumer, as 403.
    assert refused_status(server, target, session_cookie(user)) == 403


def test_an_inactive_connection_is_refused_even_to_its_owner(
        server: AsgiServer, owned: Connection, user: Any) -> None:
    Connection.objects.filter(pk=owned.pk).update(
        status=Connection.Status.REAUTHORIZATION_REQUIRED)
    assert refused_status(server, owned.pk, session_cookie(user)) == 403


def test_a_refused_socket_is_in_no_group(server: AsgiServer, owned: Connection,
                                         moderator: Any) -> None:
    assert refused_status(server, owned.pk, session_cookie(moderator)) == 403
    layer = get_channel_layer()
    assert not layer.groups.get(group_name(owned.pk))


# -- losing access ------------------------------------------------------------------------

def test_revoking_the_delegation_closes_an_open_socket_at_once(
        layer: str, slow_recheck: None, server: AsgiServer, owned: Connection, user: Any,
        moderator: Any) -> None:
    delegation = teams.grant(owned, moderator, "webcast:fetch", by=user)
    with open_socket(server, owned.pk, session_cookie(moderator)) as delegate, \
            open_socket(server, owned.pk, session_cookie(user)) as owner:
        # As the team page does it: in a view of the server (its on_commit reaches the
        # layer), the timer far away.
        server.call(teams.revoke, delegation, by=user)
        code, took = closed_within(delegate, WAIT)
        assert code == 4403 and took < 3
        publish(server, owned.pk, CHAT)  # the owner's socket stays
        assert next_frame(owner) == {"messages": [CHAT]}


def test_disconnecting_closes_every_open_socket(
        layer: str, slow_recheck: None, server: AsgiServer, owned: Connection, user: Any,
        moderator: Any) -> None:
    teams.grant(owned, moderator, "webcast:fetch", by=user)
    with open_socket(server, owned.pk, session_cookie(moderator)) as delegate, \
            open_socket(server, owned.pk, session_cookie(user)) as owner:
        server.call(disconnect, Connection.objects.get(pk=owned.pk))
        assert closed_within(owner, WAIT)[0] == 4403
        assert closed_within(delegate, WAIT)[0] == 4403
    assert refused_status(server, owned.pk, session_cookie(user)) == 403


def test_the_timer_notices_what_no_signal_says(
        fast_recheck: None, server: AsgiServer, owned: Connection, user: Any,
        moderator: Any) -> None:
    delegation = teams.grant(owned, moderator, "webcast:fetch", by=user)
    with open_socket(server, owned.pk, session_cookie(moderator)) as socket:
        # A delegation running out sends no signal (nor does a row changed behind the
        # app's back): the socket's own timer closes it.
        Delegation.objects.filter(pk=delegation.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1))
        code, took = closed_within(socket, WAIT)
        assert code == 4403 and took < 3


def test_signing_out_closes_the_socket(fast_recheck: None, server: AsgiServer,
                                       owned: Connection, user: Any) -> None:
    browser = Client()
    browser.force_login(user)
    cookie = browser.cookies[django_settings.SESSION_COOKIE_NAME].value
    with open_socket(server, owned.pk, cookie) as socket:
        publish(server, owned.pk, CHAT)
        assert next_frame(socket) == {"messages": [CHAT]}
        browser.logout()
        assert not Session.objects.filter(session_key=cookie).exists()
        assert closed_within(socket, WAIT)[0] == 4403


def test_a_recheck_that_finds_access_keeps_the_socket(
        slow_recheck: None, server: AsgiServer, owned: Connection, user: Any) -> None:
    with open_socket(server, owned.pk, session_cookie(user)) as socket:
        layer = get_channel_layer()
        server.call(async_to_sync(layer.group_send), group_name(owned.pk),
                    {"type": "live.recheck"})
        publish(server, owned.pk, CHAT)
        assert next_frame(socket) == {"messages": [CHAT]}


# -- what the browser sends ---------------------------------------------------------------

def test_frames_from_the_browser_are_ignored(server: AsgiServer, owned: Connection,
                                             user: Any) -> None:
    with open_socket(server, owned.pk, session_cookie(user)) as socket:
        for text in ("ping", json.dumps({"type": "live.events", "messages": [LIKE]}),
                     json.dumps({"type": "live.recheck"})):
            socket.send(text)
        socket.send(b"\x00\x01")
        publish(server, owned.pk, CHAT)
        assert next_frame(socket) == {"messages": [CHAT]}  # nothing echoed, nothing else
        with pytest.raises(TimeoutError):
            socket.recv(timeout=0.3)


def test_a_large_frame_from_the_browser_closes_the_socket(
        server: AsgiServer, owned: Connection, user: Any) -> None:
    with open_socket(server, owned.pk, session_cookie(user)) as socket:
        socket.send("x" * 5000)
        assert close_code(socket) == 1009


def test_a_flood_of_frames_from_the_browser_closes_the_socket(
        server: AsgiServer, owned: Connection, user: Any) -> None:
    with open_socket(server, owned.pk, session_cookie(user)) as socket:
        for _ in range(31):
            socket.send("{}")
        assert close_code(socket) == 1008


def test_without_a_channel_layer_every_socket_is_refused(
        settings: Any, server: AsgiServer, owned: Connection, user: Any) -> None:
    settings.CHANNEL_LAYERS = {}
    assert refused_status(server, owned.pk, session_cookie(user)) == 403


def test_another_sites_page_cannot_open_the_socket_with_a_visitors_cookie(
        server: AsgiServer, owned: Connection, user: Any) -> None:
    """A browser sends Origin: a page of another site is refused before the handshake,
    a page of this site is let in (cross-site WebSocket hijacking)."""
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={session_cookie(user)}"
    with pytest.raises(InvalidStatus) as refused:
        open_socket(server, owned.pk, Cookie=cookie, Origin="https://evil.example").close()
    assert refused.value.response.status_code == 403
    with open_socket(server, owned.pk, Cookie=cookie, Origin="http://127.0.0.1") as socket:
        publish(server, owned.pk, CHAT)
        assert next_frame(socket) == {"messages": [CHAT]}
