"""The LIVE relay against a server speaking Euler's WebSocket protocol on loopback.

The relay runs on its own event loop in a thread (as ``euler_oauth_live`` runs it), with
the test database; what reaches the site is observed through the ``live_event`` signal.
Each close code gets its documented reaction; a msgId seen twice is dropped; a gift streak
arrives once, when it ends; a malformed frame is skipped and the socket kept; stopping,
disconnecting and a SIGTERM-like stop close sockets within seconds; a receiver that raises
or blocks stalls no room; a flood stays within the queue's bound; no log line holds the
API key.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from django_euler_oauth import live
from django_euler_oauth.live.models import Listening
from django_euler_oauth.live.models import Relay as RelayRow
from django_euler_oauth.live.relay import Relay, Timing
from django_euler_oauth.models import Connection
from django_euler_oauth.revocation import disconnect
from django_euler_oauth.signals import live_event

from .support.euler_ws import (
    WORKER_INFO,
    EulerWebSocketServer,
    Script,
    bundle,
    chat,
    frames_of,
    gift,
)

pytestmark = pytest.mark.django_db(transaction=True)

API_KEY = "euler-api-key-7f3e9a1b2c"
FAST = Timing(tick=0.2, not_live=0.4, too_many=0.4, refused=30.0, reconnect_cap=1.0,
              open_timeout=3.0)


@pytest.fixture
def euler() -> Iterator[EulerWebSocketServer]:
    with EulerWebSocketServer() as server:
        yield server


@pytest.fixture
def received() -> Iterator[list[Any]]:
    seen: list[Any] = []
    lock = threading.Lock()

    def on_event(sender: Any, connection: Connection, event: Any, **kwargs: Any) -> None:
        with lock:
            seen.append((connection.pk, event))

    live_event.connect(on_event, dispatch_uid="test_live_relay")
    yield seen
    live_event.disconnect(dispatch_uid="test_live_relay")


@pytest.fixture
def room(euler: EulerWebSocketServer, make_client: Any, make_connection: Any,
         user: Any) -> Connection:
    oauth = make_client(api_key=API_KEY, websocket_url=euler.url)
    connection: Connection = make_connection(user, oauth, external_id="7000001",
                                             external_username="streamer")
    return connection


class RunningRelay:
    """A relay on its own loop in a thread; ``stop()`` is what SIGTERM does."""

    def __init__(self, **kwargs: Any) -> None:
        self.relay: Relay | None = None
        self.kwargs = kwargs
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.relay = Relay(timing=FAST, **self.kwargs)
            self.ready.set()
            await self.relay.run()

        try:
            asyncio.run(main())
        finally:
            connections.close_all()

    def __enter__(self) -> Relay:
        self.thread.start()
        assert self.ready.wait(10)
        assert self.relay is not None
        return self.relay

    def stop(self) -> None:
        if self.loop is not None and self.relay is not None:
            self.loop.call_soon_threadsafe(self.relay.stop)
        self.thread.join(15)
        assert not self.thread.is_alive(), "the relay did not stop within 15 s"

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_until(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def state_of(connection: Connection) -> str:
    return Listening.objects.get(connection=connection).state


def test_events_arrive_once_with_gift_streaks_folded(euler, room, received):
    euler.queue("streamer", Script(frames=[
        WORKER_INFO,
        bundle(chat("m1", "hello"), chat("m1", "hello"),  # the same msgId twice
               gift("g1", 1, False), gift("g2", 2, False), gift("g3", 3, True),
               chat("m2", "bye")),
    ], hold=True))
    live.start(room)
    with RunningRelay():
        assert wait_until(lambda: len(received) >= 3)
        time.sleep(0.3)  # nothing more comes
    events = [event for _pk, event in received]
    assert [(e.type, e.msg_id) for e in events] == [
        ("WebcastChatMessage", "m1"), ("WebcastGiftMessage", "g3"),
        ("WebcastChatMessage", "m2")]
    assert events[1].data["repeatCount"] == 3 and events[0].data["comment"] == "hello"
    assert all(pk == room.pk and e.connection_id == room.pk for pk, e in received)
    [asked] = euler.connects_for("streamer")
    assert asked["apiKey"] == API_KEY and asked["features.bundleEvents"] == "true"


def test_a_malformed_frame_is_skipped_and_the_socket_kept(euler, room, received, caplog):
    euler.queue("streamer", Script(frames=[
        "not json at all", '{"no": "messages"}', '{"messages": [42, {"type": ""}]}',
        *frames_of(chat("m3", "still here")),
    ], hold=True))
    live.start(room)
    with caplog.at_level(logging.WARNING, logger="django_euler_oauth.live"), RunningRelay():
        assert wait_until(lambda: len(received) == 1)
    assert received[0][1].msg_id == "m3"
    assert len(euler.connects_for("streamer")) == 1  # never reconnected for it
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 2 and all(f"connection {room.pk} (@streamer)" in m for m in skipped)


def test_not_live_waits_then_tries_again(euler, room, received):
    euler.queue("streamer", Script(close_code=4404, close_reason="not live"),
                Script(frames=[bundle(chat("m4", "live now"))], hold=True))
    live.start(room)
    with RunningRelay():
        assert wait_until(lambda: state_of(room) == Listening.State.NOT_LIVE
                          or len(received) == 1)
        assert wait_until(lambda: len(received) == 1)
    first, second = euler.connects_for("streamer")[:2]
    assert first["uniqueId"] == second["uniqueId"] == "streamer"


def test_maximum_lifetime_reconnects_at_once(euler, room, received):
    euler.queue("streamer", Script(frames=[bundle(chat("m5", "a"))], close_code=4555),
                Script(frames=[bundle(chat("m5", "a"), chat("m6", "b"))], hold=True))
    live.start(room)
    with RunningRelay():
        assert wait_until(lambda: len(received) == 2, timeout=5)
    # The frame replayed after the reconnect is not delivered twice.
    assert [e.msg_id for _pk, e in received] == ["m5", "m6"]


def test_refused_auth_is_reported_without_a_hot_loop(euler, room, caplog):
    euler.queue("streamer", *[Script(close_code=4401, close_reason="invalid auth")] * 5)
    live.start(room)
    with caplog.at_level(logging.INFO, logger="django_euler_oauth.live"), RunningRelay():
        assert wait_until(lambda: state_of(room) == Listening.State.REFUSED)
        time.sleep(1.0)
        assert len(euler.connects_for("streamer")) == 1  # waits long, no retry storm
    listening = Listening.objects.get(connection=room)
    assert listening.close_code == 4401 and "invalid auth" in listening.detail
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert f"connection {room.pk} (@streamer)" in text and "4401" in text
    assert API_KEY not in text


def test_too_many_sockets_backs_off_and_reports(euler, room, received, caplog):
    euler.queue("streamer", Script(close_code=4429), Script(close_code=4429),
                Script(frames=[bundle(chat("m7", "x"))], hold=True))
    live.start(room)
    with caplog.at_level(logging.WARNING, logger="django_euler_oauth.live"), RunningRelay():
        assert wait_until(lambda: len(received) == 1, timeout=8)
    connects = euler.connects_for("streamer")
    assert len(connects) == 3
    assert any("4429" in r.getMessage() for r in caplog.records)


def test_stop_and_disconnect_close_the_socket_within_seconds(euler, room, make_connection,
                                                             user):
    other = make_connection(user, room.client, external_id="7000002",
                            external_username="second")
    user.set_password("pw")
    user.save()
    live.start(room)
    live.start(other)
    with RunningRelay():
        assert euler.wait_for(lambda: len(euler.open_sockets) == 2)
        started = time.monotonic()
        assert live.stop(room)
        assert euler.wait_for(lambda: len(euler.open_sockets) == 1, timeout=5)
        disconnect(Connection.objects.get(pk=other.pk))
        assert euler.wait_for(lambda: len(euler.open_sockets) == 0, timeout=5)
        assert time.monotonic() - started < 5
    assert not Listening.objects.exclude(holder="").exists()


def test_stopping_the_relay_releases_its_rooms_at_once(euler, room):
    live.start(room)
    running = RunningRelay()
    relay = running.__enter__()
    assert euler.wait_for(lambda: len(euler.open_sockets) == 1)
    assert Listening.objects.get(connection=room).holder == relay.name
    running.stop()
    listening = Listening.objects.get(connection=room)
    assert listening.holder == "" and listening.lease_expires_at is None
    assert not RelayRow.objects.filter(name=relay.name).exists()
    assert euler.wait_for(lambda: not euler.open_sockets, timeout=5)


def test_a_failing_or_stuck_receiver_stalls_no_room(euler, room, make_connection, user):
    other = make_connection(user, room.client, external_id="7000003",
                            external_username="other")
    euler.queue("streamer", Script(frames=[bundle(chat("s1", "a")), bundle(chat("s2", "b"))],
                                   pause=0.05, hold=True))
    euler.queue("other", Script(frames=[bundle(chat("o1", "a")), bundle(chat("o2", "b"))],
                                pause=0.2, hold=True))
    release = threading.Event()
    got: list[str] = []

    def stuck(sender: Any, connection: Connection, event: Any, **kwargs: Any) -> None:
        if event.msg_id == "s1":
            release.wait(10)  # a receiver that hangs on one event

    def failing(sender: Any, connection: Connection, event: Any, **kwargs: Any) -> None:
        got.append(event.msg_id)
        raise RuntimeError("a receiver's bug")

    live_event.connect(stuck, dispatch_uid="stuck")
    live_event.connect(failing, dispatch_uid="failing")
    try:
        live.start(room)
        live.start(other)
        with RunningRelay():
            # The other room's events, and the stuck room's next one, arrive meanwhile.
            assert wait_until(lambda: {"o1", "o2", "s2"} <= set(got), timeout=8)
            assert "s1" not in got
            release.set()
            assert wait_until(lambda: "s1" in got)
    finally:
        release.set()
        live_event.disconnect(dispatch_uid="stuck")
        live_event.disconnect(dispatch_uid="failing")


def test_a_flood_stays_within_the_queues_bound(euler, room, settings):
    settings.EULER_OAUTH_LIVE_QUEUE_SIZE = 100
    flood = [bundle(*[chat(f"f{i}-{j}", "spam") for j in range(25)]) for i in range(400)]
    euler.queue("streamer", Script(frames=flood, hold=True))
    release = threading.Event()

    def stuck(sender: Any, **kwargs: Any) -> None:
        release.wait(10)

    live_event.connect(stuck, dispatch_uid="flood")
    sizes: list[int] = []
    try:
        live.start(room)
        running = RunningRelay()
        relay = running.__enter__()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and relay.delivered + relay.dropped < 10_000:
                sizes.append(relay.queue.qsize())
                time.sleep(0.01)
            assert relay.delivered + relay.dropped == 10_000  # every event accounted for
            # The queue and the stuck receivers' backlog are bounded: the rest was dropped,
            # and counted.
            assert relay.dropped + relay.signal_dropped > 0
            assert max(sizes) <= 100
        finally:
            release.set()
            running.stop()
    finally:
        live_event.disconnect(dispatch_uid="flood")
