"""``python3 example_project/run.py`` sets everything up from nothing (checked with --check)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from .support.example_project import ROOT, RUN, example_env


def run_check(tmp: Path, port: int = 8765) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN), "--check", "--port", str(port)],
                          env=example_env(tmp), cwd=tmp, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.slow
def test_run_check_bootstraps_both_databases_and_the_demo_client(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Set-up OK" in result.stdout
    env_values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines()
                      if "=" in line and not line.startswith("#"))
    key = env_values["EULER_OAUTH_ENCRYPTION_KEYS"]
    Fernet(key.encode())  # a valid key
    assert key not in result.stdout + result.stderr

    site = sqlite3.connect(tmp_path / "db.sqlite3")
    sandbox = sqlite3.connect(tmp_path / "sandbox.sqlite3")
    try:
        token_url, secret = site.execute(
            "SELECT token_url, client_secret FROM django_euler_oauth_oauthclient "
            "WHERE slug='sandbox'").fetchone()
        assert token_url == "http://127.0.0.1:8765/sandbox/tiktok/oauth/token"
        assert secret.startswith("gAAAA")  # encrypted at rest
        assert site.execute("SELECT is_superuser FROM auth_user WHERE username='demo'"
                            ).fetchone() == (1,)
        uris = sandbox.execute("SELECT redirect_uris FROM euler_sandbox_sandboxclient"
                               ).fetchone()[0]
        assert "http://127.0.0.1:8765/oauth/callback/" in uris.split()
        # Each database holds only its own tables.
        site_tables = {r[0] for r in site.execute("SELECT name FROM sqlite_master")}
        assert not any(name.startswith("euler_sandbox_") for name in site_tables)
        sandbox_tables = {r[0] for r in sandbox.execute("SELECT name FROM sqlite_master")}
        assert "django_euler_oauth_connection" not in sandbox_tables
    finally:
        site.close()
        sandbox.close()

    # A second run (another port) keeps the key and moves the client.
    again = run_check(tmp_path, port=8766)
    assert again.returncode == 0, again.stderr
    assert f"EULER_OAUTH_ENCRYPTION_KEYS={key}" in (tmp_path / ".env").read_text()
    with contextlib.closing(sqlite3.connect(tmp_path / "db.sqlite3")) as site:
        assert site.execute("SELECT COUNT(*), MIN(token_url) FROM django_euler_oauth_oauthclient"
                            ).fetchone() == (1, "http://127.0.0.1:8766/sandbox/tiktok/oauth/token")


def demo_password_hash(tmp: Path) -> str:
    with contextlib.closing(sqlite3.connect(tmp / "db.sqlite3")) as site:
        return site.execute("SELECT password FROM auth_user WHERE username='demo'").fetchone()[0]


@pytest.mark.slow
def test_run_check_uses_the_calling_python_and_keeps_sessions_across_restarts(tmp_path):
    first = run_check(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    # It ran here (the tests' Python), not re-executed in another environment.
    assert f"(Python: {sys.executable})" in first.stdout
    assert "installing" not in (first.stdout + first.stderr).lower()
    before = demo_password_hash(tmp_path)
    again = run_check(tmp_path)
    assert again.returncode == 0, again.stderr
    # Same password: the hash (and with it every session's auth hash) is untouched.
    assert demo_password_hash(tmp_path) == before
    # A new password in the environment is set once.
    env = {**example_env(tmp_path), "EXAMPLE_DEMO_PASSWORD": "a-new-demo-password"}
    changed = subprocess.run([sys.executable, str(RUN), "--check"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    assert changed.returncode == 0, changed.stderr
    assert demo_password_hash(tmp_path) != before


@pytest.mark.slow
def test_run_check_warns_about_faults_left_in_the_sandbox(tmp_path):
    assert run_check(tmp_path).returncode == 0
    assert "still injects faults" not in run_check(tmp_path).stdout
    with contextlib.closing(sqlite3.connect(tmp_path / "sandbox.sqlite3")) as sandbox:
        sandbox.execute("INSERT INTO euler_sandbox_fault (endpoint, latency_ms, fail_next, "
                        "fail_status, error_code, error_next) VALUES ('token', 800, 2, 503, '', 0)")
        sandbox.commit()
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Warning: the sandbox still injects faults from an earlier run:" in result.stdout
    assert "“token” answers 800 ms late" in result.stdout
    assert "“token” fails the next 2 request(s) with HTTP 503" in result.stdout


def test_help_is_plain_text_with_defaults():
    result = subprocess.run([sys.executable, str(RUN), "--help"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0
    assert "``" not in result.stdout and ":func:" not in result.stdout
    assert "(default: 8000)" in result.stdout or "EXAMPLE_PORT" in result.stdout
    assert "--check" in result.stdout and "--noreload" in result.stdout


def test_the_example_extra_installs_only_what_the_example_needs():
    tomllib = pytest.importorskip("tomllib")

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["example"]
    names = {dep.split(">")[0].split("=")[0].split("[")[0].strip().lower() for dep in extra}
    # The example serves LIVE events: Channels, the relay's websockets client, uvicorn.
    assert names <= {"segno", "django-environ", "django", "requests", "cryptography",
                     "channels", "websockets", "uvicorn"}
    assert not names & {"ruff", "mypy", "django-stubs", "playwright", "celery", "pytest"}
    source = RUN.read_text()
    assert "[example]" in source and "[dev]" not in source and "runtests" not in source
