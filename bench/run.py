#!/usr/bin/env python3
"""Run every benchmark and print one table: ``python3 bench/run.py``.

Like runtests.py it bootstraps ``.venv`` and starts a throwaway PostgreSQL
cluster on loopback. Each figure runs in its own process (fresh memory, fresh
database); each compares our figure with a baseline measured in the same run.
Results are printed and written to ``bench/results/latest.md``.
``--quick`` runs every figure small (the test suite's smoke run uses it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import runtests  # noqa: E402

PREFIX = "BENCH-RESULT "

# (module, database, extra environment)
PLAN: list[tuple[str, str, dict[str, str]]] = [
    ("bench.bench_middleware", "sqlite", {}),
    ("bench.bench_middleware", "postgres", {}),
    ("bench.bench_crypto", "sqlite", {}),
    ("bench.bench_callback", "sqlite", {}),
    ("bench.bench_storm", "postgres", {}),
    ("bench.bench_refresh_cpu", "sqlite", {}),
    ("bench.bench_refresh_cpu", "postgres", {}),
    ("bench.bench_refresh_scale", "postgres", {}),
    ("bench.bench_celery", "postgres", {}),
    ("bench.bench_live_throughput", "sqlite", {}),
    ("bench.bench_live_latency", "sqlite", {}),
    ("bench.bench_live_scale", "sqlite", {"BENCH_LIVE_PARTS": "memory"}),
    ("bench.bench_live_scale", "postgres", {"BENCH_LIVE_PARTS": "relays"}),
]
QUICK = {"BENCH_SECONDS": "0.02", "BENCH_ROUNDS": "3", "BENCH_SCALE_SMALL": "200",
         "BENCH_SCALE_LARGE": "400", "BENCH_SEQUENTIAL_SAMPLE": "10",
         "BENCH_CELERY_COUNT": "40", "BENCH_CPU_BLOCK": "5", "BENCH_CELERY_POOLS": "1,2x2",
         "BENCH_LIVE_EVENTS": "2000", "BENCH_LIVE_SECONDS": "0.3", "BENCH_LIVE_ROOMS": "50",
         "BENCH_LIVE_IDLE": "2"}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {sys.version.split()[0]}"


def run_one(module: str, db: str, extra: dict[str, str], base_env: dict[str, str],
            python: str) -> tuple[list[dict[str, object]], str]:
    workdir = tempfile.mkdtemp(prefix="euler-bench-")
    env = {**base_env, **extra, "BENCH_DB": db, "BENCH_DIR": workdir}
    # Its own process group: on a timeout the figure's servers and workers go too.
    proc = subprocess.Popen([python, "-m", module], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        stderr += "\ntimed out after 900 s"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows = [json.loads(line[len(PREFIX):]) for line in stdout.splitlines()
            if line.startswith(PREFIX)]
    error = "" if proc.returncode == 0 else stderr[-1500:]
    return rows, error


def table(rows: list[dict[str, object]]) -> str:
    head = ["figure", "ours", "baseline", "ratio", "target", "result"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        verdict = {True: "pass", False: "FAIL", None: "—"}[row["passed"]]  # type: ignore[index]
        unit = f" {row['unit']}" if row["unit"] else ""
        ratio = "—" if row["ratio"] is None else str(row["ratio"])
        cells = [str(row["figure"]), f"{row['ours']}{unit}", f"{row['baseline']}{unit}", ratio,
                 str(row["target"]), verdict]
        lines.append("| " + " | ".join(cells) + " |")
        if row.get("note"):
            lines.append(f"|  ↳ {row['note']} | | | | | |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    os.chdir(ROOT)
    if sys.prefix == sys.base_prefix:  # not in the venv yet: bootstrap and re-run there
        runtests.ensure_venv()
        return subprocess.call([str(runtests.VENV_PY), __file__, *argv])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    if quick:
        env.update(QUICK)
    if os.environ.get("EULER_SKIP_PG"):
        pg = None
    elif os.environ.get("EULER_TEST_PG_PORT"):  # a cluster is running already (the suite's)
        pg = {key: os.environ[key] for key in ("EULER_TEST_PG_HOST", "EULER_TEST_PG_PORT",
                                                  "EULER_TEST_PG_USER") if key in os.environ}
    else:
        pg = runtests.start_postgres()
    if pg:
        env.update(pg)
    started = time.monotonic()
    rows: list[dict[str, object]] = []
    errors: list[str] = []
    for module, db, extra in PLAN:
        if db == "postgres" and not pg:
            print(f"[bench] {module} on PostgreSQL skipped: no cluster", flush=True)
            continue
        print(f"[bench] {module} ({db}) …", flush=True)
        got, error = run_one(module, db, extra, env, sys.executable)
        rows.extend(got)
        if error or not got:
            errors.append(f"{module} ({db}): {error or 'no result'}")
    elapsed = time.monotonic() - started
    report = table(rows)
    print()
    print(report)
    print(f"\n{len(rows)} figures in {elapsed:.0f}s on {machine()}")
    for error in errors:
        print(f"[bench] ERROR {error}", file=sys.stderr)
    if not quick:
        out = ROOT / "bench" / "results" / "latest.md"
        out.parent.mkdir(exist_ok=True)
        out.write_text(f"# Latest benchmark run\n\n{machine()}, {elapsed:.0f}s, "
                       f"`python3 bench/run.py`\n\n{report}\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
