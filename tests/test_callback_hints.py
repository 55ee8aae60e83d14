"""The callback's state page names the real cause: a callback on another host than the one
the authorization started on (each host has its own session cookie), or a reload of a
callback that already connected the account."""

from __future__ import annotations

import base64
import datetime
import secrets
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from django_euler_oauth.models import Connection

from .support.loopback import Answer, token_body
from .support.sandbox_fixtures import SANDBOX_DATABASES, query_of
from .support.signin import STREAMER

AUTHORIZE = "/oauth/authorize/"
CALLBACK = "/oauth/callback/"
TOKEN = "/tiktok/oauth/token"
FAILED = "We could not connect your TikTok account"


def page(response):
    return response.content.decode()


def start(browser, host="127.0.0.1:8000", **params):
    response = browser.get(AUTHORIZE, params, HTTP_HOST=host)
    assert response.status_code == 302, response.content[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def test_callback_on_another_host_says_so(browser, user, oauth, provider):
    params = start(browser, host="127.0.0.1:8000")
    # The browser sends no cookie of 127.0.0.1 to localhost: another, empty session.
    elsewhere = Client()
    response = elsewhere.get(CALLBACK, {"code": "c", "state": params["state"]},
                             HTTP_HOST="localhost:8000")
    assert response.status_code == 400
    html = page(response)
    assert "You started on http://127.0.0.1:8000 and came back on http://localhost:8000" \
        in html
    assert "use one host" in html
    assert "SameSite" not in html  # not the cause here
    assert provider.requests_to(TOKEN) == []


def test_callback_logged_in_on_the_other_host_too(browser, user, oauth, provider):
    params = start(browser, host="localhost:8000")
    elsewhere = Client()
    elsewhere.force_login(user)  # a session of its own on that host
    response = elsewhere.get(CALLBACK, {"code": "c", "state": params["state"]},
                             HTTP_HOST="127.0.0.1:8000")
    assert "You started on http://localhost:8000 and came back on http://127.0.0.1:8000" \
        in page(response)


def test_same_host_lost_session_still_mentions_samesite(browser, user, oauth, provider):
    params = start(browser, host="localhost:8000")
    cookieless = Client()
    response = cookieless.get(CALLBACK, {"code": "c", "state": params["state"]},
                              HTTP_HOST="localhost:8000")
    html = page(response)
    assert "SameSite" in html and "You started on" not in html


def test_a_host_the_site_does_not_serve_is_never_echoed(client, user, oauth):
    """The state is not signed: what it says only chooses a hint, and only for a host
    of ALLOWED_HOSTS."""
    origin = base64.urlsafe_b64encode(b"http://evil.example").rstrip(b"=").decode()
    forged = secrets.token_urlsafe(32) + origin
    response = client.get(CALLBACK, {"code": "c", "state": forged}, HTTP_HOST="localhost")
    assert response.status_code == 400
    assert "evil.example" not in page(response) and "You started on" not in page(response)


# --- reloading the callback after it connected the account ------------------------------

def connect(browser, provider, **params):
    query = start(browser, **params)
    provider.queue(TOKEN, Answer(200, token_body("acc-new", "ref-new")))
    back = {"code": "c", "state": query["state"]}
    response = browser.get(CALLBACK, back, HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 302
    return back


def test_reload_after_success_says_connected(browser, user, oauth, provider):
    back = connect(browser, provider, next="/dashboard/")
    again = browser.get(CALLBACK, back, HTTP_HOST="127.0.0.1:8000")
    assert again.status_code == 200
    html = page(again)
    assert FAILED not in html
    assert "Your TikTok account is connected" in html
    assert 'href="/dashboard/"' in html
    assert len(provider.requests_to(TOKEN)) == 1  # the code is never sent twice


def test_reload_goes_on_to_the_success_url_without_next(browser, user, oauth, provider):
    back = connect(browser, provider)
    with override_settings(EULER_OAUTH_SUCCESS_URL="/welcome/"):
        html = page(browser.get(CALLBACK, back, HTTP_HOST="127.0.0.1:8000"))
    assert 'href="/welcome/"' in html


def test_reload_after_the_connection_ended_is_the_state_error(browser, user, oauth, provider):
    back = connect(browser, provider)
    Connection.objects.filter(user=user).update(status=Connection.Status.REVOKED)
    again = browser.get(CALLBACK, back, HTTP_HOST="127.0.0.1:8000")
    assert again.status_code == 400 and FAILED in page(again)


def test_reload_much_later_is_the_state_error(browser, user, oauth, provider):
    back = connect(browser, provider)
    Connection.objects.filter(user=user).update(
        connected_at=timezone.now() - datetime.timedelta(hours=1))
    again = browser.get(CALLBACK, back, HTTP_HOST="127.0.0.1:8000")
    assert again.status_code == 400 and FAILED in page(again)


def test_the_state_with_another_code_is_a_replay_not_a_reload(browser, user, oauth,
                                                              provider):
    back = connect(browser, provider)
    response = browser.get(CALLBACK, {**back, "code": "other"}, HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 400 and FAILED in page(response)
    assert len(provider.requests_to(TOKEN)) == 1


def test_another_state_after_success_is_still_refused(browser, user, oauth, provider):
    connect(browser, provider)
    response = browser.get(CALLBACK, {"code": "c", "state": "forged"},
                           HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 400 and FAILED in page(response)


@pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)
def test_reload_after_signing_in_says_connected(client, signin_oauth, sandbox_browser):
    started = client.post("/oauth/login/", {"next": "/current/"})
    back = query_of(sandbox_browser.authorize(started["Location"], account=STREAMER))
    assert client.get(CALLBACK, back).status_code == 302
    again = client.get(CALLBACK, back)
    assert again.status_code == 200
    assert "@sandbox_streamer is connected" in page(again) and FAILED not in page(again)
    assert 'href="/current/"' in page(again)
    assert get_user_model().objects.count() == 1 and Connection.objects.count() == 1
    client.logout()  # a reload in another session (or after signing out) is refused
    assert client.get(CALLBACK, back).status_code == 400
