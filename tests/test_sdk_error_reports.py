"""No API key, token or client secret in error reports from the SDK helper.

The same family as :mod:`tests.test_error_reports` (``EulerAPI``), run over
:func:`django_euler_oauth.sdk.call`: unhandled errors in a view reach
``django.request``, whose ``AdminEmailHandler(include_html=True)`` mails the
admins (text and HTML parts searched); the technical 500 page with ``DEBUG`` on
and off; ``ExceptionReporter``'s text and HTML; ``refresh_failed`` receivers and
pickled errors. Euler's SDK (``eulerapisdk``, httpx) makes real requests on
loopback; the account's API key, the stored and issued tokens and the client
secret are searched for in every report.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from typing import Any

import pytest
from django.core import mail
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import include, path
from django.views.debug import ExceptionReporter, technical_500_response
from EulerApiSdk.api.tik_tok_live_moderation import mute_room_user

from django_euler_oauth import sdk
from django_euler_oauth.errors import EulerOAuthError, ServerError
from django_euler_oauth.models import Connection

from .support.error_reports import assert_clean, reports_of, without_source
from .support.loopback import Answer, token_body

TOKEN = "/tiktok/oauth/token"
MUTES = "/webcast/rooms/r1/moderation/mutes"
API_KEY = "KEY-account-8e7d6c5b4a"
CLIENT_SECRET = "CS-sdk-report-1a2b3c4d"
STORED_ACCESS = "AT-sdk-stored-5e6f7a8b"
STORED_REFRESH = "RT-sdk-stored-9c0d1e2f"
NEW_ACCESS = "AT-sdk-issued-3a4b5c6d"
NEW_REFRESH = "RT-sdk-issued-7e8f9a0b"
SECRETS = (API_KEY, CLIENT_SECRET, STORED_ACCESS, STORED_REFRESH, NEW_ACCESS, NEW_REFRESH)


def boom_sdk(request: HttpRequest, pk: int) -> HttpResponse:
    connection = Connection.objects.select_related("client").get(pk=pk)
    sdk.call(connection, mute_room_user, "r1", user_id="u-1")
    return HttpResponse("ok")


urlpatterns = [
    path("boom/sdk/<int:pk>/", boom_sdk),
    path("", include("tests.urls")),
]

pytestmark = pytest.mark.urls("tests.test_sdk_error_reports")


@pytest.fixture
def conn(provider: Any, make_client: Any, make_connection: Any, user: Any,
         settings: Any) -> Connection:
    settings.EULER_OAUTH_API_MAX_RETRIES = 0
    oauth = make_client(base=provider.url, client_secret=CLIENT_SECRET,
                        token_transport="x-oauth-token", api_key=API_KEY)
    connection: Connection = make_connection(user, oauth, access_token=STORED_ACCESS,
                                             refresh_token=STORED_REFRESH)
    return connection


def assert_mailed_clean() -> None:
    assert mail.outbox, "no error report was mailed"
    parts = reports_of(mail.outbox)
    assert any("Traceback" in text for _where, text in parts)
    assert any(where.startswith("HTML mail") for where, _text in parts)
    for where, text in parts:
        assert_clean(where, text, *SECRETS)


# --- unhandled errors in views ----------------------------------------------------------

@pytest.mark.parametrize("answer", [
    Answer(500, {"code": 500, "message": "boom"}),
    Answer(200, {"message": "no code"}),
    Answer(reset=True),
], ids=["server-error", "unreadable", "reset"])
def test_a_failing_sdk_call_reports_no_secret(admin_mails, reporting_web, conn, provider, answer):
    provider.queue(MUTES, answer)
    response = reporting_web.get(f"/boom/sdk/{conn.pk}/")
    assert response.status_code == 500
    assert provider.requests_to(MUTES), "the SDK made the call"
    sent = {k.lower(): v for k, v in provider.requests_to(MUTES)[0].headers.items()}
    assert (sent["x-api-key"], sent["x-oauth-token"]) == (API_KEY, STORED_ACCESS)
    assert_mailed_clean()


def test_a_failed_refresh_inside_an_sdk_call_reports_no_secret(admin_mails, reporting_web, conn,
                                                               provider):
    """token_expired, then the refresh's answer holds new tokens but is refused (not
    Bearer): the refresh's frames held the client secret and both refresh tokens."""
    provider.queue(MUTES, Answer(401, {"code": 401, "error": {"error": "token_expired"}}))
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH, token_type="mac")))
    response = reporting_web.get(f"/boom/sdk/{conn.pk}/")
    assert response.status_code == 500
    assert provider.requests_to(TOKEN)
    assert_mailed_clean()


# --- the technical 500 page, reporter text, signal arguments, pickled errors ------------

def test_the_debug_technical_500_page_shows_no_secret(reporting_web, conn, provider, settings):
    settings.DEBUG = True
    provider.queue(MUTES, Answer(500, {"code": 500, "message": "boom"}))
    response = reporting_web.get(f"/boom/sdk/{conn.pk}/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "ServerError" in page and "Local vars" in page  # the technical page
    assert_clean("DEBUG technical 500 page", without_source(page), *SECRETS)


def test_the_technical_500_page_and_reporter_show_no_secret(conn, provider, settings):
    settings.DEBUG = False  # Django's filter is active; sites show this page to superusers
    provider.queue(MUTES, Answer(500, {"code": 500, "message": "boom"}))
    request = RequestFactory().get("/somewhere/")
    connection = Connection.objects.select_related("client").get(pk=conn.pk)
    try:
        sdk.call(connection, mute_room_user, "r1", user_id="u-1")
    except ServerError:
        exc_info = sys.exc_info()
    else:
        raise AssertionError("the call should have failed")
    page = technical_500_response(request, *exc_info).content.decode()
    assert "ServerError" in page
    assert_clean("technical 500 page", without_source(page), *SECRETS)
    reporter = ExceptionReporter(request, *exc_info)
    assert_clean("traceback text", without_source(reporter.get_traceback_text()), *SECRETS)
    assert_clean("traceback HTML", without_source(reporter.get_traceback_html()), *SECRETS)


def test_refresh_failed_receivers_and_pickles_get_no_secret(conn, provider, recorder):
    provider.queue(MUTES, Answer(401, {"code": 401, "error": {"error": "token_expired"}}))
    provider.queue(TOKEN, Answer(503, {"error": "temporarily_unavailable",
                                       "error_description": "try later"}))
    connection = Connection.objects.select_related("client").get(pk=conn.pk)
    with pytest.raises(EulerOAuthError) as caught:
        sdk.call(connection, mute_room_user, "r1", user_id="u-1")
    [event] = recorder.of("refresh_failed")
    for error in (event["error"], caught.value):
        frames = [frame.f_code.co_filename
                  for frame, _line in traceback.walk_tb(error.__traceback__)]
        assert not [name for name in frames if "site-packages" in name
                    and ("httpx" in name or "EulerApiSdk" in name)], frames
        assert_clean("pickled error", repr(pickle.dumps(error)), *SECRETS)
        assert_clean("error", f"{error!r} {error} {vars(error)}", *SECRETS)


def test_the_sdk_client_does_not_show_the_api_key(conn):
    client = sdk.sdk_client(conn.client)
    with client:
        assert_clean("SDK client repr", f"{client!r} {client}", API_KEY)
