"""Figure 7: CPU per refresh, ours against a hand-written naive refresh, in one run.

Ours: ``refresh_if_expiring`` (what the command and the Celery task call): the row lock
(``transaction.atomic`` + ``select_for_update``, ``SET LOCAL lock_timeout``), the re-read
row, the refresh token and client secret decrypted, the POST through our client (total
deadline, size limit), the answer checked, two encryptions, one UPDATE, the commit and
the signal. The baseline is the cheapest refresh a developer would write by hand: the
refresh token and secret already in hand, one POST on a kept ``requests.Session``, the
JSON read, and one ``QuerySet.update()`` of the two tokens (which the field encrypts:
two Fernet encryptions), no lock, no transaction, no checks.

Both run in this process against the lean token endpoint (bench/token_provider.py, its
own process, no latency), in alternating blocks on distinct connections; CPU is this
thread's (``time.thread_time``), so neither the provider nor the database server counts.

    BENCH_DB=sqlite|postgres PYTHONPATH=. .venv/bin/python -m bench.bench_refresh_cpu
"""

from __future__ import annotations

import datetime
import os
import statistics
import time
from collections.abc import Callable

from bench.common import Row, alternating, setup_django


def _cpu_per_call(fn: Callable[[int], object], pks: list[int]) -> float:
    start = time.thread_time()
    for pk in pks:
        fn(pk)
    return (time.thread_time() - start) / len(pks)


def main() -> None:
    setup_django()
    import requests
    from django.db import connection as db
    from django.utils import timezone

    from bench.populate import lean_provider_connections
    from bench.site import prepare_databases
    from bench.token_provider import TokenProvider
    from django_euler_oauth.models import Connection
    from django_euler_oauth.refresh import Outcome, refresh_if_expiring

    block = int(os.environ.get("BENCH_CPU_BLOCK", "25"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "12"))
    warmup = 20
    prepare_databases()
    provider = TokenProvider(0)
    try:
        pks = lean_provider_connections(provider.url, warmup * 2 + block * rounds * 2)
        client = Connection.objects.select_related("client").get(pk=pks[0]).client
        token_url, client_id = client.token_url, client.client_id
        secret = client.client_secret
        session = requests.Session()
        within = datetime.timedelta(seconds=600)

        def ours(pk: int) -> None:
            outcome, code = refresh_if_expiring(pk, within)
            assert outcome == Outcome.REFRESHED, (outcome, code)

        def naive(pk: int) -> None:
            answer = session.post(token_url, data={
                "grant_type": "refresh_token", "client_id": client_id,
                "client_secret": secret, "refresh_token": "bench-refresh-in-hand"}, timeout=10)
            answer.raise_for_status()
            tokens = answer.json()
            Connection.objects.filter(pk=pk).update(
                access_token=tokens["access_token"], refresh_token=tokens["refresh_token"],
                expires_at=timezone.now() + datetime.timedelta(seconds=tokens["expires_in"]))

        queue = iter(pks)
        for _ in range(warmup):
            ours(next(queue))
            naive(next(queue))
        ours_cpu, naive_cpu = alternating(
            rounds, lambda: _cpu_per_call(ours, [next(queue) for _ in range(block)]),
            lambda: _cpu_per_call(naive, [next(queue) for _ in range(block)]))
        ratios = [o / n for o, n in zip(ours_cpu, naive_cpu, strict=True)]
    finally:
        provider.stop()
    ratio = statistics.median(ratios)
    Row(f"7 CPU per refresh vs a hand-written naive refresh ({db.vendor})",
        round(statistics.median(ours_cpu) * 1000, 3),
        round(statistics.median(naive_cpu) * 1000, 3), round(ratio, 2), "≤ 1.5",
        ratio <= 1.5, "ms",
        f"{rounds} alternating blocks of {block}; naive: one Session.post + two "
        "encryptions + one UPDATE, no lock").emit()


if __name__ == "__main__":
    main()
