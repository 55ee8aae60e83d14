"""Each signal is sent once per event, after commit, with its documented arguments."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import transaction

from django_euler_oauth.errors import SessionExpired
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection
from django_euler_oauth.revocation import disconnect, expire_session

from .support.loopback import Answer, RotatingTokenEndpoint, token_body
from .support.threads import in_threads

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"


def connect(client: Any, provider: Any, access: str, refresh: str) -> Any:
    response = client.get("/oauth/authorize/", {"scope": "webcast:fetch"})
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    provider.queue(TOKEN, Answer(200, token_body(access, refresh)))
    return client.get("/oauth/callback/", {"code": "c0de", "state": state})


def test_connected_once_per_callback(client, user, oauth, provider, recorder):
    client.force_login(user)
    assert connect(client, provider, "a1", "r1").status_code == 302
    assert connect(client, provider, "a2", "r2").status_code == 302
    events = recorder.of("connected")
    assert [e["created"] for e in events] == [True, False]
    assert all(e["connection"].user_id == user.pk and e["request"] is not None
               for e in events)


def test_token_refreshed_once_with_the_connection(provider, oauth, user, make_connection,
                                                  recorder):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    conn = make_connection(user, oauth, expires_in=-5)
    refresh_connection(conn)
    refresh_connection(conn)  # fresh now: no event
    events = recorder.of("token_refreshed")
    assert len(events) == 1 and events[0]["connection"].pk == conn.pk


def test_no_signal_when_the_transaction_rolls_back(provider, oauth, user, make_connection,
                                                   recorder):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    conn = make_connection(user, oauth, expires_in=-5)
    with pytest.raises(RuntimeError), transaction.atomic():
        refresh_connection(conn)
        raise RuntimeError("the view failed")
    assert recorder.count("token_refreshed") == 0
    # ... and the rolled-back rotation is not stored (the README explains this cost).
    assert Connection.objects.get(pk=conn.pk).refresh_token == "refresh-0"


def test_refresh_failed_once_per_attempt(provider, oauth, user, make_connection, recorder):
    provider.queue(TOKEN, Answer(500, {"error": "server_error"}))
    conn = make_connection(user, oauth, expires_in=100)
    refresh_connection(conn)
    events = recorder.of("refresh_failed")
    assert len(events) == 1 and events[0]["error"].code == "server_error"
    assert recorder.count("reauthorization_required") == 0


def test_disconnected_once(client, user, oauth, provider, make_connection, recorder):
    provider.default(REVOKE, Answer(200, {}))
    make_connection(user, oauth)
    client.force_login(user)
    assert client.post("/oauth/disconnect/", {"next": "/x/"}).status_code == 302
    assert client.post("/oauth/disconnect/", {"next": "/x/"}).status_code == 302
    events = recorder.of("disconnected")
    assert len(events) == 1
    assert events[0]["revoked_remotely"] is True and events[0]["request"] is not None
    assert len(provider.requests_to(REVOKE)) == 2  # refresh and access token, once each


def test_disconnected_reports_an_unreachable_provider(user, oauth, provider, make_connection,
                                                      recorder):
    provider.default(REVOKE, Answer(503, ""))
    conn = make_connection(user, oauth)
    assert disconnect(conn) is False
    assert disconnect(conn) is True  # already disconnected: nothing to do
    events = recorder.of("disconnected")
    assert len(events) == 1 and events[0]["revoked_remotely"] is False
    row = Connection.objects.get(pk=conn.pk)
    assert (row.status, row.access_token, row.refresh_token) == ("revoked", "", "")


def test_session_expired_signal_once(user, oauth, provider, make_connection, recorder):
    provider.default(REVOKE, Answer(200, {}))
    conn = make_connection(user, oauth)
    assert expire_session(conn, SessionExpired("gone")) is True
    assert expire_session(conn, SessionExpired("gone")) is False
    events = recorder.of("reauthorization_required")
    assert len(events) == 1 and events[0]["reason"] == "session_expired"
    assert len(provider.requests_to(REVOKE)) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_disconnects_signal_once(user, oauth, provider, make_connection, recorder):
    provider.default(REVOKE, Answer(200, {}, delay=0.2))
    conn = make_connection(user, oauth)
    results = in_threads(8, lambda: disconnect(Connection.objects.get(pk=conn.pk)))
    assert results == [True] * 8
    assert recorder.count("disconnected") == 1
    assert len(provider.requests_to(REVOKE)) == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_session_expiry_signals_once(user, oauth, provider, make_connection,
                                                recorder):
    provider.default(REVOKE, Answer(200, {}, delay=0.2))
    conn = make_connection(user, oauth)
    results = in_threads(8, lambda: expire_session(Connection.objects.get(pk=conn.pk)))
    assert sorted(results) == [False] * 7 + [True]
    assert [e["reason"] for e in recorder.of("reauthorization_required")] == ["session_expired"]
    assert len(provider.requests_to(REVOKE)) == 2
