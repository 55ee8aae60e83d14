"""The relay: one socket to Euler's WebSocket service per listened-to room, shared by any
number of relay processes through the database.

Each process (``manage.py euler_oauth_live``) runs one :class:`Relay` on an asyncio loop:

- **Leases.** Every tick it renews the leases of the rooms it holds, releases those no
  longer wanted (listening stopped, the connection disconnected or needing
  re-authorization: their sockets close within a tick), and claims free rooms (nobody
  holds them, or their holder's lease ran out: a dead relay) up to its fair share of the
  rooms, the relays alive sharing them evenly. A claim is one conditional ``UPDATE``, so
  two relays never hold one room. SIGTERM releases every room at once.
- **Sockets.** One ``websockets`` client per room, with the client's API key (never
  logged). Reconnects by close code: not LIVE or stream ended, wait and try again; too
  many sockets, back off and report; maximum lifetime, upstream closed or the network,
  reconnect at once (backing off when that keeps failing); refused auth or options,
  report and wait long (no hot loop). Every wait is bounded and interrupted by stopping.
- **Events.** A frame's messages are parsed, a ``msgId`` seen twice is dropped, a gift
  streak is folded into one event when it ends (:mod:`~django_euler_oauth.live.events`),
  and what is left goes to a bounded queue. One delivery task sends each frame's events
  to the connection's channel layer group (Euler's frame format), and hands them to a few
  threads that send the ``live_event`` signal: a slow or failing receiver never stalls a
  socket or another room, and a full queue drops its oldest events (counted, logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import math
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.utils import timezone

from django_euler_oauth.client import ProviderClient
from django_euler_oauth.conf import app_settings
from django_euler_oauth.models import Connection
from django_euler_oauth.signals import live_event

from .events import (
    MAX_FRAME,
    SOCKET_FRAMES,
    GiftStreaks,
    LiveEvent,
    SeenIds,
    group_name,
    msg_id_of,
    parse_frame,
)
from .models import Listening
from .models import Relay as RelayRow

logger = logging.getLogger("django_euler_oauth.live")

#: Close codes of Euler's WebSocket service (its SDK's ``ClientCloseCode``).
NOT_LIVE_CODES = frozenset({4404, 4005, 4006})
TOO_MANY = 4429
REFUSED_CODES = frozenset({4400, 4401, 4403})
#: Everything else (4555 lifetime, 4500 TikTok closed, 4556/4557 upstream, 1011, 1006 and
#: the network): reconnect at once.

DEFAULT_FEATURES = {"features.bundleEvents": "true", "features.schemaVersion": "v2"}

#: The most events one channel layer message carries (a browser frame stays small).
GROUP_MESSAGE_SIZE = 500


@dataclasses.dataclass
class Timing:
    """How long the relay waits, in seconds (shortened by tests)."""

    tick: float = 2.0  # how often leases are renewed and rooms checked
    not_live: float = 30.0  # before asking again whether a creator is LIVE
    too_many: float = 30.0  # first back-off after 4429 (doubles, capped)
    refused: float = 300.0  # after invalid auth or options
    reconnect_cap: float = 60.0  # the longest back-off of failing reconnects
    open_timeout: float = 10.0
    delivery_timeout: float = 5.0  # one channel layer send at most


@dataclasses.dataclass(frozen=True)
class RoomSpec:
    """What a room's socket needs; ``api_key`` stays in memory, never in a log line."""

    pk: int
    handle: str
    websocket_url: str
    api_key: str = dataclasses.field(repr=False)
    listening_pk: int = 0

    @property
    def url(self) -> str:
        query = {"uniqueId": self.handle, "apiKey": self.api_key, **DEFAULT_FEATURES}
        return f"{self.websocket_url}?{urlencode(query)}"

    @property
    def room(self) -> str:
        return f"connection {self.pk} (@{self.handle})"


def relay_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


class Relay:
    """One relay process's rooms; :meth:`run` until :meth:`stop` (SIGTERM)."""

    def __init__(self, *, name: str | None = None, timing: Timing | None = None,
                 channel_layer: Any = None, signal_workers: int = 4) -> None:
        self.name = name or relay_name()
        self.timing = timing or Timing()
        self.lease = app_settings.LIVE_LEASE_SECONDS
        self.layer = channel_layer if channel_layer is not None else _default_layer()
        self.rooms: dict[int, asyncio.Task[None]] = {}
        self.specs: dict[int, RoomSpec] = {}
        #: {listening pk: connection pk} of the rooms this process opened sockets for.
        self.held: dict[int, int] = {}
        self.stopping = asyncio.Event()
        self.queue: asyncio.Queue[tuple[int, list[dict[str, Any]]]] = asyncio.Queue(
            maxsize=app_settings.LIVE_QUEUE_SIZE)
        #: Events dropped from the full queue (never delivered), delivered (to the channel
        #: layer), and not signalled because every signal thread was busy: counters.
        self.dropped = 0
        self.delivered = 0
        self.signal_dropped = 0
        self._signal_pool = ThreadPoolExecutor(max_workers=signal_workers,
                                               thread_name_prefix="euler-live-signal")
        #: Events handed to the signal threads and not sent yet (at most the queue's size).
        self._signal_pending = 0
        self._signal_lock = threading.Lock()
        self._last_drop_log = 0.0

    # -- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Hold rooms until :meth:`stop`; then close every socket and release them."""
        delivery = asyncio.create_task(self._deliver_forever(), name="euler-live-delivery")
        try:
            while not self.stopping.is_set():
                try:
                    start, stop = await sync_to_async(self._sync_rooms)()
                except Exception as err:  # the database is away: keep the rooms, try again
                    logger.warning("LIVE relay %s could not reach the database: %s",
                                   self.name, type(err).__name__)
                    start, stop = [], []
                for pk in stop:
                    await self._close_room(pk)
                for spec in start:
                    self._open_room(spec)
                await self._sleep(self.timing.tick)
        finally:
            for pk in list(self.rooms):
                await self._close_room(pk)
            with contextlib.suppress(Exception):
                await sync_to_async(self._release_all)()
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
            self._signal_pool.shutdown(wait=False, cancel_futures=True)
            await sync_to_async(close_old_connections)()

    def stop(self) -> None:
        """Stop soon: sockets close, rooms are released for another relay at once."""
        self.stopping.set()

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless stopping; True when stopping."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=max(0.0, seconds))
        return self.stopping.is_set()

    # -- leases (sync: runs in a thread) ------------------------------------------------

    def _sync_rooms(self) -> tuple[list[RoomSpec], list[int]]:
        """Renew, release, claim; which rooms to open and which to close.

        A handful of statements whatever the number of rooms: one heartbeat, one read of
        the rooms held, one UPDATE to release and one to renew, one to claim a batch; the
        connections are read only for the rooms whose socket is to be opened.
        """
        close_old_connections()
        now = timezone.now()
        until = now + datetime.timedelta(seconds=self.lease)
        RelayRow.objects.update_or_create(name=self.name, defaults={"seen_at": now})
        RelayRow.objects.filter(seen_at__lt=now - datetime.timedelta(
            seconds=10 * self.lease)).delete()
        mine = Listening.objects.held_by(self.name)
        wanted = set(mine.wanted().values_list("pk", flat=True))
        # Not wanted any more (stopped, disconnected, re-authorization required), or taken
        # by another relay after our lease ran out: let go.
        mine.exclude(pk__in=wanted).update(holder="", lease_expires_at=None)
        mine.filter(pk__in=wanted).update(lease_expires_at=until)
        stop = [connection_pk for listening_pk, connection_pk in self.held.items()
                if listening_pk not in wanted]
        alive = max(1, RelayRow.objects.filter(
            seen_at__gt=now - datetime.timedelta(seconds=self.lease)).count())
        total = Listening.objects.wanted().count()
        fair = math.ceil(total / alive)
        if len(wanted) > fair and alive > 1:  # another relay joined: hand it our extra rooms
            extra = set(sorted(wanted)[fair:])
            Listening.objects.filter(pk__in=extra, holder=self.name).update(
                holder="", lease_expires_at=None, state=Listening.State.WAITING)
            wanted -= extra
            stop += [self.held[pk] for pk in extra if pk in self.held]
        need = fair - len(wanted)
        if need > 0:
            candidates = list(Listening.objects.free(now).order_by("pk").values_list(
                "pk", flat=True)[:need])
            # One conditional UPDATE: a room another relay claimed meanwhile is not free
            # any more and is left out; what this relay holds is read back.
            Listening.objects.free(now).filter(pk__in=candidates).update(
                holder=self.name, lease_expires_at=until, state=Listening.State.CONNECTING,
                detail="")
            wanted |= set(Listening.objects.filter(pk__in=candidates, holder=self.name)
                          .values_list("pk", flat=True))
        running = {listening_pk for listening_pk, connection_pk in self.held.items()
                   if connection_pk in self.rooms and not self.rooms[connection_pk].done()
                   and connection_pk not in stop}
        start: list[RoomSpec] = []
        for listening in (Listening.objects.filter(pk__in=wanted - running, holder=self.name)
                          .select_related("connection__client")):
            spec = self._spec(listening.connection, listening.pk)
            if spec is not None:
                start.append(spec)
        return start, sorted(set(stop))

    def _spec(self, connection: Connection, listening_pk: int) -> RoomSpec | None:
        key = ProviderClient(connection.client).api_key
        if not key or not connection.external_username:
            why = ("no API key is configured for its OAuth client" if not key
                   else "its TikTok handle is unknown")
            self._report_sync(connection.pk, Listening.State.REFUSED, None, why)
            logger.warning("LIVE room connection %s cannot be opened: %s.", connection.pk, why)
            return None
        return RoomSpec(connection.pk, connection.external_username,
                        connection.client.websocket_url.rstrip("/") or
                        connection.client.websocket_url, key, listening_pk)

    def _release_all(self) -> None:
        close_old_connections()
        Listening.objects.held_by(self.name).update(holder="", lease_expires_at=None)
        RelayRow.objects.filter(name=self.name).delete()

    def _report_sync(self, connection_pk: int, state: str, code: int | None,
                     detail: str) -> None:
        Listening.objects.filter(connection_id=connection_pk, holder=self.name).update(
            state=state, close_code=code, detail=detail[:300])

    async def _report(self, spec: RoomSpec, state: str, code: int | None,
                      detail: str) -> None:
        with contextlib.suppress(Exception):
            await sync_to_async(self._report_sync)(spec.pk, state, code, detail)

    # -- rooms ---------------------------------------------------------------------------

    def _open_room(self, spec: RoomSpec) -> None:
        if spec.pk in self.rooms and not self.rooms[spec.pk].done():
            return
        self.specs[spec.pk] = spec
        self.held[spec.listening_pk] = spec.pk
        self.rooms[spec.pk] = asyncio.create_task(self._room(spec),
                                                  name=f"euler-live-{spec.pk}")
        logger.info("LIVE relay %s holds %s.", self.name, spec.room)

    async def _close_room(self, pk: int) -> None:
        task = self.rooms.pop(pk, None)
        spec = self.specs.pop(pk, None)
        if spec is not None:
            self.held.pop(spec.listening_pk, None)
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=5)
        if spec is not None:
            logger.info("LIVE relay %s let go of %s.", self.name, spec.room)

    async def _room(self, spec: RoomSpec) -> None:
        """Keep ``spec``'s socket open, reconnecting by close code, until cancelled."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

        failures = 0
        too_many_wait = self.timing.too_many
        seen = SeenIds()
        streaks = GiftStreaks()
        while not self.stopping.is_set():
            code: int | None = None
            reason = ""
            opened = time.monotonic()
            try:
                async with connect(spec.url, open_timeout=self.timing.open_timeout,
                                   max_size=MAX_FRAME, max_queue=64, close_timeout=3,
                                   ping_interval=20, ping_timeout=20) as websocket:
                    await self._report(spec, Listening.State.LISTENING, None, "")
                    async for frame in websocket:
                        messages = self._take(spec, frame, seen, streaks)
                        if messages:
                            await self._enqueue(spec.pk, messages)
                code, reason = _close_of(websocket)
            except ConnectionClosed as closed:
                code, reason = _close_of_error(closed)
            except InvalidStatus as err:
                code, reason = None, f"HTTP {err.response.status_code} on connect"
            except (OSError, asyncio.TimeoutError, WebSocketException) as err:
                code, reason = None, type(err).__name__  # never str(err): it may hold the URL
            except Exception as err:  # a bug of ours: report it, keep the room, no hot loop
                logger.exception("LIVE room %s failed: %s", spec.room, type(err).__name__)
                code, reason = None, type(err).__name__
            lasted = time.monotonic() - opened
            wait, state = self._after_close(spec, code, lasted, failures, too_many_wait)
            if code == TOO_MANY:
                too_many_wait = min(too_many_wait * 2, 10 * self.timing.too_many)
            elif code is not None and code not in REFUSED_CODES:
                too_many_wait = self.timing.too_many
            failures = failures + 1 if (code is None or lasted < 5) else 0
            detail = f"closed {code}" if code is not None else f"could not connect: {reason}"
            if reason and code is not None:
                detail += f" ({reason[:120]})"
            await self._report(spec, state, code, detail)
            level = logging.WARNING if state in (Listening.State.REFUSED,
                                                 Listening.State.BACKING_OFF) else logging.INFO
            logger.log(level, "LIVE room %s: %s; next try in %.1f s.", spec.room, detail, wait)
            if await self._sleep(wait):
                break

    def _after_close(self, spec: RoomSpec, code: int | None, lasted: float, failures: int,
                     too_many_wait: float) -> tuple[float, str]:
        """How long to wait before reconnecting, and the state to report."""
        jitter = random.uniform(0.0, 1.0)  # noqa: S311 - spreading reconnects, not a secret
        if code in NOT_LIVE_CODES:
            return self.timing.not_live * (0.8 + 0.4 * jitter), Listening.State.NOT_LIVE
        if code == TOO_MANY:
            return too_many_wait * (0.8 + 0.4 * jitter), Listening.State.BACKING_OFF
        if code in REFUSED_CODES:
            return self.timing.refused, Listening.State.REFUSED
        # Lifetime reached, upstream or network trouble: at once, unless it keeps failing.
        if failures == 0 and lasted >= 5:
            return jitter * 0.5, Listening.State.CONNECTING
        return min(self.timing.reconnect_cap, 0.5 * 2 ** min(failures, 8)) * (0.5 + jitter), \
            Listening.State.CONNECTING

    # -- events --------------------------------------------------------------------------

    def _take(self, spec: RoomSpec, frame: str | bytes, seen: SeenIds,
              streaks: GiftStreaks) -> list[dict[str, Any]]:
        """The messages of ``frame`` to deliver: parsed, each once, streaks folded."""
        try:
            messages = parse_frame(frame)
        except ValueError as err:
            logger.warning("LIVE room %s sent a frame that was skipped: %s.", spec.room, err)
            return []
        out: list[dict[str, Any]] = []
        for message in messages:
            if message["type"] in SOCKET_FRAMES:
                continue
            if not seen.first_time(msg_id_of(message["data"])):
                continue
            out.extend(streaks.fold(message))
        out.extend(streaks.expired())
        return out

    async def _enqueue(self, pk: int, messages: list[dict[str, Any]]) -> None:
        """Queue a frame's events. A full queue first slows the socket down (the provider's
        side then waits on TCP), for a second at most; then the oldest frame goes."""
        try:
            await asyncio.wait_for(self.queue.put((pk, messages)), timeout=1.0)
            return
        except asyncio.TimeoutError:
            pass
        while True:
            try:
                self.queue.put_nowait((pk, messages))
                return
            except asyncio.QueueFull:
                _pk, lost = self.queue.get_nowait()  # the oldest goes: memory stays bounded
                self.dropped += len(lost)
                now = time.monotonic()
                if now - self._last_drop_log > 10:
                    self._last_drop_log = now
                    logger.warning("LIVE relay %s is behind: %d events dropped so far.",
                                   self.name, self.dropped)

    async def _deliver_forever(self) -> None:
        """Send what is queued: the frames waiting now, merged per connection (one group
        message per room and round, at most :data:`GROUP_MESSAGE_SIZE` events each), the
        rooms' sends at once."""
        while True:
            batch = [await self.queue.get()]
            while len(batch) < 512:
                try:
                    batch.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            merged: dict[int, list[dict[str, Any]]] = {}
            for pk, messages in batch:
                merged.setdefault(pk, []).extend(messages)
            if self.layer is not None:
                await asyncio.gather(*(self._group_send(pk, messages[i:i + GROUP_MESSAGE_SIZE])
                                       for pk, messages in merged.items()
                                       for i in range(0, len(messages), GROUP_MESSAGE_SIZE)))
            for pk, messages in merged.items():
                self.delivered += len(messages)
                if live_event.receivers:
                    self._signal(pk, messages)

    async def _group_send(self, pk: int, messages: list[dict[str, Any]]) -> None:
        try:
            await asyncio.wait_for(
                self.layer.group_send(group_name(pk), {"type": "live.events",
                                                      "messages": messages}),
                timeout=self.timing.delivery_timeout)
        except Exception as err:
            logger.warning("LIVE events of connection %s not sent to the channel layer: "
                           "%s.", pk, type(err).__name__)

    def _signal(self, pk: int, messages: list[dict[str, Any]]) -> None:
        """Hand ``messages`` to the signal threads, unless the receivers are so far behind
        that the events waiting for them would pass the queue's size (then dropped, counted)."""
        count = len(messages)
        with self._signal_lock:
            full = self._signal_pending + count > self.queue.maxsize
            if not full:
                self._signal_pending += count
        if full:
            self.signal_dropped += count
            now = time.monotonic()
            if now - self._last_drop_log > 10:
                self._last_drop_log = now
                logger.warning("live_event receivers are behind: %d events not signalled so "
                               "far.", self.signal_dropped)
            return

        def done(_future: Any) -> None:
            with self._signal_lock:
                self._signal_pending -= count

        self._signal_pool.submit(_send_signal, pk, messages).add_done_callback(done)


_connections: dict[int, tuple[float, Connection | None]] = {}


def _send_signal(pk: int, messages: list[dict[str, Any]]) -> None:
    """``live_event`` for each message, in a delivery thread; receivers' errors logged."""
    try:
        cached = _connections.get(pk)
        if cached is None or cached[0] < time.monotonic():
            connection = Connection.objects.select_related("user").filter(pk=pk).first()
            _connections[pk] = cached = (time.monotonic() + 30, connection)
            if len(_connections) > 10_000:
                _connections.clear()
        connection = cached[1]
        if connection is None:
            return
        for message in messages:
            event = LiveEvent(message["type"], message["data"], pk, msg_id_of(message["data"]))
            for receiver, result in live_event.send_robust(sender=Connection,
                                                           connection=connection,
                                                           event=event):
                if isinstance(result, Exception):
                    logger.warning("A live_event receiver (%s) failed on %s of connection "
                                   "%s: %s", getattr(receiver, "__qualname__", receiver),
                                   event.type, pk, type(result).__name__)
    finally:
        close_old_connections()


def _close_of(websocket: Any) -> tuple[int | None, str]:
    return websocket.close_code or 1006, websocket.close_reason or ""


def _close_of_error(closed: Any) -> tuple[int | None, str]:
    received = getattr(closed, "rcvd", None)
    if received is None:
        return 1006, "closed without a close frame"
    return received.code, received.reason or ""


def _default_layer() -> Any:
    try:
        from channels.layers import get_channel_layer
    except ImportError:  # pragma: no cover - the [live] extra is not installed
        return None
    return get_channel_layer()


def run_until_signalled(relay: Relay, *, on_ready: Callable[[], None] | None = None) -> None:
    """Run ``relay`` on a new event loop until SIGTERM or SIGINT (the management command)."""
    import signal

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, relay.stop)
        if on_ready is not None:
            on_ready()
        await relay.run()

    asyncio.run(main())
