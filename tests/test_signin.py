"""Sign in with TikTok, several accounts per user, no takeover.

Real HTTP to the sandbox provider on the loopback live server; the site is driven with
Django's test client, the sandbox's screens with :class:`SandboxBrowser` (which picks
the simulated TikTok account). Every refusal is checked to change nothing: rows counted,
token ciphertexts compared.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.contrib.messages import get_messages
from django.core.checks import ERROR, WARNING, run_checks
from django.test import Client

from django_euler_oauth import signals
from django_euler_oauth.adapter import AccountAdapter
from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox.models import FakeAccount

from .support.sandbox_fixtures import SANDBOX_DATABASES, SandboxBrowser, query_of
from .support.signin import STREAMER, VIEWER, connect, sign_in
from .support.snapshots import stored_snapshot

pytestmark = pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


class ClosedAdapter(AccountAdapter):
    def is_signup_allowed(self, request: Any, userinfo: dict[str, Any]) -> bool:
        return False


@pytest.fixture
def events() -> Any:
    seen: dict[str, list[dict[str, Any]]] = {"signed_up": [], "logged_in": []}

    def on_signed_up(sender: Any, **kwargs: Any) -> None:
        seen["signed_up"].append(kwargs)

    def on_logged_in(sender: Any, **kwargs: Any) -> None:
        seen["logged_in"].append(kwargs)

    signals.signed_up.connect(on_signed_up)
    user_logged_in.connect(on_logged_in)
    yield seen
    signals.signed_up.disconnect(on_signed_up)
    user_logged_in.disconnect(on_logged_in)


def test_sign_up_then_sign_in_again(client, signin_oauth, sandbox_browser, events):
    users = get_user_model().objects
    response = sign_in(client, sandbox_browser, STREAMER, next_url="/current/")
    assert response.status_code == 302 and response["Location"] == "/current/"
    user = users.get()
    assert user.get_username() == STREAMER and not user.has_usable_password()
    assert user.first_name == "Sandbox Streamer"
    assert client.get("/current/").json()["user"] == STREAMER
    connection = Connection.objects.get()
    assert (connection.user, connection.external_id) == (user, "7000000000000000001")
    # The sandbox's drawn avatar, a real image over loopback.
    assert connection.external_avatar_url.endswith("/sandbox/avatars/sandbox_streamer.svg")
    picture = requests.get(connection.external_avatar_url, timeout=5)
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/svg+xml"
    assert len(events["signed_up"]) == 1 and events["signed_up"][0]["user"] == user
    assert len(events["logged_in"]) == 1

    # Another browser, later: the same TikTok account signs in the same user; the display
    # data comes fresh from userinfo.
    FakeAccount.objects.filter(unique_id=STREAMER).update(nickname="Renamed Streamer")
    other = Client()
    with SandboxBrowser() as browser:
        assert sign_in(other, browser, STREAMER).status_code == 302
    assert users.count() == 1 and Connection.objects.count() == 1
    assert other.get("/current/").json()["user"] == STREAMER
    assert Connection.objects.get().external_nickname == "Renamed Streamer"
    assert len(events["signed_up"]) == 1 and len(events["logged_in"]) == 2


def test_the_login_page_never_redirects_and_needs_csrf(signin_oauth):
    strict = Client(enforce_csrf_checks=True)
    page = strict.get("/oauth/login/", {"next": "/current/"})
    assert page.status_code == 200 and b'method="post"' in page.content
    assert strict.post("/oauth/login/", {}).status_code == 403  # no CSRF token: login CSRF
    assert "_euler_oauth_pending" not in strict.session


@pytest.mark.parametrize("given, expected", [("/current/", "/current/"),
                                             ("//evil.example/x", "/"),
                                             ("https://evil.example/", "/")])
def test_next_stays_local(client, signin_oauth, sandbox_browser, given, expected):
    assert sign_in(client, sandbox_browser, STREAMER, next_url=given)["Location"] == expected


@pytest.mark.parametrize("how", ["setting", "adapter"])
def test_sign_up_closed_creates_nothing(client, signin_oauth, sandbox_browser, settings, how,
                                        events):
    if how == "setting":
        settings.EULER_OAUTH_SIGNUP = False
    else:
        settings.EULER_OAUTH_ACCOUNT_ADAPTER = "tests.test_signin.ClosedAdapter"
    response = sign_in(client, sandbox_browser, STREAMER)
    assert response.status_code == 403
    assert b"Sign-up is closed" in response.content and b"@sandbox_streamer" in response.content
    assert get_user_model().objects.count() == 0 and Connection.objects.count() == 0
    assert events["signed_up"] == [] and client.get("/current/").json()["user"] is None


def test_a_reused_or_forged_state_signs_no_one_in(client, signin_oauth, sandbox_browser):
    started = client.post("/oauth/login/", {})
    back = sandbox_browser.authorize(started["Location"], account=STREAMER)
    assert client.get("/oauth/callback/", query_of(back)).status_code == 302
    client.logout()
    again = client.get("/oauth/callback/", query_of(back))
    assert again.status_code == 400
    forged = Client().get("/oauth/callback/", {**query_of(back), "state": "forged"})
    assert forged.status_code == 400
    assert get_user_model().objects.count() == 1 and Connection.objects.count() == 1
    assert client.get("/current/").json()["user"] is None


def test_several_accounts_and_switching(client, signin_oauth, sandbox_browser):
    sign_in(client, sandbox_browser, STREAMER)
    first = client.get("/current/").json()
    assert first["account"] == STREAMER
    response = connect(client, sandbox_browser, VIEWER)
    assert response.status_code == 302
    user = get_user_model().objects.get()
    assert sorted(Connection.objects.filter(user=user).values_list(
        "external_username", flat=True)) == [STREAMER, VIEWER]
    # The account just connected is the session's current one, as after a sign-in ...
    assert client.get("/current/").json()["account"] == VIEWER
    viewer = Connection.objects.get(external_username=VIEWER)
    streamer = Connection.objects.get(external_username=STREAMER)
    # ... until the user switches.
    switched = client.post("/oauth/switch/", {"connection": streamer.pk, "next": "/current/"})
    assert switched.status_code == 302 and switched["Location"] == "/current/"
    assert client.get("/current/").json()["account"] == STREAMER
    page = client.get("/oauth/accounts/")
    assert page.status_code == 200
    assert b"@sandbox_streamer" in page.content and b"@sandbox_viewer" in page.content
    # Reconnecting the same account updates its connection, no second row.
    before = Connection.objects.get(pk=viewer.pk).access_token
    assert connect(client, sandbox_browser, VIEWER).status_code == 302
    assert Connection.objects.count() == 2
    assert Connection.objects.get(pk=viewer.pk).access_token != before


def test_switch_refuses_a_connection_the_user_may_not_use(client, signin_oauth, sandbox_browser,
                                                         django_user_model):
    sign_in(client, sandbox_browser, STREAMER)
    theirs = Connection.objects.get()
    bob = django_user_model.objects.create_user("bob", password="pw")
    other = Client()
    other.force_login(bob)
    response = other.post("/oauth/switch/", {"connection": str(theirs.pk), "next": "/current/"})
    assert response.status_code == 302
    # A value that names no connection at all is a bad request, said so on a page.
    for value in ("abc", "", "9" * 30, "\u00b2"):
        response = other.post("/oauth/switch/", {"connection": value, "next": "/current/"})
        assert response.status_code == 400
        assert b"The form named no TikTok account" in response.content
        assert other.get("/current/").json() == {"user": "bob", "pk": None, "account": None}


def test_a_takeover_is_refused_and_changes_nothing(client, signin_oauth, sandbox_browser,
                                                   django_user_model, recorder):
    sign_in(client, sandbox_browser, STREAMER)
    before, signalled = stored_snapshot(), recorder.count("connected")
    bob = django_user_model.objects.create_user("bob", password="pw")
    other = Client()
    other.force_login(bob)
    with SandboxBrowser() as browser:
        response = connect(other, browser, STREAMER)
    assert response.status_code == 409
    assert b"@sandbox_streamer" in response.content
    assert b"belongs to another user" in response.content
    assert stored_snapshot() == before
    assert not Connection.objects.filter(user=bob).exists()
    assert recorder.count("connected") == signalled
    # Signing in as that account still gives the first user, not bob.
    with SandboxBrowser() as browser:
        third = Client()
        sign_in(third, browser, STREAMER)
    assert third.get("/current/").json()["user"] == STREAMER


def test_the_last_way_in_is_not_disconnected(client, signin_oauth, sandbox_browser):
    sign_in(client, sandbox_browser, STREAMER)
    only = Connection.objects.get()
    before = stored_snapshot()
    response = client.post("/oauth/disconnect/",
                           {"connection": only.pk, "next": "/oauth/accounts/"}, follow=True)
    assert b"only way to sign in" in response.content
    assert stored_snapshot() == before
    # With a second account connected, the first may go.
    connect(client, sandbox_browser, VIEWER)
    response = client.post("/oauth/disconnect/", {"connection": only.pk, "next": "/current/"})
    assert response.status_code == 302
    assert Connection.objects.get(pk=only.pk).status == Connection.Status.REVOKED
    assert client.get("/current/").json()["account"] == VIEWER
    # Now the viewer is the only way in again.
    viewer = Connection.objects.get(external_username=VIEWER)
    client.post("/oauth/disconnect/", {"connection": viewer.pk})
    assert Connection.objects.get(pk=viewer.pk).status == Connection.Status.ACTIVE


def test_two_browsers_sign_in_as_two_accounts_at_once(signin_oauth):
    first, second = Client(), Client()
    started = [c.post("/oauth/login/", {"next": "/current/"}) for c in (first, second)]
    with SandboxBrowser() as one, SandboxBrowser() as two:
        backs = [one.authorize(started[0]["Location"], account=STREAMER),
                 two.authorize(started[1]["Location"], account=VIEWER)]
    # They come back in the other order.
    assert second.get("/oauth/callback/", query_of(backs[1])).status_code == 302
    assert first.get("/oauth/callback/", query_of(backs[0])).status_code == 302
    assert first.get("/current/").json()["user"] == STREAMER
    assert second.get("/current/").json()["user"] == VIEWER
    assert get_user_model().objects.count() == 2
    # A state from one browser is refused in the other.
    third = Client()
    stray = third.post("/oauth/login/", {})
    with SandboxBrowser() as browser:
        back = browser.authorize(stray["Location"], account=STREAMER)
    assert first.get("/oauth/callback/", query_of(back)).status_code == 400


def test_sign_in_needs_a_client_that_gives_userinfo(client, make_sandbox_oauth):
    make_sandbox_oauth(scopes="webcast:fetch", slug="no-userinfo")
    response = client.post("/oauth/login/", {"client": "no-userinfo"})
    assert response.status_code == 400
    assert "_euler_oauth_pending" not in client.session
    found = [m for m in run_checks(include_deployment_checks=True, databases=["default"])
             if m.id == "django_euler_oauth.E008"]
    assert len(found) == 1 and found[0].level == ERROR  # the default (only) client
    assert "user:info" in found[0].hint


def test_userinfo_check_is_for_sites_that_sign_in(make_sandbox_oauth, settings):
    make_sandbox_oauth(scopes="webcast:fetch", slug="connect-only")
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    ids = [m.id for m in run_checks(include_deployment_checks=True, databases=["default"])]
    assert "django_euler_oauth.E008" not in ids  # a connect-only site: nothing to say


def test_the_backend_check(settings):
    assert "django_euler_oauth.W004" not in [m.id for m in run_checks()]
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    found = [m for m in run_checks() if m.id == "django_euler_oauth.W004"]
    assert len(found) == 1 and "EulerAccountBackend" in found[0].hint
    assert found[0].level == WARNING  # a warning: connect-only sites keep starting


def test_without_the_backend_sign_in_starts_nothing(client, signin_oauth, settings):
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    for response in (client.get("/oauth/login/"), client.post("/oauth/login/")):
        assert response.status_code == 400
        assert b"Application configuration error" in response.content
    assert "_euler_oauth_pending" not in client.session
    assert get_user_model().objects.count() == 0


def test_backend_removed_mid_sign_in_creates_no_user(client, signin_oauth, sandbox_browser,
                                                   settings, events):
    started = client.post("/oauth/login/")
    assert started.status_code == 302
    back = sandbox_browser.authorize(started["Location"], account=STREAMER)
    settings.AUTHENTICATION_BACKENDS = [MODEL_BACKEND]
    response = client.get("/oauth/callback/", query_of(back))
    assert response.status_code == 400 and b"Application configuration error" in response.content
    assert get_user_model().objects.count() == 0 and Connection.objects.count() == 0
    assert events["signed_up"] == [] and events["logged_in"] == []


def test_the_sign_in_message_agrees_with_the_header(client, signin_oauth, sandbox_browser):
    """Signing in again says "with @x, working as @x": the site's user is who is signed
    in (a header says "Signed in as <user>, working as @x"), the account is worked on."""
    first = sign_in(client, sandbox_browser, STREAMER)
    assert [str(m) for m in get_messages(first.wsgi_request)] == \
        ["Welcome, @sandbox_streamer."]
    other = Client()
    with SandboxBrowser() as browser:
        again = sign_in(other, browser, STREAMER)
    assert [str(m) for m in get_messages(again.wsgi_request)] == \
        ["Signed in with @sandbox_streamer, working as @sandbox_streamer."]
