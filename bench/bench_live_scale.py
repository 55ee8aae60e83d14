"""Figure 10: LIVE rooms at scale: 1,500 rooms held by one relay process, and two relays.

Memory and idle CPU (``BENCH_LIVE_PARTS`` has ``memory``): an Euler-speaking server
(tests/support/euler_ws.py, in this process) holds every socket open after Euler's
``workerInfo`` frame. A relay process (``manage.py euler_oauth_live``, default tick) is
given ``BENCH_LIVE_ROOMS`` listened-to rooms; beside it, the baseline: one process holding
as many sockets to the same server with bare ``websockets`` clients (a task reading each,
as the relay has). Memory per room is each process's resident memory (VmRSS, from /proc)
once every socket is open, minus its own before it opened any, divided by the rooms; idle
CPU is each process's CPU time over the same idle interval (``BENCH_LIVE_IDLE`` seconds),
both measured side by side. Goal: memory per room at most 1.5x the bare clients'; the CPU
is reported.

Two relays (``BENCH_LIVE_PARTS`` has ``relays``; PostgreSQL only, as deployments share rooms
through it): two relay processes with a 5 s lease share the rooms (each one's count is
reported; goal: even, within one room), then one is SIGKILLed and the time until the other
holds every room, with a socket open for each, is reported (goal: within the lease plus two
ticks).
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import time
from typing import Any

from bench.common import ROOT, Row, setup_django

BARE = "--bare"
LEASE = 5.0
FAILOVER_TICK = 1.0
OPEN_DEADLINE = 180.0


# -- the baseline: bare websockets clients in one process --------------------------------

async def hold_bare(url: str, count: int) -> None:
    """The baseline process: ``ready`` once started; on the line ``open``, ``count``
    sockets, each read by a task (``opened N``); closes them when stdin closes."""
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()

    async def line() -> str:
        return await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), 900)

    async def read(socket: Any) -> None:
        async for _frame in socket:
            pass

    print("ready", flush=True)
    if (await line()).strip() != "open":
        return
    sockets = await asyncio.gather(*(
        connect(f"{url}?uniqueId=bare{n}&apiKey=bare", open_timeout=60)
        for n in range(count)))
    readers = [asyncio.create_task(read(socket)) for socket in sockets]
    print(f"opened {len(sockets)}", flush=True)
    await line()  # until the parent closes stdin
    for socket in sockets:
        await socket.close()
    for reader in readers:
        reader.cancel()


class BareProcess:
    def __init__(self, url: str, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_live_scale", BARE, url, str(count)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.expect("ready", 60)

    @property
    def pid(self) -> int:
        return self.process.pid

    def expect(self, word: str, timeout: float) -> str:
        assert self.process.stdout is not None
        ready, _w, _x = select.select([self.process.stdout], [], [], timeout)
        got = self.process.stdout.readline() if ready else ""
        if not got.startswith(word):
            raise RuntimeError(f"the bare clients' process said {got!r}, not {word!r}")
        return got

    def open(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("open\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


# -- the parts ------------------------------------------------------------------------------

def open_rooms(euler: Any, prefix: str) -> list[str]:
    return [uid for uid in list(euler.unique_ids.values()) if uid.startswith(prefix)]


def memory_part(euler: Any, owner: Any, client: Any, rooms: int, idle: float,
                db: str) -> None:
    from bench.bench_live_common import (
        cpu_seconds,
        listen,
        make_rooms,
        relay_process,
        rss_kib,
        wait_until,
        workdir,
    )
    from django_euler_oauth.live.models import Listening
    from django_euler_oauth.live.models import Relay as RelayRow

    connections = make_rooms(owner, client, [f"room{n}" for n in range(rooms)])
    # Two of the relay's 2 s ticks, for it to settle (shorter in the quick smoke run).
    settle = 4.5 if idle >= 10 else 1.0
    relay = relay_process("bench-scale", workdir() / "relay-scale.log")
    bare = BareProcess(euler.url, rooms)
    try:
        if not wait_until(lambda: RelayRow.objects.filter(name="bench-scale").exists(), 60):
            raise RuntimeError(f"the relay did not start: {relay.log_tail()}")
        time.sleep(settle)  # past its first ticks: settled, no room yet
        relay_before, bare_before = rss_kib(relay.pid), rss_kib(bare.pid)
        began = time.monotonic()
        listen(connections)
        bare.open()
        bare.expect("opened", OPEN_DEADLINE)
        if not wait_until(lambda: len(open_rooms(euler, "room")) >= rooms and
                          Listening.objects.filter(state=Listening.State.LISTENING).count()
                          >= rooms, OPEN_DEADLINE, interval=0.2):
            raise RuntimeError(f"the relay opened {len(open_rooms(euler, 'room'))} of "
                               f"{rooms} rooms: {relay.log_tail()}")
        opened_in = time.monotonic() - began
        time.sleep(settle)  # more ticks of the relay: its steady state
        relay_after, bare_after = rss_kib(relay.pid), rss_kib(bare.pid)
        relay_cpu, bare_cpu = cpu_seconds(relay.pid), cpu_seconds(bare.pid)
        time.sleep(idle)
        relay_cpu = cpu_seconds(relay.pid) - relay_cpu
        bare_cpu = cpu_seconds(bare.pid) - bare_cpu
        still_open = len(open_rooms(euler, "room")), len(open_rooms(euler, "bare"))
    finally:
        bare.stop()
        relay.terminate()
    ours_kib = (relay_after - relay_before) / rooms
    base_kib = (bare_after - bare_before) / rooms
    ratio = ours_kib / base_kib if base_kib > 0 else None
    Row(f"10 LIVE memory per room, {rooms:,} rooms in one relay process vs bare websockets "
        f"clients ({db})", round(ours_kib, 1), round(base_kib, 1),
        round(ratio, 2) if ratio else None, "<= 1.5", ratio is not None and ratio <= 1.5,
        "KiB", note=f"RSS growth: relay {relay_before / 1024:.0f} -> "
        f"{relay_after / 1024:.0f} MiB, bare clients {bare_before / 1024:.0f} -> "
        f"{bare_after / 1024:.0f} MiB; all {rooms:,} rooms listening {opened_in:.1f} s after "
        f"live.start").emit()
    ours_ms, base_ms = relay_cpu / idle * 1000, bare_cpu / idle * 1000
    Row(f"10 LIVE idle CPU, {rooms:,} rooms in one relay process vs bare websockets clients "
        f"({db})", round(ours_ms, 1), round(base_ms, 1),
        round(ours_ms / base_ms, 1) if base_ms > 0 else None, "reported", None, "ms CPU/s",
        note=f"CPU time over the same {idle:g} s idle interval (default 2 s relay tick, "
        f"websockets' 20 s pings); sockets still open at its end: relay {still_open[0]}, "
        f"bare {still_open[1]}").emit()


def holders() -> dict[str, int]:
    from django_euler_oauth.live.models import Listening

    counts: dict[str, int] = {}
    for holder in Listening.objects.filter(enabled=True).values_list("holder", flat=True):
        counts[holder] = counts.get(holder, 0) + 1
    return counts


def relays_part(euler: Any, owner: Any, client: Any, rooms: int, db: str) -> None:
    from bench.bench_live_common import listen, make_rooms, relay_process, wait_until, workdir

    connections = make_rooms(owner, client, [f"shared{n}" for n in range(rooms)])
    listen(connections)
    logs = workdir()
    env = {"EULER_OAUTH_LIVE_LEASE_SECONDS": str(LEASE)}
    half, rest = rooms // 2, rooms - rooms // 2

    def even() -> bool:
        counts = holders()
        return (sorted(counts.values()) == sorted([half, rest]) and "" not in counts
                and len(set(open_rooms(euler, "shared"))) == rooms)

    began = time.monotonic()
    relay_a = relay_process("bench-relay-a", logs / "relay-a.log", tick=FAILOVER_TICK, **env)
    relay_b = relay_process("bench-relay-b", logs / "relay-b.log", tick=FAILOVER_TICK, **env)
    try:
        shared = wait_until(even, OPEN_DEADLINE, interval=0.1)
        shared_in = time.monotonic() - began
        counts = holders()
        sockets = open_rooms(euler, "shared")
        duplicates = len(sockets) - len(set(sockets))
        relay_a.kill()  # SIGKILL: no release, its leases must run out
        killed = time.monotonic()

        held_at: list[float] = []

        def taken_over() -> bool:
            if not held_at and holders() == {"bench-relay-b": rooms}:
                held_at.append(time.monotonic() - killed)
            return bool(held_at) and len(set(open_rooms(euler, "shared"))) == rooms

        survived = wait_until(taken_over, 10 * LEASE + 60, interval=0.05)
        took = time.monotonic() - killed
        after = holders()
    finally:
        relay_a.kill()
        relay_b.terminate()
    a, b = counts.get("bench-relay-a", 0), counts.get("bench-relay-b", 0)
    Row(f"10 LIVE two relay processes sharing {rooms:,} rooms ({db})", f"{a} + {b}",
        f"{half} + {rest}", None, "even (within one room)",
        shared and abs(a - b) <= 1 and duplicates == 0, "rooms",
        note=f"held {a} and {b} rooms {shared_in:.1f} s after both started (tick "
        f"{FAILOVER_TICK:g} s); sockets open at the server: {len(sockets)}, "
        f"{duplicates} rooms with two").emit()
    limit = LEASE + 2 * FAILOVER_TICK
    Row(f"10 LIVE failover: one relay SIGKILLed, the other holds all {rooms:,} rooms ({db})",
        round(took, 2), LEASE, round(took / LEASE, 2), f"<= lease + 2 ticks ({limit:g} s)",
        survived and took <= limit, "s",
        note=f"time from SIGKILL until the survivor held every room (in the database after "
        f"{held_at[0] if held_at else float('nan'):.2f} s) with a socket open for each; "
        f"baseline = the lease (EULER_OAUTH_LIVE_LEASE_SECONDS), tick {FAILOVER_TICK:g} s; "
        f"holders at the end: {after}").emit()


def main() -> None:
    if sys.argv[1:2] == [BARE]:
        asyncio.run(hold_bare(sys.argv[2], int(sys.argv[3])))
        return
    setup_django()
    from django.contrib.auth import get_user_model

    from bench.bench_live_common import live_client, raise_fd_limit
    from bench.site import prepare_databases
    from tests.support.euler_ws import WORKER_INFO, EulerWebSocketServer, Script

    db = os.environ.get("BENCH_DB", "sqlite")
    rooms = int(os.environ.get("BENCH_LIVE_ROOMS", "1500"))
    idle = float(os.environ.get("BENCH_LIVE_IDLE", "20"))
    parts = os.environ.get("BENCH_LIVE_PARTS", "memory,relays").split(",")
    # This process holds the server's end of every socket (two per room at most, while
    # the relay and the bare clients hold theirs): raise the limit if it is low.
    raise_fd_limit(2 * rooms + 1024)
    prepare_databases()
    with EulerWebSocketServer() as euler:
        euler.default = Script(frames=[WORKER_INFO], hold=True)
        owner = get_user_model().objects.create_user("bench-live-owner")
        client = live_client(euler.url)
        if "memory" in parts:
            memory_part(euler, owner, client, rooms, idle, db)
        if "relays" in parts:
            if db == "postgres":
                from django_euler_oauth.live.models import Listening

                Listening.objects.update(enabled=False)  # the memory part's rooms
                relays_part(euler, owner, client, rooms, db)
            else:
                Row(f"10 LIVE two relay processes sharing rooms ({db})", "skipped", "", None,
                    "even", None, note="run on PostgreSQL (BENCH_DB=postgres)").emit()


if __name__ == "__main__":
    main()
