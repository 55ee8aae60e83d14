"""LIVE events as Euler's WebSocket sends them, and what the relay does to them.

Euler's frames are JSON text: with the ``bundleEvents`` feature, ``{"messages": [{"type":
T, "data": {...}}, ...]}`` (and a ``timestamp``), else one ``{"type", "data"}`` per frame.
``T`` is TikTok's message name (``WebcastChatMessage``, ``WebcastGiftMessage``, ...) or
one of the service's own (``workerInfo``, ``roomInfo``, ``tiktok.connect``). Nothing here
does I/O: :func:`parse_frame` reads a frame, :class:`SeenIds` drops a ``msgId`` seen twice
and :class:`GiftStreaks` folds a gift streak into one event, sent when it ends.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import time
from collections.abc import Iterable
from typing import Any

#: The service's frames about the socket itself: not events of the room.
SOCKET_FRAMES = frozenset({"workerInfo", "tiktok.connect", "tiktok.disconnect"})

#: The channel layer group a connection's events are sent to.
GROUP_PREFIX = "euler_oauth.live."

#: Longest frame read (bytes of text); a larger one is skipped, the socket kept.
MAX_FRAME = 1024 * 1024


def group_name(connection_pk: int) -> str:
    """The channel layer group of ``connection_pk``'s events (``euler_oauth.live.<pk>``)."""
    return f"{GROUP_PREFIX}{connection_pk}"


@dataclasses.dataclass(frozen=True)
class LiveEvent:
    """One event of a room the site listens to.

    ``type`` is Euler's message name (``WebcastChatMessage``), ``data`` its fields as Euler
    sends them (camelCase), ``connection_id`` the listened-to connection, ``msg_id`` TikTok's
    message id (``data["common"]["msgId"]``; "" when the message has none).
    """

    type: str
    data: dict[str, Any]
    connection_id: int
    msg_id: str = ""

    @property
    def frame(self) -> dict[str, Any]:
        """The event as one message of Euler's frame (``{"type", "data"}``)."""
        return {"type": self.type, "data": self.data}

    @property
    def user(self) -> dict[str, Any]:
        """The viewer the event is about (``data["user"]``), or ``{}``."""
        user = self.data.get("user")
        return user if isinstance(user, dict) else {}


def msg_id_of(data: dict[str, Any]) -> str:
    common = data.get("common")
    value = common.get("msgId") if isinstance(common, dict) else None
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def parse_frame(text: str | bytes) -> list[dict[str, Any]]:
    """The messages of one frame, each ``{"type": str, "data": dict}``.

    Raises ``ValueError`` for a frame that is not one (not JSON, no messages, too large):
    the relay skips it, logs it, and keeps the socket. Messages of the wrong shape inside
    a good frame are left out.
    """
    if len(text) > MAX_FRAME:
        raise ValueError(f"frame of {len(text)} bytes is over the limit")
    try:
        body = json.loads(text)
    except (TypeError, ValueError) as err:
        raise ValueError(f"not JSON ({type(err).__name__})") from None
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        items: Iterable[Any] = body["messages"]
    elif isinstance(body, dict) and "type" in body:
        items = [body]
    else:
        raise ValueError("no messages in the frame")
    messages = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if not isinstance(kind, str) or not kind:
            continue
        if isinstance(item.get("data"), dict) and len(kind) <= 100 and len(item) == 2:
            messages.append(item)  # already the shape delivered: no copy (the common case)
        else:
            data = item.get("data")
            messages.append({"type": kind[:100], "data": data if isinstance(data, dict) else {}})
    return messages


class SeenIds:
    """The last ``size`` message ids of a room: a ``msgId`` seen twice is dropped."""

    def __init__(self, size: int = 5000) -> None:
        self._order: collections.deque[str] = collections.deque()
        self._seen: set[str] = set()
        self._size = size

    def first_time(self, msg_id: str) -> bool:
        """True the first time ``msg_id`` is seen (always for "": nothing to compare)."""
        if not msg_id:
            return True
        if msg_id in self._seen:
            return False
        self._seen.add(msg_id)
        self._order.append(msg_id)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return True


class GiftStreaks:
    """Folds a gift streak (one ``WebcastGiftMessage`` per step, ``repeatEnd`` 1 on its
    last) into one event: the last message, whose ``repeatCount`` is the streak's total.

    A streak that never ends (the viewer left) is let out after ``timeout`` seconds with
    what it had; at most ``size`` open streaks are kept (the oldest is let out first).
    """

    def __init__(self, *, timeout: float = 60.0, size: int = 1000) -> None:
        self._open: collections.OrderedDict[tuple[str, str, str], tuple[float, dict[str, Any]]]
        self._open = collections.OrderedDict()
        self._timeout = timeout
        self._size = size

    @staticmethod
    def _key(data: dict[str, Any]) -> tuple[str, str, str]:
        user = data.get("user")
        user_id = user.get("userId", "") if isinstance(user, dict) else ""
        return (str(user_id), str(data.get("giftId", "")),
                str(data.get("groupId", "")))

    def fold(self, message: dict[str, Any], now: float | None = None) -> list[dict[str, Any]]:
        """What to deliver now for ``message``: itself, nothing (a streak goes on), or
        streaks let out because they are too many."""
        data = message["data"]
        if message["type"] != "WebcastGiftMessage" or "repeatEnd" not in data:
            return [message]
        key = self._key(data)
        if data.get("repeatEnd") in (1, True, "1", "true"):
            self._open.pop(key, None)
            return [message]
        self._open[key] = (now if now is not None else time.monotonic(), message)
        self._open.move_to_end(key)
        out = []
        while len(self._open) > self._size:
            out.append(self._open.popitem(last=False)[1][1])
        return out

    def expired(self, now: float | None = None) -> list[dict[str, Any]]:
        """Streaks open for longer than the timeout, let out as they stand."""
        now = now if now is not None else time.monotonic()
        out = []
        while self._open:
            key, (since, message) = next(iter(self._open.items()))
            if now - since < self._timeout:
                break
            del self._open[key]
            out.append(message)
        return out
