"""Figure 6: bulk refresh on Celery with 1, 2 and 4 worker processes (PostgreSQL).

A real broker (``redis-server`` on loopback), one ``celery worker`` with a prefork
pool of 1, 2 and then 4 processes (configured as the README's "Celery" section
says), the lean token endpoint of bench/token_provider.py in its own process
(50 ms latency). ``refresh_expiring`` fans ``BENCH_CELERY_COUNT`` expiring
connections out in chunks of 100. Reported per pool size: refreshes per second
(against the limit ``processes x threads / latency``: each pool process refreshes
its chunk one connection after another, or ``threads`` at a time with the
``threads`` argument; the last row, 4 processes x 8 threads), CPU per refresh in
the worker (main process and pool), and peak memory (resident high-water mark)
per pool process. Skipped,
with a row saying why, when ``redis-server`` is not installed.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import time
from pathlib import Path

from bench.common import Row, setup_django

LATENCY_MS = 50
CHUNK = 100
DEADLINE = 600.0


def proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    setup_django()
    from celery import _state
    from django.db import connections

    from bench.populate import expiring_connections
    from bench.site import make_client, prepare_databases
    from bench.token_provider import TokenProvider
    from django_euler_oauth import tasks
    from django_euler_oauth.models import Connection
    from django_euler_oauth.sandbox.setup import ensure_sandbox_client
    from tests.support.celery_app import make_app
    from tests.support.celery_support import RedisServer, WorkerPool, redis_server_path

    db = os.environ.get("BENCH_DB", "sqlite")
    count = int(os.environ.get("BENCH_CELERY_COUNT", "1200"))
    # "4x8": 4 pool processes, each refreshing its chunk with 8 threads.
    sizes = [(int(n.split("x")[0]), int(n.split("x")[1]) if "x" in n else 1)
             for n in os.environ.get("BENCH_CELERY_POOLS", "1,2,4,4x8").split(",")]
    if not redis_server_path():
        Row(f"6 Celery bulk refresh ({db})", "skipped", "", None, "reported", None,
            note="redis-server is not installed").emit()
        return
    prepare_databases()
    databases = {alias: {key: connections[alias].settings_dict[key]
                         for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")}
                 for alias in ("default", "euler_sandbox")}
    workdir = Path(tempfile.mkdtemp(prefix="euler-bench-celery-"))
    broker = RedisServer()
    provider = TokenProvider(LATENCY_MS)
    app = make_app(broker.url, visibility_timeout=900)
    app.set_current()
    app.set_default()
    _state.set_default_app(app)
    results = []
    try:
        oauth = make_client(provider.url)
        sandbox = ensure_sandbox_client("bench-celery", client_secret="bench-secret",
                                        name="bench", redirect_uris=["http://127.0.0.1/cb"])
        for processes, threads in sizes:
            Connection.objects.all().delete()
            expiring_connections(count, sandbox, oauth, with_grants=False)
            pool = WorkerPool(workdir, broker_url=broker.url, databases=databases,
                              concurrency=processes, name=f"bench{processes}x{threads}",
                              visibility_timeout=900, settings_module="bench.settings",
                              celery={"task_time_limit": 600, "task_soft_time_limit": 540})
            try:
                pool.wait_ready(app)
                children = pool.children()
                cpu_before = proc_cpu(pool.process.pid) + sum(proc_cpu(p) for p in children)
                answered = provider.get("count")
                began = time.perf_counter()
                tasks.refresh_expiring.delay(within=900, chunk_size=CHUNK, threads=threads)
                deadline = time.monotonic() + DEADLINE
                for polls in itertools.count():
                    if provider.get("count") - answered >= count:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{processes} processes: not done in {DEADLINE} s:"
                                           f" {pool.log_tail()}")
                    # A failed refresh is never sent again: stop at once, not at the deadline.
                    if polls % 20 == 0:
                        errors = list(Connection.objects.exclude(last_error="")
                                      .values_list("last_error", flat=True)[:1])
                        if errors:
                            raise RuntimeError(f"{processes} processes: a refresh failed: "
                                               f"{errors[0]!r}")
                    time.sleep(0.05)
                elapsed = time.perf_counter() - began
                children = pool.children()
                cpu = (proc_cpu(pool.process.pid) + sum(proc_cpu(p) for p in children)
                       - cpu_before)
                peaks = [peak_kib(p) for p in children]
                results.append({"processes": processes, "threads": threads,
                                "rate": count / elapsed,
                                "cpu_ms": cpu / count * 1000,
                                "peak_mib": max(peaks) / 1024 if peaks else 0,
                                "main_mib": peak_kib(pool.process.pid) / 1024})
            finally:
                pool.stop()
    finally:
        provider.stop()
        broker.stop()
    base = results[0]["rate"] if results else 1.0
    for result in results:
        limit = result["processes"] * result["threads"] / (LATENCY_MS / 1000)
        ratio = result["rate"] / limit
        Row(f"6 Celery bulk refresh, {count:,} connections, {result['processes']} pool "
            f"process(es) x {result['threads']} thread(s) ({db})", round(result["rate"], 1),
            round(limit), round(ratio, 2), ">= 0.8 of in-flight/latency", ratio >= 0.8,
            "refresh/s",
            note=f"{result['rate'] / base:.2f}x one process; CPU per refresh "
            f"{result['cpu_ms']:.2f} ms (worker, main + pool); peak memory "
            f"{result['peak_mib']:.0f} MiB per pool process, main "
            f"{result['main_mib']:.0f} MiB").emit()
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
