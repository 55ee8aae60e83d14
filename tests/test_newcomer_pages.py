"""What a newcomer's half-configured site answers: with DEBUG on the "not available" page
says what to configure; without the messages framework the flow still succeeds; without
the middleware the scopes decorator says so instead of an AttributeError in the view.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_euler_oauth.models import Connection

from .support.loopback import Answer, token_body

AUTHORIZE = "/oauth/authorize/"
CALLBACK = "/oauth/callback/"
TOKEN = "/tiktok/oauth/token"
OURS = "django_euler_oauth.middleware.EulerTokenMiddleware"
MESSAGES_MIDDLEWARE = "django.contrib.messages.middleware.MessageMiddleware"
NOT_AVAILABLE = "This TikTok connection is not available. Please contact support."


def page(response):
    return response.content.decode()


# --- the "not available" page says what to configure, with DEBUG on only ----------------

def test_several_clients_no_default(browser, make_client):
    make_client(slug="main")
    make_client(slug="backup")
    with override_settings(DEBUG=True):
        response = browser.get(AUTHORIZE)
    assert response.status_code == 404
    html = page(response)
    assert NOT_AVAILABLE in html
    assert "EULER_OAUTH_DEFAULT_CLIENT" in html
    assert "main" in html and "backup" in html
    assert "django_euler_oauth.W007" in html
    with override_settings(DEBUG=False):
        quiet = page(browser.get(AUTHORIZE))
    assert NOT_AVAILABLE in quiet
    assert "EULER_OAUTH_DEFAULT_CLIENT" not in quiet and "backup" not in quiet


def test_no_active_client(browser, make_client):
    make_client(slug="paused", is_active=False)
    with override_settings(DEBUG=True):
        html = page(browser.get(AUTHORIZE))
    assert "No active OAuth client" in html and "admin" in html and "paused" in html
    with override_settings(DEBUG=False):
        quiet = page(browser.get(AUTHORIZE))
    assert "No active OAuth client" not in quiet and "paused" not in quiet


def test_unknown_slug_in_the_link(browser, make_client):
    make_client(slug="main")
    with override_settings(DEBUG=True):
        html = page(browser.get(AUTHORIZE, {"client": "mian"}))
    assert "&#x27;mian&#x27;" in html and "main" in html


def test_default_names_no_active_client(browser, make_client):
    make_client(slug="main")
    with override_settings(DEBUG=True, EULER_OAUTH_DEFAULT_CLIENT="nope"):
        html = page(browser.get(AUTHORIZE))
    assert "EULER_OAUTH_DEFAULT_CLIENT = &#x27;nope&#x27;" in html
    assert "django_euler_oauth.E010" in html and "main" in html


# --- without the messages framework, nothing answers 500 --------------------------------

def without_messages():
    return override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE
                                         if m != MESSAGES_MIDDLEWARE])


def start(browser, **params):
    response = browser.get(AUTHORIZE, params)
    assert response.status_code == 302, response.content[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def test_callback_succeeds_without_messages(browser, user, oauth, provider):
    # The whole flow under the settings: the test client loads its middleware once.
    with without_messages():
        params = start(browser, next="/dashboard/")
        provider.queue(TOKEN, Answer(200, token_body("acc-new", "ref-new")))
        response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert Connection.objects.get(user=user).access_token == "acc-new"


def test_access_denied_without_messages(browser, oauth):
    with without_messages():
        params = start(browser, next="/connect/")
        response = browser.get(CALLBACK, {"error": "access_denied", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/connect/"


def test_failure_url_without_messages(browser, oauth):
    with without_messages(), override_settings(EULER_OAUTH_FAILURE_URL="/failed/"):
        params = start(browser)
        response = browser.get(CALLBACK, {"error": "invalid_scope", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/failed/"


def test_disconnect_and_switch_without_messages(browser, user, oauth, make_connection,
                                                provider):
    conn = make_connection(user, oauth, external_id="1", external_username="one")
    with without_messages():
        switched = browser.post("/oauth/switch/", {"connection": conn.pk, "next": "/a/"})
        refused = browser.post("/oauth/switch/", {"connection": conn.pk + 99, "next": "/a/"})
        gone = browser.post("/oauth/disconnect/", {"connection": conn.pk, "next": "/b/"})
        nothing = browser.post("/oauth/disconnect/", {"next": "/c/"})
    assert (switched.status_code, switched["Location"]) == (302, "/a/")
    assert (refused.status_code, refused["Location"]) == (302, "/a/")
    assert (gone.status_code, gone["Location"]) == (302, "/b/")
    assert (nothing.status_code, nothing["Location"]) == (302, "/c/")
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.REVOKED


def test_team_pages_without_messages(browser, team_conn, moderator):
    from django_euler_oauth import teams

    delegation = teams.grant(team_conn, moderator, "webcast:mute", by=team_conn.user)
    with without_messages():
        refused = browser.post("/oauth/team/", {"connection": team_conn.pk,
                                                "scope": ["webcast:nope"]})
        withdrawn = browser.post("/oauth/team/revoke/", {"delegation": delegation.pk})
    assert refused.status_code == 200
    assert withdrawn.status_code == 302


def test_live_start_without_messages(browser, user, team_conn, django_user_model):
    with without_messages():
        response = browser.post("/oauth/live/stop/", {"connection": team_conn.pk,
                                                      "next": "/x/"})
    assert response.status_code in (302, 404)


# --- the scopes decorator without the middleware ---------------------------------------

@pytest.mark.parametrize("path", ["/needs-chat/", "/needs-moderation/"])
def test_scopes_decorator_without_the_middleware(browser, user, oauth, make_connection, path):
    make_connection(user, oauth, scope="webcast:chat webcast:mute webcast:bulk_live_check")
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != OURS]), \
            pytest.raises(ImproperlyConfigured, match="EulerTokenMiddleware"):
        browser.get(path)
