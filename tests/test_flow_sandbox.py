"""The app's whole life cycle against the sandbox provider over real HTTP on loopback.

Connect (authorize -> sandbox screens -> callback -> tokens stored), refresh
through the middleware, API calls through ``EulerAPI``, the dead-grant paths
and disconnect: nothing is mocked, the app talks to the sandbox through its
``ProviderClient`` over sockets.
"""

from __future__ import annotations

import datetime
import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.messages import get_messages
from django.test import override_settings
from django.utils import timezone

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import InsufficientScope, SessionExpired
from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox import controls
from django_euler_oauth.sandbox.models import Grant

from .support.sandbox_fixtures import SANDBOX_DATABASES, TEST_SECRET, SandboxBrowser, query_of

pytestmark = pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)


def connect(client: Any, browser: SandboxBrowser, *, slug: str, next_url: str = "/whoami/",
            **kwargs: Any) -> Any:
    """Authorize on the site, walk the sandbox screens, come back to the callback."""
    response = client.get("/oauth/authorize/", {"client": slug, "next": next_url})
    assert response.status_code == 302, response.content[:300]
    back = browser.authorize(response["Location"], **kwargs)
    parts = urlsplit(back)
    assert parts.path == "/oauth/callback/"
    return client.get(parts.path, query_of(back))


def test_connect_refresh_api_disconnect(client, user, make_sandbox_oauth, sandbox_browser,
                                        sandbox_url):
    sandbox, oauth = make_sandbox_oauth(access_lifetime=2,
                                        scopes="webcast:fetch webcast:live_check user:info")
    client.force_login(user)
    response = connect(client, sandbox_browser, slug=oauth.slug)
    assert response.status_code == 302 and response["Location"] == "/whoami/"
    connection = Connection.objects.get(user=user, client=oauth)
    assert connection.status == Connection.Status.ACTIVE
    assert connection.external_username == "sandbox_streamer"  # from /userinfo (user:info)
    assert connection.scope == "webcast:fetch webcast:live_check user:info"
    assert connection.refresh_time_left > datetime.timedelta(days=29)
    assert controls.call_count("token") == 1
    first_refresh = connection.refresh_token

    # Two seconds later the access token is past its lifetime: the middleware refreshes.
    time.sleep(2.2)
    with override_settings(EULER_OAUTH_REFRESH_LEEWAY=0):
        data = client.get("/whoami/").json()
    assert data["connected"] and data["has_token"]
    assert controls.call_count("token") == 2
    connection.refresh_from_db()
    assert connection.refresh_token != first_refresh and connection.refreshed_at is not None
    # The provider rotated the refresh token: the old one is dead for good.
    stale = sandbox_browser.session.post(sandbox_url + "/tiktok/oauth/token", timeout=5, data={
        "grant_type": "refresh_token", "refresh_token": first_refresh,
        "client_id": sandbox.client_id, "client_secret": TEST_SECRET})
    assert stale.status_code == 400 and stale.json()["error"] == "invalid_grant"

    with override_settings(EULER_OAUTH_REFRESH_LEEWAY=0):
        answer = EulerAPI(connection).post("/webcast/fetch", {"uniqueId": "someone"})
        assert answer["room"]["uniqueId"] == "someone"
        with pytest.raises(InsufficientScope) as caught:
            EulerAPI(connection).get("/webcast/rankings")
    assert caught.value.missing_scope == "webcast:rankings"
    assert "webcast%3Arankings" in caught.value.reauthorize_url

    access = connection.access_token
    response = client.post("/oauth/disconnect/", {"next": "/whoami/"})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REVOKED and not connection.access_token
    assert Grant.objects.get().revoked_at is not None
    dead = sandbox_browser.session.get(sandbox_url + "/webcast/fetch", timeout=5,
                        headers={"Authorization": f"Bearer {access}"})
    assert dead.status_code == 401 and dead.json()["error"] == "revoked_token"
    assert client.get("/whoami/").json() == {"connected": False, "has_token": False,
                                              "token_length": 0}


def test_token_expired_at_the_api_refreshes_and_retries(client, user, make_sandbox_oauth,
                                                         sandbox_browser):
    _sandbox, oauth = make_sandbox_oauth()
    client.force_login(user)
    connect(client, sandbox_browser, slug=oauth.slug)
    connection = Connection.objects.get(user=user)
    old_access = connection.access_token
    assert controls.expire_access_tokens(unique_id="sandbox_streamer") == 1
    answer = EulerAPI(connection).get("/webcast/bulk_live_check", user_numeric_ids="11,12")
    assert sorted(answer["response"]["data"]) == ["11", "12"]
    assert controls.call_count("token") == 2  # the code exchange, then one refresh
    assert controls.call_count("webcast/bulk_live_check") == 2  # refused, then retried
    connection.refresh_from_db()
    assert connection.access_token != old_access


def test_session_expired_clears_tokens_and_reconnect_works(client, user, make_sandbox_oauth,
                                                           sandbox_browser):
    _sandbox, oauth = make_sandbox_oauth()
    client.force_login(user)
    connect(client, sandbox_browser, slug=oauth.slug)
    connection = Connection.objects.get(user=user)
    assert controls.expire_session("sandbox_streamer") == 1
    with pytest.raises(SessionExpired):
        EulerAPI(connection).post("/webcast/fetch", {})
    connection.refresh_from_db()
    assert connection.status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert connection.access_token == "" and connection.refresh_token == ""
    assert Grant.objects.get().revoked_at is not None  # the app revoked at the provider
    assert client.get("/whoami/").json()["connected"] is False

    connect(client, SandboxBrowser(), slug=oauth.slug)  # a new QR login: a new session
    connection.refresh_from_db()
    assert connection.status == Connection.Status.ACTIVE
    assert EulerAPI(connection).post("/webcast/fetch", {})["room"]["uniqueId"]


def test_refresh_token_lifetime_ends_the_connection(client, user, make_sandbox_oauth,
                                                    sandbox_browser):
    # Flat answers do not say when the refresh token expires: the app learns it from
    # the provider's expired_token, once.
    _sandbox, oauth = make_sandbox_oauth(access_lifetime=1, refresh_lifetime=2)
    client.force_login(user)
    connect(client, sandbox_browser, slug=oauth.slug)
    time.sleep(2.2)
    with override_settings(EULER_OAUTH_REFRESH_LEEWAY=0):
        assert client.get("/whoami/").json()["has_token"] is False
    connection = Connection.objects.get(user=user)
    assert connection.status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert connection.status_reason == "expired_token"


def test_live_variants_envelope_json_x_oauth_token_and_pkce(client, user, make_sandbox_oauth,
                                                            sandbox_browser, settings):
    settings.EULER_OAUTH_API_KEY = "sandbox-api-key"
    sandbox, oauth = make_sandbox_oauth(
        response_style="envelope", token_transport="x-oauth-token", api_key="sandbox-api-key",
        require_pkce=True, scopes="webcast:fetch webcast:rankings user:info",
        oauth_fields={"request_format": "json"})
    assert oauth.use_pkce and oauth.token_transport == "x-oauth-token"
    client.force_login(user)
    response = client.get("/oauth/authorize/", {"client": oauth.slug})
    assert query_of(response["Location"])["code_challenge_method"] == "S256"
    back = sandbox_browser.authorize(response["Location"], account="sandbox_viewer")
    client.get("/oauth/callback/", query_of(back))
    connection = Connection.objects.get(user=user)
    assert connection.external_username == "sandbox_viewer"
    # The envelope's refresh_expires_in is the grant's own (30 days by default).
    assert abs(connection.refresh_time_left - datetime.timedelta(days=30)) < \
        datetime.timedelta(minutes=1)
    answer = EulerAPI(connection).get("/webcast/rankings", region="GB", rank_type="DAILY_RANK")
    assert answer["code"] == 200  # EulerAPI hands back the live envelope as it came
    assert answer["region"] == "GB" and len(answer["response"]["ranks"]) == 10
    # Without the API key the live variant refuses the token.
    settings.EULER_OAUTH_API_KEY = None
    bare = sandbox_browser.session.get(oauth.url_for("/webcast/rankings"), timeout=5,
                        headers={"x-oauth-token": connection.access_token})
    assert bare.status_code == 401 and bare.json()["error"]["error"] == "unauthorized"
    assert sandbox.require_pkce


def test_cancel_returns_with_the_friendly_message(client, user, make_sandbox_oauth,
                                                  sandbox_browser):
    _sandbox, oauth = make_sandbox_oauth()
    client.force_login(user)
    response = connect(client, sandbox_browser, slug=oauth.slug, cancel_on="permissions",
                       next_url="/untouched/")
    assert response.status_code == 302 and response["Location"] == "/untouched/"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["You cancelled the connection. No worries!"]
    assert not Connection.objects.exists()


def test_provider_outage_during_refresh_keeps_the_working_token(client, user,
                                                                make_sandbox_oauth,
                                                                sandbox_browser):
    _sandbox, oauth = make_sandbox_oauth()
    client.force_login(user)
    connect(client, sandbox_browser, slug=oauth.slug)
    connection = Connection.objects.get(user=user)
    Connection.objects.filter(pk=connection.pk).update(
        expires_at=timezone.now() + datetime.timedelta(seconds=60))  # within the leeway
    controls.fail_next(1, 503, endpoint="token")
    before = Connection.objects.get(pk=connection.pk)
    assert client.get("/whoami/").json()["has_token"] is True  # old token still valid
    after = Connection.objects.get(pk=connection.pk)
    assert after.refresh_token == before.refresh_token
    assert after.status == Connection.Status.ACTIVE
    assert controls.call_count("token") == 2  # exchange + the failed refresh
    assert client.get("/whoami/").json()["has_token"] is True
    assert controls.call_count("token") == 3  # this time the refresh went through
    assert Connection.objects.get(pk=connection.pk).refresh_token != before.refresh_token


@pytest.mark.postgres
def test_full_flow_on_postgres(client, user, make_sandbox_oauth, sandbox_browser):
    _sandbox, oauth = make_sandbox_oauth()
    client.force_login(user)
    connect(client, sandbox_browser, slug=oauth.slug)
    connection = Connection.objects.get(user=user)
    controls.expire_access_tokens(unique_id="sandbox_streamer")
    assert EulerAPI(connection).post("/webcast/fetch", {})["room"]
    assert controls.call_count("token") == 2
    assert client.post("/oauth/disconnect/").status_code == 302
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.REVOKED
