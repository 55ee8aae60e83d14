"""On SQLite, writers wait for the write lock instead of failing.

A SQLite *file* (an in-memory database is private to one process) shared by real
threads, each with its own connection, in a worker process configured like a site
(``tests.settings`` with ``DATABASES["default"]`` pointed at the file). While one
thread refreshes a connection (the write lock held while the loopback provider
answers), another writes:

- the callback storing another user's connection (after the code was exchanged:
  failing there loses the tokens) must wait and succeed, with Django's default
  deferred transactions too (the app takes the write lock first);
- deleting a user must wait and succeed with the configuration the system check
  asks for (``transaction_mode: IMMEDIATE``); with deferred transactions it fails
  at once, which is why the check warns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import django
import pytest

from django_euler_oauth.checks import check_sqlite_transactions

from .support.loopback import RotatingTokenEndpoint

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "/tiktok/oauth/token"
DEADLINE = 60.0

BOOT = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
cfg = json.load(open(sys.argv[1]))
import django
from django.conf import settings
settings.DATABASES["default"] = cfg["db"]
django.setup()
from tests import test_sqlite_locking as module
getattr(module, cfg.get("entry", "worker_main"))(cfg)
"""


def set_up(cfg: dict[str, Any]) -> Any:
    """In the worker: migrate the file database; the OAuth client of the loopback provider."""
    from django.core.management import call_command

    from django_euler_oauth.models import OAuthClient

    call_command("migrate", database="default", verbosity=0, interactive=False)
    base = cfg["provider"]
    return OAuthClient.objects.create(
        slug="lock", name="Lock", client_id="cid", client_secret="secret-value",
        token_url=f"{base}{TOKEN}", revoke_url=f"{base}/tiktok/oauth/revoke",
        api_base_url=base, authorize_url=f"{base}/tiktok/oauth/authorize")


def worker_main(cfg: dict[str, Any]) -> None:
    """In the worker: set up the file database, then race a refresh against ``cfg["write"]``."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connections
    from django.test import RequestFactory
    from django.utils import timezone

    from django_euler_oauth.accounts import store_connection as _store_connection
    from django_euler_oauth.answers import parse_token_payload
    from django_euler_oauth.models import Connection
    from django_euler_oauth.refresh import refresh_connection

    client = set_up(cfg)
    users = get_user_model().objects
    refresher, writer = users.create_user("refresher"), users.create_user("writer")
    now = timezone.now()
    conn = Connection.objects.create(
        user=refresher, client=client, access_token="access-0", refresh_token="refresh-0",
        scope="webcast:fetch", expires_at=now - datetime.timedelta(seconds=5),
        refresh_expires_at=now + datetime.timedelta(days=30))
    if cfg["write"] == "delete_user":
        Connection.objects.create(
            user=writer, client=client, access_token="", refresh_token="", status="revoked",
            scope="webcast:fetch", expires_at=now, refresh_expires_at=now)
    if cfg["write"] == "rotate_keys":
        # A new key first: every stored value then needs re-encrypting (a write).
        from cryptography.fernet import Fernet
        from django.conf import settings

        settings.EULER_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode(),
                                                *settings.EULER_OAUTH_ENCRYPTION_KEYS]
    connections.close_all()
    results: dict[str, Any] = {}

    def refresh() -> None:
        try:
            results["refresh"] = refresh_connection(
                Connection.objects.get(pk=conn.pk)).access_token
        except Exception as err:
            results["refresh"] = f"{type(err).__name__}: {err}"
        finally:
            connections.close_all()

    def write() -> None:
        time.sleep(0.4)  # the refresh holds the write lock by now (the provider takes 1.5 s)
        started = time.monotonic()
        try:
            if cfg["write"] == "callback":
                request = RequestFactory().get("/oauth/callback/")
                request.user = writer
                tokens = parse_token_payload({"access_token": "access-w", "token_type": "Bearer",
                                              "refresh_token": "refresh-w", "expires_in": 3600,
                                              "scope": "webcast:fetch"})
                _store_connection(request, client, tokens, None)
                results["write"] = "ok"
            elif cfg["write"] == "rotate_keys":
                from io import StringIO

                from django.core.management import CommandError

                try:
                    call_command("euler_oauth_rotate_keys", stdout=StringIO())
                    results["write"] = "ok"
                except CommandError as err:  # a clean failure, never a raw OperationalError
                    results["write"] = f"CommandError: {err}"
            else:
                from django.db import transaction

                with transaction.atomic():  # as the admin's delete view: read, then delete
                    users.get(pk=writer.pk).delete()
                results["write"] = "ok"
        except Exception as err:
            results["write"] = f"{type(err).__name__}: {err}"
        finally:
            results["write_seconds"] = round(time.monotonic() - started, 2)
            connections.close_all()

    threads = [threading.Thread(target=refresh), threading.Thread(target=write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    results["alive"] = sum(thread.is_alive() for thread in threads)
    Path(cfg["out"]).write_text(json.dumps(results))


ATOMIC_USERS = 6


def atomic_reads_main(cfg: dict[str, Any]) -> None:
    """In the worker: ATOMIC_REQUESTS-style token reads by several users at once, each
    connection expired (so each read refreshes inside the request's transaction)."""
    import datetime

    from django.contrib.auth import get_user_model
    from django.db import connections, transaction
    from django.utils import timezone

    from django_euler_oauth.errors import EulerOAuthError
    from django_euler_oauth.models import Connection
    from django_euler_oauth.refresh import get_access_token

    client = set_up(cfg)
    users = []
    now = timezone.now()
    for number in range(ATOMIC_USERS):
        user = get_user_model().objects.create_user(f"user{number}")
        Connection.objects.create(
            user=user, client=client, access_token=f"old-{number}",
            refresh_token=f"refresh-u{number}", scope="webcast:fetch",
            expires_at=now - datetime.timedelta(seconds=5),
            refresh_expires_at=now + datetime.timedelta(days=30))
        users.append(user)
    connections.close_all()
    tokens: dict[str, str] = {}
    barrier = threading.Barrier(ATOMIC_USERS, timeout=DEADLINE)

    def request(user: Any) -> None:
        barrier.wait()
        try:
            with transaction.atomic():  # ATOMIC_REQUESTS wraps the whole view
                connection = Connection.objects.default_for(user)
                tokens[user.username] = get_access_token(connection) if connection else ""
        except EulerOAuthError as err:  # what the middleware turns into a falsy token
            tokens[user.username] = f"falsy: {err}"
        except Exception as err:
            tokens[user.username] = f"{type(err).__name__}: {err}"
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    Path(cfg["out"]).write_text(json.dumps({"tokens": tokens,
                                            "alive": sum(t.is_alive() for t in threads)}))


def race(provider: Any, write: str, options: dict[str, Any],
         entry: str = "worker_main") -> dict[str, Any]:
    initial = ["refresh-0"] if entry == "worker_main" else [
        f"refresh-u{number}" for number in range(ATOMIC_USERS)]
    provider.handle(TOKEN, RotatingTokenEndpoint(
        *initial, delay=1.5 if entry == "worker_main" else 0.3))
    with tempfile.TemporaryDirectory(prefix="euler-sqlite-lock-") as tmp:
        work = Path(tmp)
        cfg = {"db": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(work / "site.db"),
                      "OPTIONS": options}, "entry": entry,
               "provider": provider.url, "write": write, "out": str(work / "out.json")}
        (work / "cfg.json").write_text(json.dumps(cfg))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.run([sys.executable, "-c", BOOT, str(work / "cfg.json")], cwd=ROOT,
                              env=env, capture_output=True, timeout=DEADLINE + 30)
        assert proc.returncode == 0, proc.stderr.decode()[-3000:]
        result: dict[str, Any] = json.loads((work / "out.json").read_text())
    assert result["alive"] == 0, result
    return result


def test_a_callback_during_a_refresh_waits_and_stores(provider):
    """Deferred transactions (Django's default): the callback's store waited for nothing
    and failed with 'database is locked' after the code had been exchanged."""
    result = race(provider, "callback", {"timeout": 20})
    assert result["refresh"] == "access-1", result
    assert result["write"] == "ok", result
    assert result["write_seconds"] >= 0.5, result  # it waited for the refresh's commit


@pytest.mark.skipif(django.VERSION < (5, 1), reason="transaction_mode needs Django 5.1")
def test_deleting_a_user_during_a_refresh_waits_with_immediate_transactions(provider):
    result = race(provider, "delete_user", {"timeout": 20, "transaction_mode": "IMMEDIATE"})
    assert result["refresh"] == "access-1", result
    assert result["write"] == "ok", result


def test_deleting_a_user_during_a_refresh_fails_with_deferred_transactions(provider):
    """What the system check warns about: a deferred transaction that reads first (the
    admin's delete view) cannot wait for the write lock."""
    result = race(provider, "delete_user", {"timeout": 20})
    assert result["refresh"] == "access-1", result
    assert "locked" in result["write"], result  # OperationalError, or RetryableError
    assert result["write_seconds"] < 0.5, result  # no busy wait at all


def test_the_system_check_asks_for_immediate_transactions(settings, tmp_path):
    site = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "site.db")}
    settings.DATABASES = {**settings.DATABASES, "default": {**site, "OPTIONS": {"timeout": 20}}}
    [warning] = check_sqlite_transactions()
    assert warning.id == "django_euler_oauth.W003"
    if django.VERSION >= (5, 1):
        assert '"transaction_mode": "IMMEDIATE"' in warning.hint
        settings.DATABASES = {**settings.DATABASES, "default": {
            **site, "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"}}}
        assert check_sqlite_transactions() == []
    settings.DATABASES = {**settings.DATABASES, "default": {**site, "NAME": ":memory:"}}
    assert check_sqlite_transactions() == []


def test_rotate_keys_during_a_refresh_waits_and_succeeds(provider):
    """Deferred transactions too: each batch takes the write lock before reading (it
    crashed with a raw OperationalError)."""
    result = race(provider, "rotate_keys", {"timeout": 20})
    assert result["refresh"] == "access-1", result
    assert result["write"] == "ok", result
    assert result["write_seconds"] >= 0.5, result  # it waited for the refresh's commit


def test_rotate_keys_that_cannot_get_the_lock_fails_as_a_command_error(provider):
    """A lock held past OPTIONS["timeout"]: a CommandError saying to run it again."""
    result = race(provider, "rotate_keys", {"timeout": 0.2})
    assert result["write"].startswith("CommandError:"), result
    assert "locked" in result["write"] and "again" in result["write"], result


@pytest.mark.skipif(django.VERSION < (5, 1), reason="transaction_mode needs Django 5.1")
def test_atomic_requests_token_reads_all_succeed_with_immediate_transactions(provider):
    """Under ATOMIC_REQUESTS, concurrent token reads that refresh each wait their turn."""
    result = race(provider, "", {"timeout": 20, "transaction_mode": "IMMEDIATE"},
                  entry="atomic_reads_main")
    tokens = result["tokens"]
    assert len(tokens) == ATOMIC_USERS, result
    assert all(token.startswith("access-") for token in tokens.values()), result


def test_atomic_requests_token_reads_fail_with_deferred_transactions(provider):
    """What W003 warns about: deferred transactions that read first cannot wait for the
    write lock, so most concurrent token reads come back falsy."""
    result = race(provider, "", {"timeout": 20}, entry="atomic_reads_main")
    falsy = [token for token in result["tokens"].values() if not token.startswith("access-")]
    assert falsy, result
