#!/usr/bin/env python3
"""Run the whole test suite: ``python3 runtests.py [pytest arguments]``.

On a fresh machine it installs what it needs: a virtualenv in ``.venv`` with the
package and its test extras, Debian's ``chromium`` for the browser tests (via
apt-get, when run as root), and a throwaway PostgreSQL cluster on loopback for
the locking and concurrency tests. Then it runs ruff and mypy, the suite on
SQLite, and the PostgreSQL tests on the cluster. Exits non-zero on any failure.

Environment: ``EULER_SKIP_LINT=1`` skips ruff/mypy, ``EULER_SKIP_PG=1`` skips
the PostgreSQL pass, ``EULER_SKIP_BROWSER=1`` skips the browser tests,
``EULER_SKIP_DOCS=1`` the documentation build, ``EULER_SKIP_NOX=1`` the supported-versions
matrix and the packaging check (the ``ci`` sessions of noxfile.py, in two parallel lanes;
logs in ``.nox/logs/``).
"""

from __future__ import annotations

import atexit
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PY = VENV / "bin" / "python"


def log(message: str) -> None:
    print(f"[runtests] {message}", flush=True)


def run(cmd: list[str], **kwargs: object) -> int:
    return subprocess.call(cmd, **kwargs)  # type: ignore[arg-type]


def ensure_venv() -> None:
    """Create .venv and install the package with its dev extras (once per pyproject)."""
    if not VENV_PY.exists():
        log("creating .venv")
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    stamp = VENV / ".euler-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    log("installing the package and its test dependencies into .venv")
    subprocess.check_call([str(VENV_PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    subprocess.check_call([str(VENV_PY), "-m", "pip", "install", "-q", "-e", f"{ROOT}[dev]"])
    stamp.write_text(digest)


def ensure_chromium() -> str | None:
    """Path of a Chromium for the browser tests, installing Debian's when possible."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("EULER_SKIP_BROWSER"):
        return None
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing Debian's chromium for the browser tests (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.call(["apt-get", "update", "-qq"], env=env)
        if subprocess.call(["apt-get", "install", "-y", "-qq", "chromium"], env=env) == 0:
            return shutil.which("chromium")
    log("chromium is not available: the browser tests will be skipped")
    return None


def ensure_redis() -> str | None:
    """Path of ``redis-server`` for the real-broker Celery tests, installing Debian's.

    Each of those tests starts its own server on 127.0.0.1 on a free port (so it can
    restart it mid-run) and stops it at exit; under CI they fail when it is missing.
    """
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        log("installing Debian's redis-server for the Celery tests (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.call(["apt-get", "update", "-qq"], env=env)
        if subprocess.call(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                            "redis-server"], env=env) == 0:
            # The package's own service is not wanted: the tests run their own servers.
            subprocess.call(["service", "redis-server", "stop"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
            return shutil.which("redis-server")
    log("redis-server is not available: the real-broker Celery tests will be skipped")
    return None


def ensure_node_client() -> None:
    """``npm ci`` in tests/js: Euler's WebSocket SDK and ``ws``, an outside client of the
    sandbox's WebSocket (those tests skip, saying why, without Node)."""
    folder = ROOT / "tests" / "js"
    npm = shutil.which("npm")
    if not (npm and shutil.which("node") and (folder / "package-lock.json").exists()):
        log("node/npm not found: the tests with Euler's npm SDK will be skipped")
        return
    stamp = folder / "node_modules" / ".euler-installed"
    digest = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    log("installing Euler's npm WebSocket SDK for the tests (npm ci in tests/js)")
    if subprocess.call([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                       cwd=folder) == 0:
        stamp.write_text(digest)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_postgres() -> dict[str, str] | None:
    """A throwaway cluster on 127.0.0.1; stopped and deleted at exit."""
    initdb = shutil.which("initdb")
    pg_ctl = shutil.which("pg_ctl")
    if not (initdb and pg_ctl):
        log("initdb/pg_ctl not found: the PostgreSQL tests will be skipped")
        return None
    base = Path(tempfile.mkdtemp(prefix="euler-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
    port = free_port()
    log(f"starting a throwaway PostgreSQL cluster on 127.0.0.1:{port}")
    subprocess.check_call([*as_user, initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                           "--no-sync", "-E", "UTF8"], stdout=subprocess.DEVNULL)
    options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {sock} -c fsync=off "
               "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
    subprocess.check_call([*as_user, pg_ctl, "-D", str(data), "-o", options, "-w", "-t", "60",
                           "-l", str(base / "log"), "start"], stdout=subprocess.DEVNULL)

    def stop() -> None:
        subprocess.call([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    return {"EULER_TEST_PG_HOST": "127.0.0.1", "EULER_TEST_PG_PORT": str(port),
            "EULER_TEST_PG_USER": "postgres"}


# The sessions tagged "ci" in noxfile.py, in two lanes of about equal length run side by side
# (each session has its own venv under .nox/, so they do not interfere).
NOX_LANES = [["lowest", "package"], ["tests(3.13-django6.1)"]]


def run_nox(lanes: list[list[str]]) -> list[str]:
    """Run each lane (``nox -s a b``) as its own process; the failed lanes' names."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    logs = ROOT / ".nox" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for lane in lanes:
        log_path = logs / (re.sub(r"[^A-Za-z0-9.-]+", "-", "+".join(lane)) + ".log")
        with log_path.open("wb") as out:
            proc = subprocess.Popen([str(VENV_PY), "-m", "nox", "--no-color", "-s", *lane],
                                    stdout=out, stderr=subprocess.STDOUT, env=env)
        running.append((lane, log_path, proc))
    failed = []
    for lane, log_path, proc in running:
        rc = proc.wait()
        text = log_path.read_text(errors="replace")
        if rc:
            failed.append("nox " + " ".join(lane))
            print(text, flush=True)
        else:
            print("\n".join(line for line in text.splitlines()
                            if line.startswith("nox >") or " passed" in line), flush=True)
    return failed


def main(argv: list[str]) -> int:
    os.chdir(ROOT)
    ensure_venv()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    chromium = ensure_chromium()
    if chromium:
        env["EULER_CHROMIUM"] = chromium
    ensure_node_client()
    redis_server = ensure_redis()
    if redis_server:
        env["EULER_REDIS_SERVER"] = redis_server
    started = time.monotonic()
    failures: list[str] = []

    if not argv and not os.environ.get("EULER_SKIP_LINT"):
        log("ruff")
        if run([str(VENV_PY), "-m", "ruff", "check", "."], env=env):
            failures.append("ruff")
        log("mypy")
        if run([str(VENV_PY), "-m", "mypy"], env=env):
            failures.append("mypy")

    if not argv and not os.environ.get("EULER_SKIP_DOCS"):
        log("documentation (Sphinx, warnings are errors)")
        step = time.monotonic()
        if run([str(VENV_PY), "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                "docs", "docs/_build/html"], env=env):
            failures.append("docs")
        log(f"documentation built in {time.monotonic() - step:.0f}s")

    log("test suite on SQLite")
    sqlite_rc = run([str(VENV_PY), "-m", "pytest", "-m", "not postgres", *argv], env=env)
    if sqlite_rc not in (0, 5) or (sqlite_rc == 5 and not argv):
        failures.append("pytest (SQLite)")

    if not os.environ.get("EULER_SKIP_PG"):
        pg_env = start_postgres()
        if pg_env:
            log("locking and concurrency tests on PostgreSQL")
            pg_rc = run([str(VENV_PY), "-m", "pytest", "-m", "postgres", *argv],
                        env={**env, **pg_env, "EULER_TEST_DB": "postgres"})
            if pg_rc not in (0, 5) or (pg_rc == 5 and not argv):
                failures.append("pytest (PostgreSQL)")
        elif os.environ.get("CI"):
            failures.append("PostgreSQL could not be started")

    if not argv and not os.environ.get("EULER_SKIP_NOX"):
        log("supported versions and packaging (nox -t ci, two lanes in parallel)")
        step = time.monotonic()
        failures += run_nox(NOX_LANES)
        log(f"nox sessions took {time.monotonic() - step:.0f}s")

    log(f"finished in {time.monotonic() - started:.0f}s")
    if failures:
        log("FAILED: " + ", ".join(failures))
        return 1
    log("all green")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
