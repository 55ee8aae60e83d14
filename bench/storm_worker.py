"""One process of the refresh storm: N threads send one request each, at the same instant.

Prints one JSON line: [[status, body, seconds], ...]. Bodies are token fingerprints.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from bench.common import setup_django


def main() -> None:
    path, threads, start_at, cookie = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
        sys.argv[4]
    setup_django()
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connections

    from bench.site import wsgi_request

    handler = WSGIHandler()
    results: list[list[object]] = [[] for _ in range(threads)]

    def one(index: int) -> None:
        # Warm up: open this thread's database connection and load the views, so the
        # storm measures refreshing, not a cold process.
        wsgi_request(handler, "/baseline/", cookie)
        time.sleep(max(0.0, start_at - time.time()))
        began = time.perf_counter()
        try:
            status, body = wsgi_request(handler, path, cookie)
        except Exception as err:  # counted as a failure, never hidden
            status, body = 599, type(err).__name__
        results[index] = [status, body, time.perf_counter() - began]
        connections.close_all()

    workers = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
