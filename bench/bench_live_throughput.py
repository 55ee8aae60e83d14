"""Figure 8: LIVE relay throughput, one relay process.

An Euler-speaking server (tests/support/euler_ws.py, in a process of its own so it does not
share this one's interpreter) sends every socket the same stream as fast as the socket takes
it: ``BENCH_LIVE_EVENTS`` events (chat and like messages, each with its own ``msgId``) in
bundles of 10 to 50 per frame, after Euler's ``workerInfo`` frame.

Ours: a :class:`~django_euler_oauth.live.relay.Relay` in this process listens to a new room
each round (``live.start``); a reader on the same event loop, subscribed to the room's
channel layer group as the browser consumer is, counts the events that arrive. Events per
second from the first group message to the last, with Channels' in-memory layer and with a
real Redis (``channels_redis``, ``redis-server`` on loopback; skipped when not installed).

The limit: a bare ``websockets`` client reading and JSON-parsing the same stream from the
same server, in the same process (no relay, no channel layer). Rounds alternate which runs
first; medians. Goal: at least 0.8 of the limit with the in-memory layer; the Redis ratio
is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import select
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, Row, setup_django

SERVE = "--serve"
MIN_BUNDLE, MAX_BUNDLE = 10, 50
#: A round ends when its events are in, or after this long without a new one (lost events).
SILENCE = 2.0
ROUND_DEADLINE = 300.0


def build_frames(events: int, seed: int = 8) -> list[str]:
    """``events`` chat and like messages (about 70 / 30) with distinct msgIds, in Euler's
    bundled frames of 10 to 50 messages."""
    from tests.support.euler_ws import bundle, chat, like

    rng = random.Random(seed)
    frames = []
    made = 0
    while made < events:
        size = min(rng.randint(MIN_BUNDLE, MAX_BUNDLE), events - made)
        messages = []
        for n in range(made, made + size):
            msg_id = str(7_400_000_000_000_000_000 + n)
            viewer = str(6_900_000_000_000 + rng.randrange(5000))
            if rng.random() < 0.7:
                messages.append(chat(msg_id, f"message {n} from the chat ✓", user_id=viewer,
                                     unique_id=f"viewer{viewer[-4:]}"))
            else:
                messages.append(like(msg_id, rng.randint(1, 15), user_id=viewer))
        frames.append(bundle(*messages))
        made += size
    return frames


def serve(events: int) -> None:
    """The server process: every socket gets ``workerInfo`` and then the whole stream as
    fast as it reads; until stdin closes (at most 900 s)."""
    from tests.support.euler_ws import WORKER_INFO, EulerWebSocketServer, Script, Stream

    frames = build_frames(events)
    server = EulerWebSocketServer()
    server.default = Script(frames=[WORKER_INFO], hold=True,
                            stream=Stream(count=len(frames), frames=frames))
    with server:
        print(f"PORT {server.port} FRAMES {len(frames)}", flush=True)
        select.select([sys.stdin], [], [], 900)


class ServerProcess:
    def __init__(self, events: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_live_throughput", SERVE, str(events)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert self.process.stdout is not None
        ready, _w, _x = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the Euler-speaking server did not start: {line!r}")
        fields = line.split()
        self.port, self.frames = int(fields[1]), int(fields[3])

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class Round:
    """Counting one round's events as they arrive; its rate between first and last."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.first_at = 0.0
        self.first_size = 0
        self.last_at = 0.0

    def add(self, size: int) -> None:
        now = time.perf_counter()
        if not self.count:
            self.first_at, self.first_size = now, size
        self.count += size
        self.last_at = now

    @property
    def done(self) -> bool:
        return self.count >= self.expected

    @property
    def rate(self) -> float:
        span = self.last_at - self.first_at
        return (self.count - self.first_size) / span if span > 0 else 0.0


async def bare_round(url: str, events: int, name: str) -> Round:
    """The limit: read the stream straight from the server and parse each frame."""
    from websockets.asyncio.client import connect

    from django_euler_oauth.live.events import MAX_FRAME

    counted = Round(events)

    async def read() -> None:
        async with connect(f"{url}?uniqueId={name}&apiKey=bare", max_size=MAX_FRAME) as socket:
            async for frame in socket:
                messages = json.loads(frame)["messages"]
                if messages and messages[0]["type"] == "workerInfo":
                    continue
                counted.add(len(messages))
                if counted.done:
                    return

    with contextlib.suppress(asyncio.TimeoutError):  # the server sends them all: bounded
        await asyncio.wait_for(read(), ROUND_DEADLINE)
    return counted


async def relay_round(layer: Any, owner: Any, client: Any, events: int, name: str) -> Round:
    """Ours: a new room for the running relay; its group's messages counted as they come."""
    from asgiref.sync import sync_to_async

    from bench.bench_live_common import listen, make_rooms
    from django_euler_oauth import live
    from django_euler_oauth.live.events import group_name

    [connection] = await sync_to_async(make_rooms)(owner, client, [name])
    group = group_name(connection.pk)
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    await sync_to_async(listen)([connection])  # the relay takes it on its next tick
    counted = Round(events)
    deadline = time.monotonic() + ROUND_DEADLINE
    try:
        while not counted.done and time.monotonic() < deadline:
            # The relay needs a tick to take the room: a longer wait for the first message.
            wait = SILENCE + (5.0 if not counted.count else 0.0)
            try:
                message = await asyncio.wait_for(layer.receive(channel), wait)
            except asyncio.TimeoutError:
                break
            counted.add(len(message["messages"]))
    finally:
        await sync_to_async(live.stop)(connection)
        await layer.group_discard(group, channel)
    return counted


async def measure(layer: Any, url: str, events: int, rounds: int, label: str,
                  ) -> dict[str, Any]:
    from asgiref.sync import sync_to_async
    from django.contrib.auth import get_user_model

    from bench.bench_live_common import live_client
    from django_euler_oauth.live.relay import Relay, Timing

    owner = await sync_to_async(get_user_model().objects.create_user)(f"bench-{label}")
    client = await sync_to_async(live_client)(url, slug=f"bench-live-{label}")
    relay = Relay(name=f"bench-throughput-{label}", timing=Timing(tick=0.5),
                  channel_layer=layer)
    running = asyncio.create_task(relay.run())
    backlog = [0]

    async def watch_backlog() -> None:
        # How far the relay's queue of parsed frames runs behind its delivery.
        while True:
            backlog[0] = max(backlog[0], relay.queue.qsize())
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch_backlog())
    ours_rounds: list[Round] = []
    base_rounds: list[Round] = []
    names = iter(range(2 * rounds + 2))

    async def ours() -> None:
        ours_rounds.append(await relay_round(layer, owner, client, events,
                                             f"{label}{next(names)}"))

    async def base() -> None:
        base_rounds.append(await bare_round(url, events, f"bare-{label}{next(names)}"))

    try:
        await base()  # a warm-up round of each: imports, first connections
        await ours()
        ours_rounds.clear()
        base_rounds.clear()
        for index in range(rounds):  # as bench.common.alternating: who goes first alternates
            for side in ((ours, base) if index % 2 else (base, ours)):
                await side()
    finally:
        watcher.cancel()
        relay.stop()
        await asyncio.wait_for(running, 30)
    ours_rates = [r.rate for r in ours_rounds]
    base_rates = [r.rate for r in base_rounds]
    ratios = [o / b for o, b in zip(ours_rates, base_rates, strict=True) if b > 0]
    return {"ours": statistics.median(ours_rates), "base": statistics.median(base_rates),
            "ratio": statistics.median(ratios) if ratios else 0.0,
            "lost": sum(events - r.count for r in ours_rounds),
            "bare_lost": sum(events - r.count for r in base_rounds),
            "dropped": relay.dropped, "rounds": rounds, "backlog": backlog[0]}


def main() -> None:
    if sys.argv[1:2] == [SERVE]:
        serve(int(sys.argv[2]))
        return
    setup_django()
    from channels.layers import InMemoryChannelLayer

    from bench.bench_live_common import redis_layer_config, redis_server
    from bench.site import prepare_databases

    db = os.environ.get("BENCH_DB", "sqlite")
    events = int(os.environ.get("BENCH_LIVE_EVENTS", "100000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    prepare_databases()
    server = ServerProcess(events)
    redis = redis_server()
    results: list[tuple[str, dict[str, Any]]] = []
    try:
        results.append(("in-memory", asyncio.run(
            measure(InMemoryChannelLayer(), server.url, events, rounds, "memory"))))
        if redis is not None:
            from channels_redis.core import RedisChannelLayer

            async def on_redis() -> dict[str, Any]:
                layer = RedisChannelLayer(**redis_layer_config(redis.url))
                try:
                    return await measure(layer, server.url, events, rounds, "redis")
                finally:
                    await layer.flush()
                    await layer.close_pools()

            results.append(("Redis", asyncio.run(on_redis())))
    finally:
        server.stop()
        if redis is not None:
            redis.stop()
    for name, got in results:
        goal = name == "in-memory"
        lost = (f"; {got['lost']} events lost in the channel layer, {got['dropped']} dropped "
                f"by the relay's queue" if got["lost"] or got["dropped"] else "")
        Row(f"8 LIVE relay throughput, {events:,} events, {name} channel layer, vs a bare "
            f"websockets client ({db})", round(got["ours"]), round(got["base"]),
            round(got["ratio"], 2), ">= 0.8 of the limit" if goal else "reported",
            got["ratio"] >= 0.8 if goal else None, "events/s",
            note=f"limit = a bare client reading and parsing the same stream (no relay); "
            f"bundles of {MIN_BUNDLE}-{MAX_BUNDLE} chat/like messages; {server.frames} frames;"
            f" median of {got['rounds']} interleaved rounds; relay and group reader in one "
            f"process; the relay's queue held up to {got['backlog']} frames awaiting "
            f"delivery{lost}").emit()
    if redis is None:
        Row(f"8 LIVE relay throughput, Redis channel layer ({db})", "skipped", "", None,
            "reported", None, note="redis-server is not installed").emit()


if __name__ == "__main__":
    main()
