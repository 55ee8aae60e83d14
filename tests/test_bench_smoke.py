"""The benchmarks still run: every figure of ``bench/run.py --quick`` is produced.

Timings are not asserted here (that is what bench/run.py reports, as ratios
against baselines measured in the same run); the counts that are not timings
(provider refreshes and failures in the storm, queries) are.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_quick(**env: str) -> str:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick"],
                          cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def rows(output: str) -> dict[str, list[str]]:
    table = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 6 and not cells[0].startswith("↳"):
            table[cells[0]] = cells[1:]
    return table


@pytest.mark.slow
def test_quick_benchmarks_on_sqlite():
    table = rows(run_quick(EULER_SKIP_PG="1"))
    figures = " ".join(table)
    for expected in ("1a untouched view", "1b fresh token read", "5 decrypt one token",
                     "4 callback: queries", "7 CPU per refresh vs a hand-written naive"):
        assert expected in figures
    untouched_queries = next(v for k, v in table.items() if k.startswith("1a extra queries"))
    assert untouched_queries[0] == "0 queries"


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_benchmarks_on_postgres():
    table = rows(run_quick())
    storm = {k: v for k, v in table.items() if k.startswith("2 storm")}
    refreshes = next(v for k, v in storm.items() if "provider refreshes" in k)
    failures = next(v for k, v in storm.items() if "failed requests" in k)
    assert refreshes[0] == "1 calls" and failures[0] == "0 requests"
    assert any(k.startswith("3 euler_oauth_refresh") for k in table)
    assert any(k.startswith("3 peak memory streaming") for k in table)
    assert any(k.startswith("3 CPU per refresh") for k in table)
    assert any(k.startswith("6 Celery bulk refresh") for k in table)
    assert any(k.startswith("7 CPU per refresh") and "(postgresql)" in k for k in table)
    assert any(k.startswith("1b fresh token read vs minimal one-lookup view") for k in table)
