"""Every management command answers bad input with a CommandError.

Huge, negative, NaN/inf, fractional and non-numeric numbers, malformed slugs and URLs:
each is refused before any work with a message naming the option, through
``call_command`` with command-line strings and with Python keyword values (which
argparse never sees), and from a ``manage.py`` process (exit status 1, the message on
stderr, no traceback). Nothing is changed and the provider is not asked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError

from django_euler_oauth.models import Connection

from .support.commands import run

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "/tiktok/oauth/token"
HUGE = "9" * 30  # crashed --within with OverflowError, a LIMIT/key with one in SQLite

#: (command, option as typed, bad value, words the message must hold)
TYPED = [
    ("euler_oauth_refresh", "--within", HUGE, "--within must be a whole number from 0"),
    ("euler_oauth_refresh", "--within", str(367 * 86400), "31622400"),
    ("euler_oauth_refresh", "--within", "-1", "--within must be"),
    ("euler_oauth_refresh", "--within", "nan", "invalid int value: 'nan'"),
    ("euler_oauth_refresh", "--within", "inf", "invalid int value: 'inf'"),
    ("euler_oauth_refresh", "--within", "1e99", "invalid int value: '1e99'"),
    ("euler_oauth_refresh", "--within", "ten", "invalid int value: 'ten'"),
    ("euler_oauth_refresh", "--workers", "0", "--workers must be a whole number from 1 to 64"),
    ("euler_oauth_refresh", "--workers", "1000000", "--workers must be"),
    ("euler_oauth_refresh", "--chunk-size", HUGE, "--chunk-size must be a whole number from 1"),
    ("euler_oauth_refresh", "--chunk-size", "-5", "--chunk-size must be"),
    ("euler_oauth_cleanup", "--chunk-size", HUGE, "--chunk-size must be"),
    ("euler_oauth_cleanup", "--chunk-size", "0", "--chunk-size must be"),
    ("euler_oauth_rotate_keys", "--batch-size", HUGE, "--batch-size must be"),
    ("euler_oauth_rotate_keys", "--batch-size", "0", "--batch-size must be"),
    ("euler_oauth_rotate_keys", "--start-after", HUGE, "--start-after must be"),
    ("euler_oauth_rotate_keys", "--start-after", "-1", "--start-after must be"),
    ("euler_oauth_rotate_keys", "--start-after", "one", "invalid int value"),
    ("euler_oauth_check_clients", "--callback-url", "not a url", "--callback-url must be"),
    ("euler_oauth_check_clients", "--callback-url", "ftp://site.example/cb", "absolute http"),
    ("euler_oauth_check_clients", "--callback-url", "/oauth/callback/", "absolute http"),
    ("euler_oauth_check_clients", "--callback-url", "https://site.example:99999/", "absolute"),
    ("euler_oauth_check_clients", "--callback-url", "http://[::1/cb", "absolute http"),
]

#: Python values a caller of call_command() may pass (argparse's type=int never runs).
KEYWORDS = [
    ("euler_oauth_refresh", {"within": 10**30}, "--within"),
    ("euler_oauth_refresh", {"within": float("nan")}, "--within"),
    ("euler_oauth_refresh", {"within": float("inf")}, "--within"),
    ("euler_oauth_refresh", {"within": -0.5}, "--within"),
    ("euler_oauth_refresh", {"within": 1.5}, "--within"),
    ("euler_oauth_refresh", {"within": "soon"}, "--within"),
    ("euler_oauth_refresh", {"within": True}, "--within"),
    ("euler_oauth_refresh", {"workers": 10**9}, "--workers"),
    ("euler_oauth_refresh", {"chunk_size": None}, "--chunk-size"),
    ("euler_oauth_cleanup", {"chunk_size": float("inf")}, "--chunk-size"),
    ("euler_oauth_rotate_keys", {"batch_size": 10**20}, "--batch-size"),
    ("euler_oauth_rotate_keys", {"start_after": 2**63}, "--start-after"),
    ("euler_oauth_check_clients", {"callback_url": 42}, "--callback-url"),
]

BAD_SLUGS = ["bad slug!", "nul\x00byte", "a" * 51, "ünïcode", ""]


@pytest.fixture
def untouched(provider, oauth, make_connection, user):
    """A connection the refresh would take (expiring) and its row, to compare after."""
    connection = make_connection(user, oauth, expires_in=30)
    before = list(Connection.objects.values())
    yield connection
    assert list(Connection.objects.values()) == before
    assert not provider.requests_to(TOKEN)


@pytest.mark.parametrize(("command", "option", "value", "words"), TYPED,
                         ids=[f"{c[12:]}{o}={v[:12]}" for c, o, v, _w in TYPED])
def test_typed_bad_input_is_a_command_error(untouched, command, option, value, words):
    with pytest.raises(CommandError) as refused:
        run(command, option, value)
    assert words in str(refused.value)
    assert "Traceback" not in str(refused.value)


@pytest.mark.parametrize(("command", "values", "option"), KEYWORDS,
                         ids=[f"{c[12:]}-{next(iter(v))}={next(iter(v.values()))!r:.12}"
                              for c, v, _o in KEYWORDS])
def test_keyword_bad_input_is_a_command_error(untouched, command, values, option):
    from django.core.management import call_command

    with pytest.raises(CommandError) as refused:
        call_command(command, **values)
    assert str(refused.value).startswith(f"{option} must be")


@pytest.mark.parametrize("slug", BAD_SLUGS, ids=["space", "nul", "long", "unicode", "empty"])
def test_a_malformed_slug_is_refused_before_the_database_is_asked(untouched, slug,
                                                                  django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(CommandError) as refused:
        run("euler_oauth_check_clients", "known-slug", slug)
    assert str(refused.value).startswith("Not a client slug:")


def test_good_input_at_the_bounds_still_runs(untouched):
    """The bounds refuse only what is out of range: the largest window is a dry run."""
    out = run("euler_oauth_refresh", "--within", str(366 * 86400), "--workers", "64",
              "--chunk-size", "10000", "--dry-run")
    assert "Dry run: 1 connections expire within 31622400s" in out
    assert "Marked 0" in run("euler_oauth_cleanup", "--chunk-size", "10000")


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py <args>`` for the test project, in its own process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.run([sys.executable, "-m", "django", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("args", "status", "words"), [
    (("euler_oauth_refresh", "--within", HUGE), 1, "CommandError: --within must be"),
    (("euler_oauth_rotate_keys", "--start-after", HUGE), 1, "CommandError: --start-after"),
    (("euler_oauth_check_clients", "no such!"), 1, "CommandError: Not a client slug"),
    (("euler_oauth_cleanup", "--chunk-size", "nan"), 2, "invalid int value: 'nan'"),
], ids=["refresh-within", "rotate-start-after", "check-slug", "cleanup-nan"])
def test_from_manage_py_the_exit_status_says_so(args: Any, status: int, words: str):
    result = manage(*args)
    assert result.returncode == status, result.stderr[-2000:]
    assert words in result.stderr
    assert "Traceback" not in result.stderr
