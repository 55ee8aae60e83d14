"""EulerAPI: the documented API error handling, over real HTTP on loopback."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import (
    InsufficientScope,
    InvalidToken,
    RateLimited,
    RevokedToken,
    SessionExpired,
    TemporarilyUnavailable,
    TokenExpired,
)
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

from .support.loopback import Answer, RotatingTokenEndpoint, token_body

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
FETCH = "/webcast/fetch"


@pytest.fixture
def conn(oauth: Any, user: Any, make_connection: Any) -> Connection:
    return make_connection(user, oauth)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sent_token(request: Any) -> str:
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ") or request.headers.get("x-oauth-token", "")


def test_success_sends_bearer_and_returns_json(provider, conn):
    provider.queue(FETCH, Answer(200, {"ok": True}))
    assert EulerAPI(conn).post(FETCH, {"uniqueId": "someone"}) == {"ok": True}
    request = provider.requests_to(FETCH)[0]
    assert request.headers["Authorization"] == "Bearer access-0"
    assert json.loads(request.body) == {"uniqueId": "someone"}


def test_x_oauth_token_transport_with_api_key(provider, oauth, conn, settings):
    settings.EULER_OAUTH_API_KEY = "api-key-123"
    oauth.token_transport = "x-oauth-token"
    oauth.save()
    conn = Connection.objects.select_related("client").get(pk=conn.pk)
    provider.queue(FETCH, Answer(200, {"ok": True}))
    EulerAPI(conn).get(FETCH, uniqueId="x")
    request = provider.requests_to(FETCH)[0]
    assert request.headers["x-oauth-token"] == "access-0"
    assert request.headers["X-Api-Key"] == "api-key-123"
    assert "Authorization" not in request.headers
    assert request.query == {"uniqueId": ["x"]}


def test_token_expired_refreshes_once_and_retries(provider, conn, recorder):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    provider.queue(FETCH, Answer(401, {"error": "token_expired"}), Answer(200, {"ok": 1}))
    assert EulerAPI(conn).post(FETCH) == {"ok": 1}
    assert [sent_token(r) for r in provider.requests_to(FETCH)] == ["access-0", "access-1"]
    assert len(provider.requests_to(TOKEN)) == 1
    assert Connection.objects.get(pk=conn.pk).refresh_token == "refresh-1"
    assert recorder.count("token_refreshed") == 1


def test_second_token_expired_raises(provider, conn):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    provider.default(FETCH, Answer(401, {"error": "token_expired"}))
    with pytest.raises(TokenExpired):
        EulerAPI(conn).post(FETCH)
    assert len(provider.requests_to(FETCH)) == 2
    assert len(provider.requests_to(TOKEN)) == 1
    assert Connection.objects.get(pk=conn.pk).status == "active"


def test_token_expired_after_someone_else_refreshed_does_not_refresh_again(provider, conn):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    stale = Connection.objects.select_related("client").get(pk=conn.pk)
    refresh_connection(Connection.objects.get(pk=conn.pk), force=True)  # another worker
    provider.queue(FETCH, Answer(401, {"error": "token_expired"}), Answer(200, {"ok": 1}))
    assert EulerAPI(stale).post(FETCH) == {"ok": 1}
    assert [sent_token(r) for r in provider.requests_to(FETCH)] == ["access-0", "access-1"]
    assert len(provider.requests_to(TOKEN)) == 1  # only the other worker's


@pytest.mark.parametrize(("code", "cls"), [("invalid_token", InvalidToken),
                                           ("revoked_token", RevokedToken)])
def test_invalid_or_revoked_token_requires_reauthorization(code, cls, provider, conn,
                                                           recorder):
    provider.queue(FETCH, Answer(401, {"error": code}))
    with pytest.raises(cls) as info:
        EulerAPI(conn).post(FETCH)
    assert info.value.needs_reauthorization
    row = Connection.objects.get(pk=conn.pk)
    assert (row.status, row.status_reason) == ("reauthorization_required", code)
    assert [e["reason"] for e in recorder.of("reauthorization_required")] == [code]
    assert provider.requests_to(TOKEN) == []


def test_session_expired_revokes_clears_and_asks_to_reconnect(provider, conn, recorder):
    provider.default(REVOKE, Answer(200, {}))
    provider.queue(FETCH, Answer(401, {"error": "session_expired",
                                       "error_description": "Underlying TikTok session"}))
    with pytest.raises(SessionExpired) as info:
        EulerAPI(conn).post(FETCH)
    assert "reconnect" in info.value.friendly_message.lower()
    revoked = {(r.form["token"], r.form.get("token_type_hint"))
               for r in provider.requests_to(REVOKE)}
    assert revoked == {("refresh-0", "refresh_token"), ("access-0", "access_token")}
    row = Connection.objects.get(pk=conn.pk)
    assert row.access_token == "" and row.refresh_token == ""
    assert (row.status, row.status_reason) == ("reauthorization_required", "session_expired")
    assert [e["reason"] for e in recorder.of("reauthorization_required")] == ["session_expired"]
    assert provider.requests_to(TOKEN) == []  # refreshing would not help


def test_insufficient_scope_names_it_and_links_to_reauthorize(provider, conn):
    provider.queue(FETCH, Answer(403, {
        "error": "insufficient_scope",
        "error_description": "Token does not have required scope: webcast:rankings"}))
    with pytest.raises(InsufficientScope) as info:
        EulerAPI(conn).get(FETCH)
    err = info.value
    assert err.missing_scope == "webcast:rankings" and "webcast:rankings" in str(err)
    url = urlsplit(err.reauthorize_url)  # type: ignore[attr-defined]
    assert url.path == "/oauth/authorize/"
    query = parse_qs(url.query)
    assert query["scope"] == ["webcast:fetch webcast:rankings"]
    assert query["client"] == [conn.client.slug]
    assert Connection.objects.get(pk=conn.pk).status == "active"


@pytest.mark.parametrize(("headers", "expected"), [
    ({"RateLimit-Reset": "3"}, 3.0),
    ({"X-RateLimit-Reset": "2"}, 2.0),
    ({"Retry-After": "4"}, 4.0),
])
def test_rate_limited_retries_honouring_reset_headers(headers, expected, provider, conn):
    provider.queue(FETCH, Answer(429, {"code": 429, "message": "Too many"}, headers=headers),
                   Answer(200, {"ok": True}))
    sleeps = Sleeps()
    assert EulerAPI(conn, sleep=sleeps).get(FETCH) == {"ok": True}
    assert sleeps == [expected]


def test_rate_limit_retries_are_bounded(provider, conn, settings):
    settings.EULER_OAUTH_API_MAX_RETRIES = 2
    settings.EULER_OAUTH_API_MAX_RETRY_WAIT = 5
    provider.default(FETCH, Answer(429, {"code": 429}, headers={"Retry-After": "600"}))
    sleeps = Sleeps()
    with pytest.raises(RateLimited):
        EulerAPI(conn, sleep=sleeps).get(FETCH)
    assert sleeps == [5.0, 5.0]  # capped by EULER_OAUTH_API_MAX_RETRY_WAIT
    assert len(provider.requests_to(FETCH)) == 3


def test_503_is_retried_with_backoff_then_raises(provider, conn, settings):
    settings.EULER_OAUTH_API_MAX_RETRIES = 2
    provider.default(FETCH, Answer(503, "<html>down</html>"))
    sleeps = Sleeps()
    with pytest.raises(TemporarilyUnavailable):
        EulerAPI(conn, sleep=sleeps).post(FETCH)
    assert sleeps == [0.5, 1.0]
    assert len(provider.requests_to(FETCH)) == 3
    assert Connection.objects.get(pk=conn.pk).status == "active"


def test_503_with_retry_after_then_success(provider, conn):
    provider.queue(FETCH, Answer(503, "", headers={"Retry-After": "1"}), Answer(200, {"a": 1}))
    sleeps = Sleeps()
    assert EulerAPI(conn, sleep=sleeps).post(FETCH) == {"a": 1}
    assert sleeps == [1.0]


def test_expired_connection_is_refreshed_before_the_call(provider, oauth, user,
                                                         make_connection):
    provider.queue(TOKEN, Answer(200, token_body("access-new", "refresh-new")))
    conn = make_connection(user, oauth, expires_in=-1)
    provider.queue(FETCH, Answer(200, {"ok": True}))
    EulerAPI(conn).post(FETCH)
    assert sent_token(provider.requests_to(FETCH)[0]) == "access-new"


def test_userinfo(provider, conn):
    provider.queue("/tiktok/oauth/userinfo", Answer(200, {"user": {"uniqueId": "someone"}}))
    assert EulerAPI(conn).userinfo() == {"uniqueId": "someone"}
