"""Thread CPU (user + system) of each part of a refresh, without a profiler.

``refresh_if_expiring`` over N expiring connections, sequentially, against the lean
token endpoint (bench/token_provider.py) in its own process, with the CPU spent inside
the row read, the UPDATE, the commit and the provider call added up per part (the
functions are wrapped for this run only). cProfile inflates Python-level calls several
times over; this does not.

    BENCH_DB=postgres PYTHONPATH=. .venv/bin/python -m bench.refresh_parts 1000
"""

from __future__ import annotations

import collections
import datetime
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import setup_django


def main() -> None:
    setup_django()
    from django.db.backends.base.base import BaseDatabaseWrapper

    from bench.populate import lean_provider_connections
    from bench.site import prepare_databases
    from bench.token_provider import TokenProvider
    from django_euler_oauth import client, refresh
    from django_euler_oauth.models import ConnectionQuerySet

    spent: collections.defaultdict[str, float] = collections.defaultdict(float)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.thread_time() - start
        return wrapper

    parts: list[tuple[Any, str, str]] = [
        (ConnectionQuerySet, "get_with_client", "locked row read (BEGIN + SELECT, instances)"),
        (ConnectionQuerySet, "save_fields", "UPDATE (fields, 2 encryptions; + COMMIT)"),
        (BaseDatabaseWrapper, "commit", "COMMIT apart (none in a short transaction)"),
        (client.ProviderClient, "refresh", "provider call, whole"),
        (client.wire, "exchange", "  of which the HTTP exchange"),
    ]
    for owner, attr, label in parts:
        setattr(owner, attr, timed(label, getattr(owner, attr)))

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    prepare_databases()
    provider = TokenProvider(0)
    try:
        pks = lean_provider_connections(provider.url, count + 50)
        within = datetime.timedelta(seconds=600)
        for pk in pks[:50]:  # warm-up: connections, compiled statements
            refresh.refresh_if_expiring(pk, within)
        spent.clear()
        start = time.thread_time()
        for pk in pks[50:]:
            refresh.refresh_if_expiring(pk, within)
        total = time.thread_time() - start
    finally:
        provider.stop()
    print(f"{'refresh_if_expiring, whole':48s} {total / count * 1000:6.3f} ms")
    for _owner, _attr, label in parts:
        print(f"{label:48s} {spent[label] / count * 1000:6.3f} ms")
    rest = total - sum(spent[label] for _o, _a, label in parts if not label.startswith(" "))
    print(f"{'the rest':48s} {rest / count * 1000:6.3f} ms")


if __name__ == "__main__":
    main()
