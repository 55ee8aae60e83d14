"""The sandbox's WebSocket: Euler's LIVE service for the fake accounts (needs Channels).

A client connects the way it connects to ``wss://ws.eulerstream.com`` (``uniqueId``,
``apiKey`` or ``jwtKey``, ``features.*``; :func:`.live.parse_options`). The socket is
accepted, then either closed at once with Euler's close code (:func:`.live.admit`, and
the per-key and per-JWT socket limits here) or sent, in order, ``workerInfo``,
``roomInfo`` and ``tiktok.connect``, then the room's messages: bundles
``{"timestamp", "messages": [...]}`` (one message per frame without
``features.bundleEvents``). It is closed with 4005 when the LIVE ends, 4555 when its
lifetime is over, 4006 after ``features.closeInactiveWebSocketAfter`` seconds without a
message, or with the code ``drop_sockets`` names.

Messages come from the HTTP side through the channel layer (:func:`.live.publish`) and
from the room's simulated viewers. Both go through the room's :class:`RoomHub` of this
process: it keeps the room's counters (likes, viewers, follows, shares), so every
socket of the room sees the same message with the same totals, and it runs the
simulated viewers while at least one socket of the room is open. Socket counts, hubs
and counters are per server process.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import json
import math
import random
import threading
import time
import uuid
from collections.abc import Iterable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from . import events, live
from .answers import number

MAX_BUNDLE = 100  # messages per frame
MAX_OUTBOX = 200  # message batches waiting for one slow client: the oldest are dropped
MAX_PAYLOAD = 2000  # messages taken from one channel-layer message
FINISHED = 256  # channel-layer messages a hub remembers (one result for all its sockets)
MAX_TICKS = 10_000_000  # simulated events per hub (it also stops with its last socket)


class _Close:
    def __init__(self, code: int) -> None:
        self.code = code


# -- sockets per key ------------------------------------------------------------------------

class SocketCounts:
    """Open sockets per API key and per JWT, in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}

    def claim(self, limits: Iterable[tuple[str, int]]) -> bool:
        """Count one more socket on every key when none is at its limit (else nothing)."""
        limits = list(limits)
        with self._lock:
            if any(self._open.get(key, 0) >= most for key, most in limits):
                return False
            for key, _most in limits:
                self._open[key] = self._open.get(key, 0) + 1
            return True

    def release(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                left = self._open.get(key, 0) - 1
                if left > 0:
                    self._open[key] = left
                else:
                    self._open.pop(key, None)

    def count(self, key: str) -> int:
        with self._lock:
            return self._open.get(key, 0)

    def snapshot(self) -> dict[str, int]:
        """Open sockets per key (``key:<sandbox client pk>``, ``jwt:<token id>``)."""
        with self._lock:
            return dict(self._open)


SOCKETS = SocketCounts()


# -- rooms ----------------------------------------------------------------------------------

class RoomHub:
    """One LIVE room in this process: its open sockets, counters and simulated viewers."""

    KINDS = ("chat", "like", "join", "viewers", "follow", "share", "gift")
    WEIGHTS = (30, 25, 12, 10, 5, 5, 13)

    def __init__(self, admission: live.Admission, rate: float) -> None:
        account = admission.account
        self.key = (id(asyncio.get_running_loop()), account.unique_id)
        self.unique_id, self.room_id = account.unique_id, admission.room_id
        self.sockets: set[LiveConsumer] = set()
        # Counters start where the rest of the sandbox says they are (legacy fetch, userinfo).
        self.viewers = number(account.unique_id + ":viewers", 3, 25_000)
        self.total_users = self.viewers
        self.likes = number(account.unique_id + ":likes", 0, 50_000)
        self.follows = number(account.uid + ":followers", 0, 50_000)
        self.shares = 0
        self.state = admission.state
        self.rate = rate
        self._finished: collections.OrderedDict[str, list[events.Message]] = (
            collections.OrderedDict())
        self._random = random.Random()  # noqa: S311  (simulation, not security)
        self._streak: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    # counters --------------------------------------------------------------------------

    def _count(self, message: events.Message) -> events.Message:
        kind, data = message.get("type"), message.get("data")
        if not isinstance(data, dict):
            return message
        if kind == "WebcastLikeMessage":
            self.likes += max(0, int(data.get("likeCount") or 0))
            data["totalLikeCount"] = self.likes
        elif kind == "WebcastMemberMessage" and data.get("action") == events.JOIN_ACTION:
            self.viewers += 1
            self.total_users += 1
            data["memberCount"] = self.viewers
        elif kind == "WebcastRoomUserSeqMessage":
            data.update(viewerCount=self.viewers, totalUser=self.total_users,
                        popStr=str(self.viewers))
        elif kind == "WebcastSocialMessage" and data.get("action") == events.FOLLOW_ACTION:
            self.follows += 1
            data["followCount"] = self.follows
        elif kind == "WebcastSocialMessage" and data.get("action") == events.SHARE_ACTION:
            self.shares += 1
            data["shareCount"] = self.shares
        return message

    def _apply(self, state: object) -> None:
        if not isinstance(state, dict):
            return
        mute = state.get("mute")
        if isinstance(mute, dict) and isinstance(mute.get("userId"), str):
            seconds = mute.get("seconds")
            until = (math.inf if not isinstance(seconds, int) or seconds <= 0
                     else time.time() + seconds)
            self.state.muted_until[mute["userId"]] = until
        if isinstance(state.get("unmute"), str):
            self.state.muted_until.pop(state["unmute"], None)
        if isinstance(state.get("ban"), str):
            self.state.banned.add(state["ban"])
        if isinstance(state.get("unban"), str):
            self.state.banned.discard(state["unban"])
        if isinstance(state.get("comments"), bool):
            self.state.comments_enabled = state["comments"]

    def finish(self, payload: dict[str, Any]) -> list[events.Message]:
        """The messages of one channel-layer message with the room's counters filled in:
        computed once, the same for every socket of the room in this process."""
        key = str(payload.get("id") or uuid.uuid4().hex)
        done = self._finished.get(key)
        if done is not None:
            return done
        self._apply(payload.get("state"))
        raw = payload.get("messages")
        done = [self._count(copy.deepcopy(m)) for m in (raw if isinstance(raw, list) else [])
                [:MAX_PAYLOAD] if isinstance(m, dict) and isinstance(m.get("type"), str)]
        self._finished[key] = done
        while len(self._finished) > FINISHED:
            self._finished.popitem(last=False)
        return done

    def refresh(self, state: live.RoomState) -> None:
        """A newer look at the room's moderation (a socket just read it)."""
        self.state = state

    # simulated viewers -------------------------------------------------------------------

    def start(self) -> None:
        if self.rate > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._simulate())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _simulate(self) -> None:
        interval = 1 / self.rate
        for _tick in range(MAX_TICKS):
            await asyncio.sleep(interval * self._random.uniform(0.5, 1.5))
            if not self.sockets:
                return
            message = self._count(self.simulated())
            for socket in list(self.sockets):
                socket.deliver([message])

    def _allowed(self, viewer: events.Viewer, chatting: bool) -> bool:
        if viewer.user_id in self.state.banned:
            return False
        if not chatting:
            return True
        until = self.state.muted_until.get(viewer.user_id, 0.0)
        return self.state.comments_enabled and until <= time.time()

    def simulated(self) -> events.Message:
        """The next thing a simulated viewer does (a gift streak goes on over several)."""
        pick = self._random
        if self._streak is not None and pick.random() < 0.6:
            return self._streak_step()
        kind = pick.choices(self.KINDS, self.WEIGHTS)[0]
        cast = [v for v in events.CAST if self._allowed(v, kind == "chat")]
        if not cast:  # everyone banned, or nobody may chat
            cast = [v for v in events.CAST if self._allowed(v, False)] or list(events.CAST)
            kind = "viewers"
        viewer = pick.choice(cast)
        sender = events.viewer_user(viewer)
        if kind == "chat":
            return events.chat(self.room_id, sender, pick.choice(events.CHAT_LINES))
        if kind == "like":
            return events.like(self.room_id, sender, pick.randint(1, 15))
        if kind == "join":
            return events.join(self.room_id, sender)
        if kind == "follow":
            return events.follow(self.room_id, sender)
        if kind == "share":
            return events.share(self.room_id, sender)
        if kind == "gift" and self._streak is None:
            gift = pick.choice([g for g in events.GIFT_LIST if g.combo])
            self._streak = {"sender": sender, "gift": gift, "group": events.new_msg_id(),
                            "step": 0, "length": pick.randint(1, 6)}
            return self._streak_step()
        self.viewers = max(1, self.viewers + pick.randint(-3, 3))  # some left, some came
        return events.viewer_count(self.room_id, self.viewers)

    def _streak_step(self) -> events.Message:
        streak = self._streak
        assert streak is not None
        if streak["step"] >= streak["length"]:
            self._streak = None
            return events.gift(self.room_id, streak["sender"], streak["gift"],
                               repeat_count=streak["step"], repeat_end=True,
                               group_id=streak["group"])
        streak["step"] += 1
        return events.gift(self.room_id, streak["sender"], streak["gift"],
                           repeat_count=streak["step"], repeat_end=False,
                           group_id=streak["group"])


_hubs: dict[tuple[int, str], RoomHub] = {}
_hubs_lock = threading.Lock()


def attach(admission: live.Admission, socket: LiveConsumer) -> RoomHub:
    """The room's hub in this process (made for its first socket), with ``socket`` in it."""
    key = (id(asyncio.get_running_loop()), admission.unique_id)
    with _hubs_lock:
        hub = _hubs.get(key)
        if hub is None:
            hub = _hubs[key] = RoomHub(admission, live.viewer_rate())
        else:
            hub.refresh(admission.state)
        hub.sockets.add(socket)
    hub.start()
    return hub


def detach(hub: RoomHub, socket: LiveConsumer) -> None:
    """``socket`` left; the hub (and its simulated viewers) ends with its last socket."""
    with _hubs_lock:
        hub.sockets.discard(socket)
        if hub.sockets:
            return
        if _hubs.get(hub.key) is hub:
            del _hubs[hub.key]
    hub.stop()


# -- the consumer ---------------------------------------------------------------------------

class LiveConsumer(AsyncWebsocketConsumer):
    """One client of the sandbox's WebSocket (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.options: live.Options | None = None
        self.hub: RoomHub | None = None
        self.claimed: tuple[str, ...] = ()
        self._outbox: asyncio.Queue[list[events.Message] | _Close] = asyncio.Queue()
        self._closing: int | None = None
        self._pump: asyncio.Task[None] | None = None
        self._lifetime: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        # Accepted first, as Euler does: a browser only sees close codes of an open socket.
        await self.accept()
        try:
            options = live.parse_options(self.scope.get("query_string", b""))
            admission = await database_sync_to_async(live.admit)(options)
            if not SOCKETS.claim(admission.limits):
                raise live.Refused(live.TOO_MANY_CONNECTIONS)
            self.claimed = tuple(key for key, _most in admission.limits)
            if self.channel_layer is not None:
                group = live.group_name(admission.unique_id)
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups.append(group)
            # The LIVE may have ended between the admission and joining the group.
            if not await database_sync_to_async(live.still_live)(admission.account):
                raise live.Refused(live.NOT_LIVE)
        except live.Refused as refusal:
            self._closing = refusal.code
            await self.close(code=refusal.code, reason=refusal.reason)
            return
        self.options = options
        self.hub = attach(admission, self)
        try:
            for frame in (
                    events.worker_info(uuid.uuid4().hex, options.schema_version,
                                       options.features),
                    events.room_info(admission.account, admission.room_id,
                                     viewers=self.hub.viewers,
                                     started=int(admission.live_since), likes=self.hub.likes),
                    events.tiktok_connect(f"sandbox-{uuid.uuid4().hex[:12]}")):
                await self.send(text_data=self._frame([frame]) if options.bundle
                                else json.dumps(frame, ensure_ascii=False))
        except Exception:  # the client already left: disconnect() cleans up
            self._closing = live.NORMAL
            return
        self._pump = asyncio.get_running_loop().create_task(self._send_outbox())
        self._lifetime = asyncio.get_running_loop().call_later(
            live.max_lifetime(), self.end, live.MAX_LIFETIME_EXCEEDED)

    # what arrives ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None,
                      bytes_data: bytes | None = None) -> None:
        """Clients have nothing to say to Euler's service: their frames are ignored."""

    async def euler_sandbox_messages(self, event: dict[str, Any]) -> None:
        if self.hub is not None:
            self.deliver(self.hub.finish(event))

    async def euler_sandbox_close(self, event: dict[str, Any]) -> None:
        if self.hub is None:
            return
        self.deliver(self.hub.finish(event))
        code = event.get("code")
        valid = isinstance(code, int) and (code in (1000, 1011) or 4000 <= code <= 4999)
        self.end(code if valid and isinstance(code, int) else live.NORMAL)

    # what leaves ----------------------------------------------------------------------

    def deliver(self, messages: list[events.Message]) -> None:
        """Queue ``messages`` for the client (nothing once the socket is closing)."""
        if self._closing is not None or not messages:
            return
        for start in range(0, len(messages), MAX_BUNDLE):
            if self._outbox.qsize() >= MAX_OUTBOX:  # a slow client loses the oldest
                self._outbox.get_nowait()
            self._outbox.put_nowait(messages[start:start + MAX_BUNDLE])

    def end(self, code: int) -> None:
        """Close the socket with ``code`` once what is queued before it has been sent."""
        if self._closing is None:
            self._closing = code
            self._outbox.put_nowait(_Close(code))

    def _frame(self, messages: list[events.Message]) -> str:
        return json.dumps({"timestamp": events.now_ms(), "messages": messages},
                          ensure_ascii=False)

    async def _send_outbox(self) -> None:
        assert self.options is not None
        quiet = float(self.options.features["closeInactiveWebSocketAfter"])
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self._outbox.get(), timeout=quiet)
                except asyncio.TimeoutError:
                    self.end(live.NO_MESSAGES_TIMEOUT)
                    continue
                if isinstance(item, _Close):
                    await self.close(code=item.code, reason=live.CLOSE_REASONS.get(item.code))
                    return
                batch, closing = list(item), None
                if self.options.bundle:
                    while len(batch) < MAX_BUNDLE and not self._outbox.empty():
                        more = self._outbox.get_nowait()
                        if isinstance(more, _Close):
                            closing = more
                            break
                        batch.extend(more)
                    await self.send(text_data=self._frame(batch))
                else:
                    for message in batch:
                        await self.send(text_data=json.dumps(message, ensure_ascii=False))
                if closing is not None:
                    await self.close(code=closing.code,
                                     reason=live.CLOSE_REASONS.get(closing.code))
                    return
        except asyncio.CancelledError:
            raise
        except Exception:  # the client went away mid-send: disconnect() cleans up
            return

    async def disconnect(self, code: int) -> None:
        if self._lifetime is not None:
            self._lifetime.cancel()
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        SOCKETS.release(self.claimed)
        self.claimed = ()
        if self.hub is not None:
            detach(self.hub, self)
            self.hub = None
