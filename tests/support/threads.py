"""Running one callable in several threads at once, each with its own database connection."""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections


def in_threads(count: int, target: Any, *, timeout: float = 60) -> list[Any]:
    """``target()`` in ``count`` threads released together; each result or exception."""
    results: list[Any] = [None] * count
    barrier = threading.Barrier(count, timeout=30)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = target()
        except Exception as err:
            results[index] = err
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads)
    return results
