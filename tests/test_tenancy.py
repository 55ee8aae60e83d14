"""Runs ``tests/tenancy/cases.py`` in a pytest process of its own, with a UUID-keyed
custom user model and two tenants' databases behind a router."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("database", [
    "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_tenants_and_uuid_users(database: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if database == "postgres":
        if os.environ.get("EULER_TEST_DB") != "postgres":
            pytest.skip("the PostgreSQL pass runs this (EULER_TEST_DB=postgres)")
        env["EULER_TEST_PG_PREFIX"] = env.get("EULER_TEST_PG_PREFIX", "") + "tenancy_"
    else:
        env.pop("EULER_TEST_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--ds=tests.tenancy.settings", "tests/tenancy/cases.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "5 passed" in output, output[-3000:]
