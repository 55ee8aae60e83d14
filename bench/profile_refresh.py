"""CPU per refresh in this process, the way ``euler_oauth_refresh`` refreshes one row.

``refresh_if_expiring`` over N expiring connections, sequentially, against the lean
token endpoint (bench/token_provider.py) in its own process; CPU is this process's
(``time.process_time``), so other load on the machine does not count. With
``--profile`` the loop runs under cProfile and the top functions are printed.

    BENCH_DB=postgres PYTHONPATH=. .venv/bin/python -m bench.profile_refresh 500 [--profile]

``--command`` runs ``euler_oauth_refresh`` in this process instead (``--workers N``,
default 16; ``--latency MS`` of the token endpoint): its CPU per refresh beside the
voluntary context switches per refresh, which show what threads cost under the GIL.
"""

from __future__ import annotations

import cProfile
import datetime
import json
import pstats
import sys
import time

from bench.common import setup_django


def _command(pks: list[int], count: int, provider: object, profile: bool,
             workers: int) -> None:
    """``euler_oauth_refresh --workers N`` in this process, after 50 warm-up refreshes."""
    import io
    import resource

    from django.core.management import call_command

    from django_euler_oauth.refresh import refresh_if_expiring

    within = datetime.timedelta(seconds=600)
    for pk in pks[:50]:
        refresh_if_expiring(pk, within)
    answered = provider.get("count")  # type: ignore[attr-defined]
    provider_cpu = provider.get("cpu")  # type: ignore[attr-defined]
    profilers: list[cProfile.Profile] = []
    if profile:  # one profiler per worker thread (thread CPU time), merged below
        import threading

        from django_euler_oauth import maintenance

        local = threading.local()
        plain = maintenance.refresh_one

        def refresh_one(pk: int, within: datetime.timedelta) -> tuple[str, str]:
            profiler = getattr(local, "profiler", None)
            if profiler is None:
                profiler = local.profiler = cProfile.Profile(time.thread_time)
                profilers.append(profiler)
            profiler.enable()
            try:
                return plain(pk, within)
            finally:
                profiler.disable()

        maintenance.refresh_one = refresh_one  # type: ignore[assignment]
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    cpu, wall, main_cpu = time.process_time(), time.perf_counter(), time.thread_time()
    call_command("euler_oauth_refresh", "--workers", str(workers), "--within", "600",
                 stdout=io.StringIO(), verbosity=0)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - switches
    main_cpu = time.thread_time() - main_cpu
    refreshed = int(provider.get("count") - answered)  # type: ignore[attr-defined]
    provider_ms = (provider.get("cpu") - provider_cpu) / max(refreshed, 1) * 1000  # type: ignore[attr-defined]
    print(json.dumps({"workers": workers, "refreshes": refreshed, "of": count,
                      "rate_per_s": round(refreshed / wall),
                      "cpu_ms_per_refresh": round(cpu / max(refreshed, 1) * 1000, 3),
                      "dispatch_cpu_ms_per_refresh": round(main_cpu / max(refreshed, 1) * 1000, 3),
                      "provider_cpu_ms_per_refresh": round(provider_ms, 3),
                      "context_switches_per_refresh": round(switches / max(refreshed, 1), 1)}),
          flush=True)
    if profilers:
        stats = pstats.Stats(profilers[0])
        for other in profilers[1:]:
            stats.add(other)
        stats.sort_stats("cumulative").print_stats(40)
        stats.dump_stats("/tmp/euler-refresh-command.prof")


def main() -> None:
    setup_django()
    from bench.populate import lean_provider_connections
    from bench.site import prepare_databases
    from bench.token_provider import TokenProvider
    from django_euler_oauth.refresh import refresh_if_expiring

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    profile = "--profile" in sys.argv
    prepare_databases()
    provider = TokenProvider(int(sys.argv[sys.argv.index("--latency") + 1])
                             if "--latency" in sys.argv else 0)
    try:
        pks = lean_provider_connections(provider.url, count + 50)
        if "--command" in sys.argv:
            workers = (int(sys.argv[sys.argv.index("--workers") + 1])
                       if "--workers" in sys.argv else 16)
            _command(pks, count, provider, profile, workers)
            return
        within = datetime.timedelta(seconds=600)
        for pk in pks[:50]:  # warm-up: database connections, the HTTP pool
            refresh_if_expiring(pk, within)
        profiler = cProfile.Profile(time.process_time) if profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        outcomes: dict[str, int] = {}
        for pk in pks[50:]:
            outcome, _code = refresh_if_expiring(pk, within)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        provider.stop()
    print(json.dumps({"refreshes": count, "outcomes": outcomes,
                      "cpu_ms_per_refresh": round(cpu / count * 1000, 3),
                      "wall_ms_per_refresh": round(wall / count * 1000, 3)}), flush=True)
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("tottime").print_stats(30)
        stats.dump_stats("/tmp/euler-refresh.prof")


if __name__ == "__main__":
    main()
