"""Figure 9: LIVE latency from the provider's frame to the browser's socket, through Redis.

An Euler-speaking server (tests/support/euler_ws.py, in this process) streams 1,000 events
per second (``BENCH_LIVE_RATE``) in bundles of 10 per frame; each message carries in its
``data`` the time its frame was built and sent (``benchSentAt``).

Ours, as a deployment runs it: a relay process (``manage.py euler_oauth_live``) holds the
room's socket and delivers each frame to a real Redis channel layer (``channels_redis``,
``redis-server`` on loopback); an ASGI server process (uvicorn) serves the browser consumer
at ``live/<pk>/`` behind Channels' ``AuthMiddlewareStack``; a ``websockets`` client (this
process) holds that socket with the owner's session cookie and records, per event, the time
it arrived minus the time it was sent.

The baseline: the same stream read by a bare ``websockets`` client straight from the server
(no relay, no Redis, no consumer), so the ratio is what our hops add. Rounds of
``BENCH_LIVE_SECONDS`` each alternate which side runs first; p50 and p99 are medians over
the rounds. Goal: p99 at most 50 ms on this machine. Skipped, with a row saying why, when
``redis-server`` is not installed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import statistics
import sys
import time
from typing import Any

from bench.common import Row, setup_django

PER_FRAME = 10
SILENCE = 5.0  # a round ends when its events are in, or after this long without one
STAMP = "benchSentAt"


def asgi_application() -> Any:
    """The bench site for ``uvicorn --factory``: Django over HTTP, the LIVE socket at
    ``live/<pk>/`` behind ``AuthMiddlewareStack`` (as the routing module's docs mount it)."""
    from django.core.asgi import get_asgi_application

    http = get_asgi_application()  # sets Django up before the consumer is imported
    # The consumer's warnings (a refused or closed socket) to the server's log file.
    live_log = logging.getLogger("django_euler_oauth.live")
    live_log.addHandler(logging.StreamHandler())
    live_log.setLevel(logging.WARNING)
    live_log.propagate = False

    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter

    from django_euler_oauth.live import routing

    return ProtocolTypeRouter({
        "http": http,
        "websocket": AuthMiddlewareStack(URLRouter(routing.websocket_urlpatterns)),
    })


def stamped_frames(label: str) -> Any:
    """Frame ``i`` of a round: ``PER_FRAME`` chat and like messages, distinct msgIds, each
    stamped with the moment it is built, just before the server sends it."""
    from tests.support.euler_ws import bundle, chat, like

    def make(index: int) -> str:
        now = time.perf_counter()
        messages = []
        for n in range(PER_FRAME):
            msg_id = f"{label}-{index}-{n}"
            message = chat(msg_id, f"hello {n}") if n % 3 else like(msg_id, n)
            message["data"][STAMP] = now
            messages.append(message)
        return bundle(*messages)

    return make


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


async def one_round(euler: Any, unique_id: str, reader: Any, frames: int, rate: float,
                    label: str) -> list[float]:
    """Stream ``frames`` frames to ``unique_id``'s sockets; the latency of each event that
    ``reader`` (a socket) receives, in seconds."""
    from tests.support.euler_ws import Stream

    sending = asyncio.wrap_future(euler.start_stream(
        unique_id, Stream(count=frames, make=stamped_frames(label), rate=rate)))
    latencies: list[float] = []
    expected = frames * PER_FRAME
    deadline = time.monotonic() + frames / rate + 60
    while len(latencies) < expected and time.monotonic() < deadline:
        try:
            text = await asyncio.wait_for(reader.recv(), SILENCE)
        except asyncio.TimeoutError:
            break
        now = time.perf_counter()
        for message in json.loads(text).get("messages", ()):
            sent = message.get("data", {}).get(STAMP)
            if isinstance(sent, float):
                latencies.append(now - sent)
    sent_counts = await asyncio.wait_for(sending, 30)
    if sent_counts != [frames]:
        raise RuntimeError(f"{unique_id}: the server streamed {sent_counts} frames to the "
                           f"room's sockets, not [{frames}]")
    return latencies


def wait_port(port: int, child: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if not child.alive():
                break
            time.sleep(0.05)
    raise RuntimeError(f"the ASGI server did not start: {child.log_tail()}")


async def measure(euler: Any, browser_url: str, cookie: str, rounds: int, seconds: float,
                  rate_events: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    rate = rate_events / PER_FRAME  # frames per second
    frames = max(10, round(seconds * rate))
    ours: list[list[float]] = []
    base: list[list[float]] = []
    async with connect(browser_url, additional_headers={"Cookie": cookie},
                       open_timeout=10) as browser, \
            connect(f"{euler.url}?uniqueId=bench-bare&apiKey=bare", open_timeout=10) as bare:
        if not await asyncio.to_thread(
                euler.wait_for, lambda: "bench-bare" in euler.unique_ids.values(), 10):
            raise RuntimeError("the bare client's socket did not reach the server")
        # A warm-up round of each (first Redis connections, imports), not counted.
        await one_round(euler, "streamer", browser, 20, rate, "warm-ours")
        await one_round(euler, "bench-bare", bare, 20, rate, "warm-base")
        for index in range(rounds):  # as bench.common.alternating: who goes first alternates
            sides = [("ours", "streamer", browser, ours), ("base", "bench-bare", bare, base)]
            for name, unique_id, reader, into in (sides if index % 2 else sides[::-1]):
                into.append(await one_round(euler, unique_id, reader, frames, rate,
                                            f"{name}{index}"))
    expected = frames * PER_FRAME

    def summary(side: list[list[float]]) -> dict[str, float]:
        return {"p50": statistics.median(percentile(r, 0.50) for r in side if r) * 1000,
                "p99": statistics.median(percentile(r, 0.99) for r in side if r) * 1000,
                "worst": max((max(r) for r in side if r), default=0.0) * 1000,
                "lost": sum(expected - len(r) for r in side)}

    return {"ours": summary(ours), "base": summary(base), "frames": frames,
            "events": expected * rounds}


def main() -> None:
    setup_django()
    from bench.bench_live_common import (
        Child,
        child_env,
        listen,
        live_client,
        make_rooms,
        redis_server,
        relay_process,
        wait_until,
        workdir,
    )
    from bench.serve import free_port
    from bench.site import make_user_session, prepare_databases
    from django_euler_oauth.live.models import Listening
    from tests.support.euler_ws import EulerWebSocketServer

    db = os.environ.get("BENCH_DB", "sqlite")
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    seconds = float(os.environ.get("BENCH_LIVE_SECONDS", "3"))
    rate_events = int(os.environ.get("BENCH_LIVE_RATE", "1000"))
    label = f"9 LIVE latency provider frame -> browser socket, {rate_events:,} events/s, Redis"
    redis = redis_server()
    if redis is None:
        Row(f"{label} ({db})", "skipped", "", None, "p99 <= 50 ms", None,
            note="redis-server is not installed").emit()
        return
    prepare_databases()
    logs = workdir()
    env = {"BENCH_CHANNEL_REDIS": redis.url}
    children: list[Child] = []
    try:
        with EulerWebSocketServer() as euler:
            user, cookie = make_user_session("bench-live")
            [connection] = make_rooms(user, live_client(euler.url), ["streamer"])
            port = free_port()
            asgi = Child([sys.executable, "-m", "uvicorn", "--factory",
                          "bench.bench_live_latency:asgi_application", "--host", "127.0.0.1",
                          "--port", str(port), "--ws", "websockets-sansio", "--lifespan", "off",
                          "--log-level", "warning", "--no-access-log"],
                         logs / "uvicorn.log", child_env(**env))
            children.append(asgi)
            relay = relay_process("bench-latency", logs / "relay.log", tick=0.5, **env)
            children.append(relay)
            wait_port(port, asgi)
            listen([connection])
            if not wait_until(lambda: "streamer" in euler.unique_ids.values() and
                              Listening.objects.filter(
                                  connection=connection,
                                  state=Listening.State.LISTENING).exists(), 30):
                raise RuntimeError(f"the relay did not take the room: {relay.log_tail()}")
            try:
                got = asyncio.run(measure(euler, f"ws://127.0.0.1:{port}/live/{connection.pk}/",
                                          cookie, rounds, seconds, rate_events))
            except Exception as err:
                raise RuntimeError(f"{type(err).__name__}: {err}; ASGI server's log: "
                                   f"{asgi.log_tail()}") from err
    finally:
        for child in children:
            child.terminate()
        redis.stop()
    ours, base = got["ours"], got["base"]
    lost = (f"; events lost: ours {ours['lost']}, baseline {base['lost']}"
            if ours["lost"] or base["lost"] else "")
    common = (f"median of {rounds} interleaved rounds of {got['frames']} frames "
              f"({PER_FRAME} events each); {got['events']:,} events per side")
    Row(f"{label}, p50 ({db})", round(ours["p50"], 2), round(base["p50"], 2),
        round(ours["p50"] / base["p50"], 1) if base["p50"] else None, "reported", None, "ms",
        note="baseline = a bare websockets client reading the server directly: the ratio is "
        "what the relay process, Redis and the browser consumer under uvicorn add").emit()
    Row(f"{label}, p99 ({db})", round(ours["p99"], 2), round(base["p99"], 2),
        round(ours["p99"] / base["p99"], 1) if base["p99"] else None, "<= 50 ms",
        ours["p99"] <= 50 and not ours["lost"], "ms",
        note=f"{common}; worst event: ours {ours['worst']:.1f} ms, baseline "
        f"{base['worst']:.1f} ms{lost}").emit()


if __name__ == "__main__":
    main()
