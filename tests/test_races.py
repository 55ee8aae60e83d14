"""Races around reconnects, deletions and the row lock.

A stale ``session_expired`` must leave a reconnect made meanwhile alone, and deleting a
user sends ``disconnected`` once: these hold on every database (run on SQLite and
PostgreSQL). A user deleted during a refresh, a connection deleted while a request waits
for its lock, and ``lock_timeout`` after a refresh inside an outer transaction happen on
PostgreSQL, where a deletion, a refresh and a request wait for each other's row locks:
they run there (``-m postgres``) with real threads, each on its own database connection,
and a loopback provider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db
from django.db import connections, transaction
from django.test import Client

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import NotConnected
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

from .support.loopback import Answer, Received, RotatingTokenEndpoint, token_body

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
FETCH = "/webcast/fetch"
DEADLINE = 30.0


def revoked(provider: Any) -> list[str]:
    return [r.form["token"] for r in provider.requests_to(REVOKE)]


# --- a stale session_expired must not destroy a fresh reconnect ----------------------------

def test_a_stale_session_expired_keeps_a_fresh_reconnect(browser, provider, oauth,
                                                          make_connection, user, recorder):
    conn = make_connection(user, oauth, access_token="access-old", refresh_token="refresh-old")
    stale = Connection.objects.get(pk=conn.pk)  # what a worker loaded before the reconnect

    # Meanwhile the user reconnects through the real authorize and callback views.
    provider.queue(TOKEN, Answer(200, token_body("access-new", "refresh-new")))
    location = browser.get("/oauth/authorize/")["Location"]
    state = parse_qs(urlsplit(location).query)["state"][0]
    assert browser.get("/oauth/callback/", {"code": "c-1", "state": state}).status_code == 302

    def api(request: Received) -> Answer:
        if request.headers.get("Authorization") == "Bearer access-old":
            return Answer(401, {"error": "session_expired",
                                "error_description": "TikTok session expired"})
        return Answer(200, {"ok": True})

    provider.handle(FETCH, api)
    provider.default(REVOKE, Answer(200, {}))
    # The worker calls the API with the old token: session_expired, for the old grant only.
    assert EulerAPI(stale).get(FETCH) == {"ok": True}
    assert not {"access-new", "refresh-new"} & set(revoked(provider))
    row = Connection.objects.get(pk=conn.pk)
    assert (row.status, row.access_token, row.refresh_token) == ("active", "access-new",
                                                                  "refresh-new")
    assert recorder.count("reauthorization_required") == 0


def test_a_current_session_expired_still_ends_the_grant(provider, oauth, make_connection,
                                                         user, recorder):
    conn = make_connection(user, oauth, access_token="access-1", refresh_token="refresh-1")
    provider.queue(FETCH, Answer(401, {"error": "session_expired"}))
    provider.default(REVOKE, Answer(200, {}))
    with pytest.raises(Exception) as caught:
        EulerAPI(conn).get(FETCH)
    assert getattr(caught.value, "code", "") == "session_expired"
    assert sorted(revoked(provider)) == ["access-1", "refresh-1"]
    row = Connection.objects.get(pk=conn.pk)
    assert (row.status, row.access_token, row.refresh_token) == (
        "reauthorization_required", "", "")
    assert recorder.count("reauthorization_required") == 1


# --- deleting a user sends disconnected -----------------------------------------------------

def test_deleting_a_user_sends_disconnected_once(provider, oauth, make_connection, user,
                                                 django_user_model, recorder):
    provider.default(REVOKE, Answer(200, {}))
    conn = make_connection(user, oauth)
    other = django_user_model.objects.create_user("bob")
    make_connection(other, oauth, access_token="", refresh_token="", status="revoked")
    user.delete()
    other.delete()  # disconnected before: revoked and signalled then, not again
    events = recorder.of("disconnected")
    assert len(events) == 1, events
    event = events[0]
    assert event["revoked_remotely"] is True and event["request"] is None
    assert isinstance(event["connection"], Connection)
    assert sorted(revoked(provider)) == ["access-0", "refresh-0"]
    assert not Connection.objects.filter(pk=conn.pk).exists()


def test_deleting_a_user_with_the_provider_down_says_so(provider, oauth, make_connection, user,
                                                         recorder):
    provider.default(REVOKE, Answer(503, {"error": "temporarily_unavailable"}))
    make_connection(user, oauth)
    user.delete()
    events = recorder.of("disconnected")
    assert [event["revoked_remotely"] for event in events] == [False]


# --- PostgreSQL: deletions, refreshes and requests waiting for one row lock ---------------

pg = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _apply(marks: list[Any]) -> Callable[[Any], Any]:
    def decorate(func: Any) -> Any:
        for mark in marks:
            func = mark(func)
        return func
    return decorate


def _in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = target()
        except BaseException as err:  # reported by the test
            result["error"] = err
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _someone_waits_for_a_lock() -> bool:
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction caches the view
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return bool(cursor.fetchone()[0])


@_apply(pg)
def test_deleting_a_user_during_a_refresh_revokes_the_last_tokens(provider, oauth,
                                                                  make_connection, user,
                                                                  recorder):
    """The refresh holds the row lock while the provider answers; the user is deleted
    meanwhile. The grant last held (access-1/refresh-1) must be revoked, not the pair
    the deletion loaded (access-0/refresh-0, already rotated away by the refresh)."""
    assert db.vendor == "postgresql"
    endpoint = RotatingTokenEndpoint("refresh-0", delay=1.0)
    provider.handle(TOKEN, endpoint)
    provider.default(REVOKE, Answer(200, {}))
    conn = make_connection(user, oauth, expires_in=-5)
    thread, result = _in_thread(lambda: refresh_connection(
        Connection.objects.get(pk=conn.pk)).access_token)
    _wait_for(lambda: bool(provider.requests_to(TOKEN)), "the refresh to reach the provider")
    user.delete()
    thread.join(DEADLINE)
    assert not thread.is_alive()
    assert result.get("value") == "access-1", result
    assert sorted(revoked(provider)) == ["access-1", "refresh-1"]
    assert not Connection.objects.filter(pk=conn.pk).exists()
    assert recorder.count("disconnected") == 1


@_apply(pg)
def test_a_connection_deleted_while_a_request_waits_for_its_lock(provider, oauth,
                                                                 make_connection, user):
    """The middleware's refresh waits for the row lock of a deletion that then commits:
    a falsy token with the reason, not a 500."""
    provider.default(REVOKE, Answer(200, {}))
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    web = Client(raise_request_exception=False)
    web.force_login(user)
    with transaction.atomic():
        Connection.objects.filter(pk=conn.pk).delete()  # the row lock, until commit
        thread, result = _in_thread(lambda: web.get("/whoami/"))
        _wait_for(_someone_waits_for_a_lock, "the request to wait for the row lock")
    thread.join(DEADLINE)
    assert not thread.is_alive()
    response = result["value"]
    assert response.status_code == 200, response.content[:300]
    assert response.json() == {"connected": True, "has_token": False, "token_length": 0}
    assert isinstance(response.wsgi_request.euler_token_error, NotConnected)
    assert not provider.requests_to(TOKEN)


@_apply(pg)
def test_lock_timeout_does_not_outlive_the_refresh_in_an_outer_transaction(
        provider, oauth, make_connection, user):
    """Under ATOMIC_REQUESTS the rest of the request must not run with the refresh's
    ~EULER_OAUTH_LOCK_TIMEOUT lock_timeout."""
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)

    def lock_timeout() -> str:
        with db.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            return str(cursor.fetchone()[0])

    with transaction.atomic():
        before = lock_timeout()
        assert refresh_connection(Connection.objects.get(pk=conn.pk)).access_token == "access-1"
        assert lock_timeout() == before
    assert lock_timeout() == before
