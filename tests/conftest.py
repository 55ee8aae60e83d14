"""Fixtures for every test module: the scripted provider, OAuth clients, users, connections.

Fixtures that several test modules share are defined in ``tests/support/`` (with what else
they need) and registered here by importing them: no test module imports another.
"""

from __future__ import annotations

import datetime
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone

from django_euler_oauth import client as client_module
from django_euler_oauth.models import Connection, OAuthClient

from .support.browser import example_site, page  # noqa: F401  (fixtures)
from .support.error_reports import (  # noqa: F401  (fixtures)
    admin_mails,
    reporting_client,
    reporting_conn,
    reporting_web,
)
from .support.loopback import ScriptedProvider
from .support.raw_server import RawServer, raw_servers
from .support.recorder import Recorder
from .support.sandbox_fixtures import *  # noqa: F403  (sandbox fixtures, see that module)
from .support.signin import signin_oauth  # noqa: F401  (fixtures)
from .support.teams import moderator, streamer, team_conn  # noqa: F401  (fixtures)

# Euler's SDK (eulerapisdk 0.5) needs Python 3.11+: its tests cannot even be collected on 3.10.
collect_ignore = [] if sys.version_info >= (3, 11) else ["test_sdk_sandbox.py",
                                                          "test_sdk_helper.py",
                                                          "test_sdk_error_reports.py"]


@pytest.fixture
def provider() -> Iterator[ScriptedProvider]:
    """A scripted provider on loopback; stopped after the test."""
    server = ScriptedProvider().start()
    yield server
    server.stop()


@pytest.fixture
def make_client(db: Any) -> Callable[..., OAuthClient]:
    """Create an OAuthClient; ``base`` points every endpoint at one host."""
    counter = {"n": 0}

    def make(base: str = "https://tiktok.eulerstream.com", **fields: Any) -> OAuthClient:
        counter["n"] += 1
        values: dict[str, Any] = {
            "slug": f"client-{counter['n']}",
            "name": f"Client {counter['n']}",
            "client_id": f"cid-{counter['n']}",
            "client_secret": f"secret-value-{counter['n']}",
            "scopes": "webcast:fetch",
            "authorize_url": f"{base}/tiktok/oauth/authorize",
            "token_url": f"{base}/tiktok/oauth/token",
            "revoke_url": f"{base}/tiktok/oauth/revoke",
            "api_base_url": base,
        }
        values.update(fields)
        return OAuthClient.objects.create(**values)

    return make


@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", "alice@example.com", "pw")


@pytest.fixture
def make_connection(db: Any) -> Callable[..., Connection]:
    def make(user: Any, client: OAuthClient, *, expires_in: int = 3600,
             refresh_in: int = 30 * 86400, **fields: Any) -> Connection:
        now = timezone.now()
        values: dict[str, Any] = {
            "access_token": "access-0",
            "refresh_token": "refresh-0",
            "scope": "webcast:fetch",
            "expires_at": now + datetime.timedelta(seconds=expires_in),
            "refresh_expires_at": now + datetime.timedelta(seconds=refresh_in),
        }
        values.update(fields)
        return Connection.objects.create(user=user, client=client, **values)

    return make


@pytest.fixture
def oauth(make_client: Callable[..., OAuthClient], provider: ScriptedProvider) -> OAuthClient:
    """An OAuth client whose endpoints are the scripted provider's."""
    return make_client(base=provider.url)


@pytest.fixture
def admin_browser(client: Any, django_user_model: Any) -> Any:
    """The test client, logged in as a superuser."""
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


@pytest.fixture
def browser(client: Any, user: Any) -> Any:
    """The test client, logged in as ``user``."""
    client.force_login(user)
    return client


@pytest.fixture
def recorder(db: Any) -> Iterator[Recorder]:
    """Counts every signal the app sends (run on_commit callbacks with ``.commit()``)."""
    rec = Recorder()
    yield rec
    rec.close()


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    """``make(script, tls=None)``: raw loopback servers (:mod:`tests.support.raw_server`), stopped
    after the test."""
    with raw_servers() as make:
        yield make


@pytest.fixture
def fresh_provider_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No proxy or CA bundle variable from the machine running the tests, and a new
    process-wide provider session for the test, closed after it."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(client_module, "_session", None)
    yield
    session = client_module._session
    if session is not None:
        session.close()
