"""The browser's HTTP side of LIVE events (:mod:`django_euler_oauth.live.views`): the
short token for Euler's own WebSocket (``live_token``), the owner's start/stop switch on
the accounts page, and the admin's actions and read-only page.

``live_token`` is checked twice: against the scripted loopback provider (the exact request
Euler receives, and each refusal), and end to end against the sandbox on a real ASGI
server, whose WebSocket then accepts the URL the browser is given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client, RequestFactory
from django.test.utils import modify_settings
from django.urls import reverse
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from django_euler_oauth import teams
from django_euler_oauth.live.models import Listening
from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox import live as sandbox_live
from django_euler_oauth.sandbox.setup import ensure_demo_client

from .support.asgi_server import AsgiServer, serving
from .support.loopback import Answer, ScriptedProvider
from .support.sandbox_fixtures import SANDBOX_DATABASES

TOKEN_URL = reverse("euler_oauth:live_token")
START_URL = reverse("euler_oauth:live_start")
STOP_URL = reverse("euler_oauth:live_stop")
ACCOUNTS_URL = reverse("euler_oauth:accounts")
CONNECTIONS_ADMIN = "/admin/django_euler_oauth/connection/"
LISTENING_ADMIN = "/admin/euler_oauth_live/listening/"

API_KEY = "euler-api-key-0123456789"
ACCOUNT_ID = "4242"
JWT_PATH = f"/accounts/{ACCOUNT_ID}/jwt/create"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"
WITHOUT_LIVE = {"INSTALLED_APPS": {"remove": ["django_euler_oauth.live"]}}


@pytest.fixture(autouse=True)
def _fresh_rate_counters() -> Iterator[None]:
    cache.clear()  # user pks come round again between tests
    yield
    cache.clear()


@pytest.fixture
def euler(oauth: Any, provider: ScriptedProvider) -> Any:
    """The OAuth client on the scripted provider, set up to mint browser tokens."""
    oauth.api_key = API_KEY
    oauth.account_id = ACCOUNT_ID
    oauth.websocket_url = "wss://ws.eulerstream.test"
    oauth.save()
    provider.default(JWT_PATH, Answer(200, {"code": 200, "message": "OK", "token": JWT,
                                            "config": {"websockets": {}}}))
    return oauth


@pytest.fixture
def owned(euler: Any, user: Any, make_connection: Any) -> Connection:
    return make_connection(user, euler, scope="webcast:fetch webcast:chat",
                           external_username="streamer", access_token="access-secret-1",
                           refresh_token="refresh-secret-1")


def signed_in(user: Any, **options: Any) -> Client:
    browser = Client(**options)
    browser.force_login(user)
    return browser


def ask_token(browser: Client, pk: object) -> Any:
    return browser.post(TOKEN_URL, {"connection": str(pk)})


def assert_no_secret(response: Any, *secrets: str) -> None:
    body = response.content.decode()
    for secret in (API_KEY, "access-secret-1", "refresh-secret-1", *secrets):
        assert secret not in body


# -- live_token against the scripted provider ---------------------------------------------

@pytest.mark.django_db
def test_the_owner_gets_eulers_socket_url_with_a_short_token(
        owned: Connection, user: Any, provider: ScriptedProvider) -> None:
    response = ask_token(signed_in(user), owned.pk)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["expires_in"] == 60
    url = urlsplit(answer["url"])
    assert (url.scheme, url.netloc) == ("wss", "ws.eulerstream.test")
    assert {k: v for k, v in parse_qs(url.query).items()} == {
        "uniqueId": ["streamer"], "jwtKey": [JWT], "features.bundleEvents": ["true"],
        "features.schemaVersion": ["v2"]}
    assert "no-store" in response["Cache-Control"]
    assert_no_secret(response)
    # What Euler received: the API key as X-Api-Key, the legacy body, nothing else.
    (sent,) = provider.requests_to(JWT_PATH)
    assert sent.method == "POST"
    assert sent.headers["X-Api-Key"] == API_KEY
    assert "Authorization" not in sent.headers and "x-oauth-token" not in sent.headers
    assert json.loads(sent.body) == {"expire_after": 60, "websockets": {
        "allowed_creators": ["streamer"], "max_web_sockets": 1}}


@pytest.mark.django_db
def test_a_delegate_holding_webcast_fetch_gets_one_too(
        owned: Connection, user: Any, moderator: Any) -> None:
    teams.grant(owned, moderator, "webcast:fetch", by=user)
    response = ask_token(signed_in(moderator), owned.pk)
    assert response.status_code == 200
    assert_no_secret(response)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["delegate without webcast:fetch", "stranger", "anonymous",
                                 "unknown connection", "inactive connection"])
def test_anyone_else_gets_a_403_and_euler_is_not_asked(
        owned: Connection, user: Any, moderator: Any, django_user_model: Any,
        provider: ScriptedProvider, who: str) -> None:
    pk = owned.pk
    browser = Client()
    if who == "delegate without webcast:fetch":
        teams.grant(owned, moderator, "webcast:chat", by=user)
        browser = signed_in(moderator)
    elif who == "stranger":
        browser = signed_in(django_user_model.objects.create_user("eve", "e@x.org", "pw"))
    elif who == "unknown connection":
        browser, pk = signed_in(user), owned.pk + 1000
    elif who == "inactive connection":
        Connection.objects.filter(pk=pk).update(status=Connection.Status.REVOKED)
        browser = signed_in(user)
    response = ask_token(browser, pk)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert provider.requests_to(JWT_PATH) == []


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["", "abc", "²", "-1", "1.0", "9" * 19, "9" * 40])
def test_a_malformed_connection_is_a_400(owned: Connection, user: Any,
                                         provider: ScriptedProvider, raw: str) -> None:
    response = signed_in(user).post(TOKEN_URL, {"connection": raw})
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert provider.requests_to(JWT_PATH) == []


@pytest.mark.django_db
def test_a_client_without_an_euler_account_id_is_a_409(
        owned: Connection, euler: Any, user: Any, provider: ScriptedProvider) -> None:
    euler.account_id = ""
    euler.save()
    response = ask_token(signed_in(user), owned.pk)
    assert response.status_code == 409
    assert response.json()["error"] == "no_account_id"
    assert "Euler account ID" in response.json()["message"]
    assert provider.requests_to(JWT_PATH) == []


@pytest.mark.django_db
def test_a_client_without_an_api_key_is_a_409(
        owned: Connection, euler: Any, user: Any, provider: ScriptedProvider,
        settings: Any) -> None:
    settings.EULER_OAUTH_API_KEY = ""
    euler.api_key = ""
    euler.save()
    response = ask_token(signed_in(user), owned.pk)
    assert response.status_code == 409
    assert response.json()["error"] == "no_api_key"
    assert provider.requests_to(JWT_PATH) == []


@pytest.mark.django_db
def test_an_account_without_a_handle_is_a_409(euler: Any, user: Any, make_connection: Any,
                                              provider: ScriptedProvider) -> None:
    connection = make_connection(user, euler, external_username="")
    response = ask_token(signed_in(user), connection.pk)
    assert response.status_code == 409
    assert response.json()["error"] == "no_handle"
    assert provider.requests_to(JWT_PATH) == []


@pytest.mark.django_db
@pytest.mark.parametrize(("answer", "message"), [
    (Answer(401, {"code": 401, "message": f"Invalid API key {API_KEY}"}),
     "check the site's API key"),
    (Answer(403, {"code": 403, "message": "No access to this account"}),
     "check the site's API key"),
    (Answer(500, {"code": 500, "message": "boom"}), "Server error"),
    (Answer(200, {"code": 429, "message": "Slow down"}, headers={"Retry-After": "7"}),
     "Too many requests"),
    (Answer(200, {"code": 200, "message": "OK", "config": {}}), "could not understand"),
    (Answer(200, "<html>not json</html>"), "could not understand"),
    (Answer(reset=True), "could not reach"),
])
def test_a_refusal_by_euler_is_a_502_with_its_friendly_message(
        owned: Connection, user: Any, provider: ScriptedProvider, answer: Answer,
        message: str) -> None:
    provider.queue(JWT_PATH, answer)
    response = ask_token(signed_in(user), owned.pk)
    assert response.status_code == 502
    body = response.json()
    assert message in body["message"]
    assert "url" not in body
    assert_no_secret(response)
    if answer.headers.get("Retry-After"):
        assert response["Retry-After"] == "7"


@pytest.mark.django_db
def test_eulers_own_words_are_passed_on_redacted(owned: Connection, user: Any,
                                                 provider: ScriptedProvider) -> None:
    provider.queue(JWT_PATH, Answer(401, {"code": 401,
                                          "message": f"Invalid API key {API_KEY}"}))
    body = ask_token(signed_in(user), owned.pk).json()
    assert body["detail"] == "Invalid API key [redacted]"


@pytest.mark.django_db
def test_tokens_are_rate_limited_per_user(owned: Connection, user: Any, moderator: Any,
                                          settings: Any, provider: ScriptedProvider) -> None:
    settings.EULER_OAUTH_LIVE_TOKEN_RATE = 2
    teams.grant(owned, moderator, "webcast:fetch", by=user)
    browser = signed_in(user)
    assert [ask_token(browser, owned.pk).status_code for _ in range(2)] == [200, 200]
    refused = ask_token(browser, owned.pk)
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert len(provider.requests_to(JWT_PATH)) == 2  # the refused one never reached Euler
    # Another user has a counter of their own.
    assert ask_token(signed_in(moderator), owned.pk).status_code == 200


@pytest.mark.django_db
def test_the_token_needs_post_and_csrf(owned: Connection, user: Any,
                                       provider: ScriptedProvider) -> None:
    assert signed_in(user).get(TOKEN_URL, {"connection": owned.pk}).status_code == 405
    strict = signed_in(user, enforce_csrf_checks=True)
    assert ask_token(strict, owned.pk).status_code == 403
    page = strict.get(ACCOUNTS_URL)  # sets the CSRF cookie
    token = strict.cookies["csrftoken"].value
    assert page.status_code == 200
    answer = strict.post(TOKEN_URL, {"connection": owned.pk}, HTTP_X_CSRFTOKEN=token)
    assert answer.status_code == 200
    assert len(provider.requests_to(JWT_PATH)) == 1


@pytest.mark.django_db
def test_without_the_live_app_the_views_answer_404(owned: Connection, user: Any,
                                                   provider: ScriptedProvider) -> None:
    browser = signed_in(user)
    with modify_settings(**WITHOUT_LIVE):
        response = ask_token(browser, owned.pk)
        assert response.status_code == 404
        assert response.json()["error"] == "live_not_installed"
        page = browser.post(START_URL, {"connection": owned.pk})
        assert page.status_code == 404
        assert b"LIVE events are not enabled" in page.content
        assert browser.post(STOP_URL, {"connection": owned.pk}).status_code == 404
        accounts = browser.get(ACCOUNTS_URL)
        assert accounts.status_code == 200
        assert START_URL.encode() not in accounts.content
    assert provider.requests_to(JWT_PATH) == []
    assert not Listening.objects.exists()


# -- live_token end to end, against the sandbox -------------------------------------------

@pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)
def test_the_sandbox_socket_accepts_the_url_the_browser_is_given(
        user: Any, make_connection: Any) -> None:
    with serving() as server:
        sandbox, oauth = ensure_demo_client(
            server.url + "/sandbox", redirect_uris=["http://testserver/oauth/callback/"])
        connection = make_connection(user, oauth, external_username="sandbox_streamer",
                                     access_token="access-secret-1")
        server.call(sandbox_live.go_live, "sandbox_streamer")
        response = ask_token(signed_in(user), connection.pk)
        assert response.status_code == 200, response.content
        assert_no_secret(response, sandbox.api_key)
        url = response.json()["url"]
        assert url.startswith(oauth.websocket_url + "?")
        with connect(url, open_timeout=5, close_timeout=2) as socket:
            first = json.loads(socket.recv(timeout=5))
            assert first["messages"][0]["type"] == "workerInfo"
        # The token names this account only: another creator is refused (4403).
        assert _close_code_of(server, url.replace("uniqueId=sandbox_streamer",
                                                  "uniqueId=sandbox_viewer")) == 4403


def _close_code_of(server: AsgiServer, url: str) -> int | None:
    with connect(url, open_timeout=5, close_timeout=2) as socket:
        try:
            while True:
                socket.recv(timeout=5)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


# -- the owner's switch -------------------------------------------------------------------

@pytest.mark.django_db
def test_the_owner_starts_and_stops_listening(owned: Connection, user: Any) -> None:
    browser = signed_in(user)
    response = browser.post(START_URL, {"connection": owned.pk}, follow=True)
    assert response.redirect_chain[0] == (ACCOUNTS_URL, 302)
    listening = Listening.objects.get(connection=owned)
    assert listening.enabled and listening.state == Listening.State.WAITING
    text = response.content.decode()
    assert "Listening to the LIVE events of @streamer" in text
    assert "Waiting for a relay" in text and "Stop listening" in text
    response = browser.post(STOP_URL, {"connection": owned.pk, "next": "/oauth/team/"})
    assert response.status_code == 302 and response["Location"] == "/oauth/team/"
    listening.refresh_from_db()
    assert not listening.enabled and listening.state == Listening.State.STOPPED
    page = browser.get(ACCOUNTS_URL).content.decode()
    assert "Stopped listening to the LIVE events of @streamer" in page
    assert "not listening" in page and "Listen to LIVE events" in page


@pytest.mark.django_db
def test_stopping_what_is_not_listened_to_changes_nothing(owned: Connection,
                                                          user: Any) -> None:
    response = signed_in(user).post(STOP_URL, {"connection": owned.pk}, follow=True)
    assert "were not being listened to. Nothing was changed." in response.content.decode()
    assert not Listening.objects.exists()


@pytest.mark.django_db
def test_only_the_owner_may_switch(owned: Connection, user: Any, moderator: Any,
                                   django_user_model: Any) -> None:
    teams.grant(owned, moderator, "webcast:fetch", by=user)
    stranger = django_user_model.objects.create_user("eve", "e@x.org", "pw")
    for who in (moderator, stranger):
        response = signed_in(who).post(START_URL, {"connection": owned.pk}, follow=True)
        assert "Only the owner of a TikTok account may start or stop" in \
            response.content.decode()
    assert not Listening.objects.exists()
    listening = Listening.objects.create(connection=owned)
    signed_in(moderator).post(STOP_URL, {"connection": owned.pk})
    listening.refresh_from_db()
    assert listening.enabled


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["", "abc", "²", "9" * 19])
def test_a_malformed_connection_changes_nothing(owned: Connection, user: Any,
                                                raw: str) -> None:
    response = signed_in(user).post(START_URL, {"connection": raw})
    assert response.status_code == 400
    assert b"The form named no TikTok account" in response.content
    assert not Listening.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("fields", "reason"), [
    ({"external_username": ""}, "handle is unknown"),
    ({"status": Connection.Status.REAUTHORIZATION_REQUIRED}, "is not connected"),
])
def test_a_connection_that_cannot_be_listened_to_says_why(
        owned: Connection, user: Any, fields: dict[str, Any], reason: str) -> None:
    Connection.objects.filter(pk=owned.pk).update(**fields)
    response = signed_in(user).post(START_URL, {"connection": owned.pk}, follow=True)
    text = response.content.decode()
    assert "Not listening to the LIVE events of" in text and reason in text
    assert "Nothing was changed." in text
    assert not Listening.objects.exists()


@pytest.mark.django_db
def test_the_switch_needs_post_csrf_and_a_signed_in_user(owned: Connection,
                                                         user: Any) -> None:
    assert signed_in(user).get(START_URL).status_code == 405
    strict = signed_in(user, enforce_csrf_checks=True)
    assert strict.post(START_URL, {"connection": owned.pk}).status_code == 403
    anonymous = Client().post(START_URL, {"connection": owned.pk})
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    assert not Listening.objects.exists()


@pytest.mark.django_db
def test_a_delegate_sees_the_state_but_no_switch(owned: Connection, user: Any,
                                                 moderator: Any) -> None:
    teams.grant(owned, moderator, "webcast:fetch", by=user)
    Listening.objects.create(connection=owned, state=Listening.State.LISTENING)
    page = signed_in(moderator).get(ACCOUNTS_URL).content.decode()
    assert "LIVE events:" in page and "Listening" in page
    assert STOP_URL not in page and START_URL not in page
    owner_page = signed_in(user).get(ACCOUNTS_URL).content.decode()
    assert STOP_URL in owner_page


# -- the admin ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_the_admin_actions_start_and_stop_listening(
        admin_browser: Client, owned: Connection, euler: Any, user: Any,
        make_connection: Any) -> None:
    nameless = make_connection(user, euler, external_username="", external_id="x1")
    response = admin_browser.post(CONNECTIONS_ADMIN, {
        "action": "live_start", "_selected_action": [owned.pk, nameless.pk]}, follow=True)
    text = response.content.decode()
    assert "Listening to the LIVE events of 1 connection." in text
    assert "handle is unknown" in text
    assert Listening.objects.get().connection_id == owned.pk
    response = admin_browser.post(CONNECTIONS_ADMIN, {
        "action": "live_stop", "_selected_action": [owned.pk, nameless.pk]}, follow=True)
    assert "Stopped listening to the LIVE events of 1 connection." in \
        response.content.decode()
    assert not Listening.objects.get().enabled


@pytest.mark.django_db
def test_the_admin_offers_the_actions_only_with_the_live_app(admin_browser: Client,
                                                             owned: Connection) -> None:
    page = admin_browser.get(CONNECTIONS_ADMIN).content.decode()
    assert 'value="live_start"' in page and 'value="live_stop"' in page
    request = RequestFactory().get(CONNECTIONS_ADMIN)
    request.user = User.objects.get(username="root")
    connection_admin = admin.site._registry[Connection]
    with modify_settings(**WITHOUT_LIVE):
        # (The page itself cannot render here: the live app's admin stays registered.)
        actions = connection_admin.get_actions(request)
    assert "refresh_now" in actions and "revoke" in actions
    assert "live_start" not in actions and "live_stop" not in actions
    assert {"live_start", "live_stop"} <= set(connection_admin.get_actions(request))


@pytest.mark.django_db
def test_the_listening_admin_is_read_only(admin_browser: Client, owned: Connection) -> None:
    listening = Listening.objects.create(connection=owned, holder="host:1:abcd",
                                         state=Listening.State.LISTENING)
    page = admin_browser.get(LISTENING_ADMIN)
    assert page.status_code == 200 and "host:1:abcd" in page.content.decode()
    assert admin_browser.get(LISTENING_ADMIN + "add/").status_code == 403
    detail = admin_browser.get(f"{LISTENING_ADMIN}{listening.pk}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert admin_browser.post(f"{LISTENING_ADMIN}{listening.pk}/delete/",
                              {"post": "yes"}).status_code == 403
    assert Listening.objects.filter(pk=listening.pk).exists()
