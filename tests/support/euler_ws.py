"""A scripted server speaking Euler's WebSocket protocol, on loopback, for relay tests.

Each connection is answered by the next :class:`Script` queued for the account
(``uniqueId``): the frames to send (text, in order, with an optional pause), then a close
code, or ``hold`` to keep the socket open until the test ends it. What each client asked
(its query: ``uniqueId``, ``apiKey``, the features) is recorded. Built on the
``websockets`` server; runs its own event loop in a thread and stops by itself.

Streaming (for the benchmarks): a :class:`Stream` is ``count`` frames sent one after
another, as fast as the socket takes them or at a given rate. A script sends one after its
frames (``Script(stream=...)``), and :meth:`EulerWebSocketServer.start_stream` sends one now
on every open socket of an account. A stream's frames are a fixed list (sent in turn) or
built by a function called just before each is sent (so a frame can carry its send time).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve


@dataclasses.dataclass
class Stream:
    """``count`` frames, one after another: frame ``i`` is ``make(i)`` (called just before
    it is sent) or else ``frames[i % len(frames)]``. ``rate`` frames per second (frame ``i``
    leaves at ``i / rate`` seconds after the first, a schedule that does not drift), or 0: as
    fast as the socket takes them. Stops early after ``timeout`` seconds or when the socket
    closes."""

    count: int
    frames: Sequence[str] = ()
    make: Callable[[int], str] | None = None
    rate: float = 0.0
    timeout: float = 600.0

    def frame(self, index: int) -> str:
        if self.make is not None:
            return self.make(index)
        return self.frames[index % len(self.frames)]


@dataclasses.dataclass
class Script:
    frames: list[str] = dataclasses.field(default_factory=list)
    close_code: int = 1000
    close_reason: str = ""
    pause: float = 0.0  # between frames
    hold: bool = False  # keep the socket open after the frames (until stopped)
    stream: Stream | None = None  # sent after the frames


def bundle(*messages: dict[str, Any]) -> str:
    """One frame of Euler's bundled format."""
    return json.dumps({"timestamp": int(time.time() * 1000), "messages": list(messages)})


def chat(msg_id: str, text: str, user_id: str = "7100",
         unique_id: str = "viewer") -> dict[str, Any]:
    return {"type": "WebcastChatMessage",
            "data": {"common": {"msgId": msg_id, "roomId": "7300", "createTime": "1"},
                     "user": {"userId": user_id, "uniqueId": unique_id, "nickname": unique_id},
                     "comment": text}}


def like(msg_id: str, count: int = 1, user_id: str = "7101") -> dict[str, Any]:
    return {"type": "WebcastLikeMessage",
            "data": {"common": {"msgId": msg_id, "roomId": "7300", "createTime": "1"},
                     "user": {"userId": user_id, "uniqueId": "liker", "nickname": "liker"},
                     "likeCount": count, "totalLikeCount": 100 + count}}


def gift(msg_id: str, repeat: int, end: bool, *, user_id: str = "7100",
         group: str = "g1") -> dict[str, Any]:
    return {"type": "WebcastGiftMessage",
            "data": {"common": {"msgId": msg_id, "roomId": "7300"},
                     "user": {"userId": user_id, "uniqueId": "fan"}, "giftId": 5655,
                     "groupId": group, "repeatCount": repeat, "repeatEnd": 1 if end else 0,
                     "giftDetails": {"giftName": "Rose", "diamondCount": 1}}}


WORKER_INFO = json.dumps({"messages": [{"type": "workerInfo",
                                        "data": {"webSocketId": "w1", "schemaVersion": "v2",
                                                 "features": {}}}]})


class EulerWebSocketServer:
    """``with EulerWebSocketServer() as server``: ``server.url`` is its base URL."""

    def __init__(self) -> None:
        self.scripts: dict[str, collections.deque[Script]] = collections.defaultdict(
            collections.deque)
        self.default = Script(hold=True)
        self.connects: list[dict[str, str]] = []
        self.open_sockets: set[ServerConnection] = set()
        self.unique_ids: dict[ServerConnection, str] = {}  # each open socket's account
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="euler-ws-test")
        self.port = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def queue(self, unique_id: str, *scripts: Script) -> None:
        with self.lock:
            self.scripts[unique_id].extend(scripts)

    def connects_for(self, unique_id: str) -> list[dict[str, str]]:
        with self.lock:
            return [c for c in self.connects if c.get("uniqueId") == unique_id]

    def __enter__(self) -> EulerWebSocketServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test WebSocket server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Poll ``predicate()`` until true or ``timeout`` (bounded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handle, "127.0.0.1", 0, max_size=2 ** 20) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=600)
            except asyncio.TimeoutError:
                pass
            for websocket in list(self.open_sockets):
                await websocket.close(1001, "test server stopping")

    async def _handle(self, websocket: ServerConnection) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(websocket.request.path).query).items()}
        unique_id = query.get("uniqueId", "")
        with self.lock:
            self.connects.append(query)
            script = self.scripts[unique_id].popleft() if self.scripts[unique_id] \
                else self.default
        self.open_sockets.add(websocket)
        self.unique_ids[websocket] = unique_id
        try:
            for frame in script.frames:
                await websocket.send(frame)
                if script.pause:
                    await asyncio.sleep(script.pause)
            if script.stream is not None:
                await self._stream(websocket, script.stream)
            if script.hold:
                await websocket.wait_closed()
            else:
                await websocket.close(script.close_code, script.close_reason)
        finally:
            self.open_sockets.discard(websocket)
            self.unique_ids.pop(websocket, None)

    @staticmethod
    async def _stream(websocket: ServerConnection, stream: Stream) -> int:
        """Send ``stream`` on ``websocket``; the number of frames sent."""
        from websockets.exceptions import ConnectionClosed

        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = 0
        try:
            for index in range(stream.count):
                now = loop.time()
                if now - started > stream.timeout:
                    break
                if stream.rate > 0:
                    delay = started + index / stream.rate - now
                    if delay > 0:
                        await asyncio.sleep(delay)
                await websocket.send(stream.frame(index))
                sent += 1
        except ConnectionClosed:
            pass
        return sent

    def start_stream(self, unique_id: str, stream: Stream) -> Future[list[int]]:
        """Send ``stream`` now on every open socket of ``unique_id`` (from the test's
        thread); the future's result is the frames sent on each, once all are done."""
        if self._loop is None:
            raise RuntimeError("the test WebSocket server is not running")

        async def send() -> list[int]:
            sockets = [ws for ws, uid in list(self.unique_ids.items()) if uid == unique_id]
            return list(await asyncio.gather(*(self._stream(ws, stream) for ws in sockets)))

        return asyncio.run_coroutine_threadsafe(send(), self._loop)

    def drop_all(self, code: int, reason: str = "") -> None:
        """Close every open socket with ``code`` (from the test's thread)."""
        if self._loop is None:
            return

        async def close() -> None:
            for websocket in list(self.open_sockets):
                await websocket.close(code, reason)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)


def frames_of(*messages: dict[str, Any]) -> Iterator[str]:
    """Each message as a frame of its own (the format without bundleEvents)."""
    for message in messages:
        yield json.dumps(message)
