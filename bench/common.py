"""Shared pieces of the benchmarks: Django set-up, timing, result rows."""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "BENCH-RESULT "


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"  # even when run from the tests
    import django

    django.setup()


@dataclasses.dataclass
class Row:
    figure: str
    ours: float | str
    baseline: float | str
    ratio: float | None
    target: str
    passed: bool | None
    unit: str = ""
    note: str = ""

    def emit(self) -> None:
        """Print the row for bench/run.py to collect (one JSON line)."""
        print(RESULT_PREFIX + json.dumps(dataclasses.asdict(self)), flush=True)


def rate(fn: Callable[[], object], count: int) -> float:
    """Calls per second of ``fn`` over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        fn()
    return count / (time.perf_counter() - start)


def interleaved_ratio(ours: Callable[[], object], base: Callable[[], object], *,
                      rounds: int, seconds: float = 0.25, warmup: int = 200,
                      ) -> tuple[float, float, float]:
    """Median rates of ``ours`` and ``base`` and the median of per-round ratios.

    Each round times both for about ``seconds`` each (the call count is
    calibrated once), and rounds alternate which runs first, so drift on a noisy
    machine hits both alike. A 2 % difference needs samples this long: shorter
    ones measure the machine, not the code.
    """
    for _ in range(warmup):
        ours()
        base()
    probe = max(rate(base, 50), 1.0)
    count = max(50, int(probe * seconds))
    ours_rates, base_rates = alternating(rounds, lambda: rate(ours, count),
                                         lambda: rate(base, count))
    ratios = [o / b for o, b in zip(ours_rates, base_rates, strict=True)]
    return statistics.median(ours_rates), statistics.median(base_rates), statistics.median(ratios)


def alternating(rounds: int, ours: Callable[[], float],
                base: Callable[[], float]) -> tuple[list[float], list[float]]:
    """``rounds`` measurements of each, alternating which runs first in a round, so that
    drift on a noisy machine hits both alike."""
    ours_values: list[float] = []
    base_values: list[float] = []
    for index in range(rounds):
        if index % 2:
            ours_values.append(ours())
            base_values.append(base())
        else:
            base_values.append(base())
            ours_values.append(ours())
    return ours_values, base_values
