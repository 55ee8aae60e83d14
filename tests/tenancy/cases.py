"""Two tenants' databases behind a router, and a UUID-keyed custom user model.

Run in a pytest process of their own by ``tests/test_tenancy.py`` (on SQLite, and on
PostgreSQL in the PostgreSQL pass): ``AUTH_USER_MODEL`` and the databases differ from
the main suite's settings.
"""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.refresh import get_access_token, refresh_if_expiring

from ..support.loopback import Answer, Received, ScriptedProvider, token_body
from .routers import tenant

TOKEN = "/tiktok/oauth/token"
DATABASES = ["default", "tenant_b", "euler_sandbox"]
WAIT = 30.0

pytestmark = pytest.mark.django_db(databases=DATABASES, transaction=True)


def _setup(provider: ScriptedProvider, alias: str, refresh: str, *, pk: int = 101,
           expires_in: int = -10) -> Connection:
    """One client, one UUID-keyed user and connection ``pk`` in tenant ``alias``."""
    with tenant(alias):
        client = OAuthClient.objects.create(
            pk=7, slug="tiktok", name="TikTok", client_id=f"cid-{alias}",
            client_secret=f"secret-{alias}", scopes="webcast:fetch",
            token_url=f"{provider.url}{TOKEN}", api_base_url=provider.url)
        user = get_user_model().objects.create_user(f"streamer-{alias}", password="pw")
        now = timezone.now()
        return Connection.objects.create(
            pk=pk, user=user, client=client, access_token=f"access-{alias}",
            refresh_token=refresh, scope="webcast:fetch",
            expires_at=now + datetime.timedelta(seconds=expires_in),
            refresh_expires_at=now + datetime.timedelta(days=30))


def _answer_for(slow: str) -> Any:
    def answer(received: Received) -> Answer:
        refresh = received.form.get("refresh_token", "")
        return Answer(200, token_body(f"access-from-{refresh}", f"{refresh}-next"),
                      delay=1.0 if refresh == slow else 0.0)
    return answer


def test_a_refresh_in_one_tenant_is_never_handed_to_another(provider: ScriptedProvider) -> None:
    """Connection 101 of tenant A is refreshing (slowly) when connection 101 of tenant B
    needs a refresh: B makes its own, and gets its own user's token."""
    provider.handle(TOKEN, _answer_for(slow="refresh-A"))
    _setup(provider, "default", "refresh-A")
    _setup(provider, "tenant_b", "refresh-B")
    results: dict[str, str] = {}
    errors: list[BaseException] = []

    def refresh_in(alias: str) -> None:
        try:
            with tenant(alias):
                results[alias] = get_access_token(Connection.objects.get(pk=101))
        except BaseException as err:  # raised again below
            errors.append(err)
        finally:
            connections.close_all()

    first = threading.Thread(target=refresh_in, args=("default",), daemon=True)
    first.start()
    deadline = time.monotonic() + WAIT
    while not provider.requests_to(TOKEN) and time.monotonic() < deadline:
        time.sleep(0.01)  # until tenant A's refresh is at the provider
    second = threading.Thread(target=refresh_in, args=("tenant_b",), daemon=True)
    second.start()
    first.join(WAIT)
    second.join(WAIT)
    assert not errors, errors
    assert results == {"default": "access-from-refresh-A", "tenant_b": "access-from-refresh-B"}
    assert sorted(r.form["refresh_token"] for r in provider.requests_to(TOKEN)) == [
        "refresh-A", "refresh-B"]
    for alias, refresh in (("default", "refresh-A"), ("tenant_b", "refresh-B")):
        with tenant(alias):
            row = Connection.objects.get(pk=101)
            assert (row.access_token, row.refresh_token) == (
                f"access-from-{refresh}", f"{refresh}-next")


def test_the_batch_refresh_stays_in_its_tenant(provider: ScriptedProvider) -> None:
    provider.handle(TOKEN, _answer_for(slow=""))
    _setup(provider, "default", "refresh-A")
    _setup(provider, "tenant_b", "refresh-B")
    with tenant("tenant_b"):
        assert refresh_if_expiring(101, datetime.timedelta(0))[0] == "refreshed"
        assert Connection.objects.get(pk=101).access_token == "access-from-refresh-B"
    with tenant("default"):
        assert Connection.objects.get(pk=101).access_token == "access-default"  # untouched


@pytest.mark.parametrize("alias", ["default", "tenant_b"])
def test_uuid_users_read_and_refresh_their_token(provider: ScriptedProvider, client: Any,
                                                 alias: str) -> None:
    provider.handle(TOKEN, _answer_for(slow=""))
    conn = _setup(provider, alias, "refresh-U", expires_in=3600)
    with tenant(alias):
        user = conn.user
        assert isinstance(user.pk, uuid.UUID)
        found = Connection.objects.default_for(user)
        assert found is not None and found.pk == conn.pk
        assert get_access_token(found) == f"access-{alias}"  # still valid: no refresh
        Connection.objects.filter(pk=conn.pk).update(
            expires_at=timezone.now() - datetime.timedelta(seconds=1))
        assert get_access_token(Connection.objects.default_for(user)) == \
            "access-from-refresh-U"
        # Another UUID user never gets this connection.
        other = get_user_model().objects.create_user("viewer", password="pw")
        assert Connection.objects.default_for(other) is None
    assert len(provider.requests_to(TOKEN)) == 1


def test_uuid_user_token_through_the_middleware(provider: ScriptedProvider,
                                                client: Any) -> None:
    provider.handle(TOKEN, _answer_for(slow=""))
    conn = _setup(provider, "default", "refresh-U", expires_in=-10)
    client.force_login(conn.user)
    answer = client.get("/whoami/").json()
    assert answer == {"connected": True, "has_token": True,
                      "token_length": len("access-from-refresh-U")}
    assert Connection.objects.get(pk=conn.pk).access_token == "access-from-refresh-U"
