"""No token, secret, code or verifier in Django's own error reports.

Real Django error reporting: unhandled errors in views reach ``django.request``,
whose ``AdminEmailHandler(include_html=True)`` mails the admins (captured by the
locmem backend); the technical 500 page is rendered with
``django.views.debug.technical_500_response`` (what sites show superusers) and
``ExceptionReporter``. Each report (text mail, HTML mail, page) is searched for the
actual secret strings: the client secret, the stored and the newly issued tokens,
the authorization code and the PKCE verifier. Also: signal arguments and pickled
errors.
"""

from __future__ import annotations

import pickle
import socket
import sys
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import include, path
from django.views.debug import ExceptionReporter, technical_500_response

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import EulerOAuthError, MalformedResponse
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

from .support.error_reports import (
    CLIENT_SECRET,
    CODE,
    NEW_ACCESS,
    NEW_REFRESH,
    SECRETS,
    STORED_ACCESS,
    STORED_REFRESH,
    assert_clean,
    assert_reported,
    fail_inserts_into,
    without_source,
)
from .support.loopback import Answer, token_body

TOKEN = "/tiktok/oauth/token"
API = "/webcast/fetch"


# --- views that let an error escape, as a site's own views would ----------------------

def boom_refresh(request: HttpRequest, pk: int) -> HttpResponse:
    refresh_connection(Connection.objects.get(pk=pk), force=True)
    return HttpResponse("ok")


def boom_api(request: HttpRequest, pk: int) -> HttpResponse:
    EulerAPI(Connection.objects.get(pk=pk)).get(API)
    return HttpResponse("ok")


urlpatterns = [
    path("boom/refresh/<int:pk>/", boom_refresh),
    path("boom/api/<int:pk>/", boom_api),
    path("", include("tests.urls")),
]

pytestmark = pytest.mark.urls("tests.test_error_reports")


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def expired(reporting_client: Any, make_connection: Any, user: Any) -> Connection:
    """A connection whose access token has expired: a failed refresh raises."""
    connection: Connection = make_connection(user, reporting_client, access_token=STORED_ACCESS,
                                             refresh_token=STORED_REFRESH, expires_in=-5)
    return connection


# --- unhandled errors in views ----------------------------------------------------------

def test_a_malformed_refresh_answer_reports_no_secret(admin_mails, reporting_web, expired,
                                                      provider):
    """The answer holds new tokens (refused: not Bearer); the frames held the client secret
    (``fields``), the refresh token and the answer's body."""
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH, token_type="mac")))
    response = reporting_web.get(f"/boom/refresh/{expired.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


def test_an_unreachable_provider_reports_no_secret(admin_mails, reporting_web, expired):
    """A transport error used to chain the requests exception: urllib3's frames hold the
    form body with the client secret and the refresh token."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = expired.client
    client.token_url = f"http://127.0.0.1:{port}{TOKEN}"
    client.save()
    response = reporting_web.get(f"/boom/refresh/{expired.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


def test_a_failing_api_call_reports_no_secret(admin_mails, reporting_web, reporting_conn, provider):
    provider.queue(API, *[Answer(500, {"error": "server_error"})])
    response = reporting_web.get(f"/boom/api/{reporting_conn.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


def test_a_stored_refresh_error_raised_again_reports_no_secret(admin_mails, reporting_web,
                                                               reporting_conn, provider):
    """token_expired, then the refresh fails: the refresh's error, kept and raised again,
    carried the client frames of the refresh."""
    provider.queue(API, Answer(401, {"error": "token_expired"}))
    provider.queue(TOKEN, Answer(400, {"error": "unsupported_grant_type"}))
    response = reporting_web.get(f"/boom/api/{reporting_conn.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


@pytest.fixture
def failing_connection_insert(reporting_client: Any) -> Iterator[None]:
    yield from fail_inserts_into("django_euler_oauth_connection")


@pytest.fixture
def failing_client_insert() -> Iterator[None]:
    yield from fail_inserts_into("django_euler_oauth_oauthclient")


def test_a_database_failure_in_the_callback_reports_no_secret(
        admin_mails, reporting_web, provider, failing_connection_insert):
    """After the exchange: the code (query string, GET), the verifier (session state), the
    new tokens (``values``, ``tokens``) and the client secret."""
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH)))
    response = reporting_web.get("/oauth/authorize/", {"next": "/done/"})
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    response = reporting_web.get("/oauth/callback/", {"code": CODE, "state": state})
    assert response.status_code == 500
    assert provider.requests_to(TOKEN), "the code was exchanged"
    sent = provider.requests_to(TOKEN)[0].form
    assert sent["code"] == CODE and sent.get("code_verifier")
    assert_reported(admin_mails, *SECRETS, sent["code_verifier"], state)


def test_a_failing_admin_save_reports_no_client_secret(admin_mails, admin_client,
                                                        failing_client_insert):
    admin_client.raise_request_exception = False
    response = admin_client.post("/admin/django_euler_oauth/oauthclient/add/", {
        "name": "Broken", "slug": "broken", "client_id": "cid-broken",
        "new_client_secret": CLIENT_SECRET, "scopes": "webcast:fetch",
        "is_active": "on", "authorize_url": "https://tiktok.eulerstream.com/a",
        "token_url": "https://tiktok.eulerstream.com/t",
        "revoke_url": "https://tiktok.eulerstream.com/r",
        "api_base_url": "https://tiktok.eulerstream.com", "request_format": "form",
        "token_transport": "bearer", "websocket_url": "wss://ws.eulerstream.com",
    })
    assert response.status_code == 500, response.content[:500]
    assert_reported(admin_mails, CLIENT_SECRET)


# --- the technical 500 page, signal arguments, pickled errors -----------------------------

def test_the_debug_technical_500_page_shows_no_secret(reporting_web, expired, provider, settings):
    """DEBUG=True: Django ignores sensitive_variables on its own; the middleware hands the
    request a reporter filter that keeps the marks in force."""
    settings.DEBUG = True
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH, token_type="mac")))
    response = reporting_web.get(f"/boom/refresh/{expired.pk}/")
    assert response.status_code == 500
    page = response.content.decode()
    assert "MalformedResponse" in page and "Local vars" in page  # the technical page
    assert_clean("DEBUG technical 500 page", without_source(page))


def test_the_technical_500_page_shows_no_secret(expired, provider, settings):
    settings.DEBUG = False  # Django's filter is active; sites show this page to superusers
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH, token_type="mac")))
    request = RequestFactory().get("/somewhere/")
    try:
        refresh_connection(Connection.objects.get(pk=expired.pk), force=True)
    except MalformedResponse:
        exc_info = sys.exc_info()
    else:
        raise AssertionError("the refresh should have failed")
    page = technical_500_response(request, *exc_info).content.decode()
    assert "MalformedResponse" in page
    assert_clean("technical 500 page", page)
    reporter = ExceptionReporter(request, *exc_info)
    assert_clean("traceback text", reporter.get_traceback_text())
    assert_clean("traceback HTML", reporter.get_traceback_html())


def test_refresh_failed_receivers_and_pickles_get_no_secret(expired, provider, recorder):
    provider.queue(TOKEN, Answer(503, {"error": "temporarily_unavailable",
                                       "error_description": "try later"}))
    with pytest.raises(EulerOAuthError):
        refresh_connection(Connection.objects.get(pk=expired.pk), force=True)
    [event] = recorder.of("refresh_failed")
    error = event["error"]
    assert error.response is not None and error.response.request.body is None
    frames = [frame.f_code.co_filename for frame, _line in traceback.walk_tb(error.__traceback__)]
    assert not [name for name in frames if "django_euler_oauth" in name
                and name.endswith(("client.py", "transport.py", "answers.py"))], frames
    for header in ("Authorization", "x-oauth-token"):
        assert_clean("request headers", str(error.response.request.headers.get(header)))
    assert_clean("pickled error", repr(pickle.dumps(error)))
    assert_clean("error", f"{error!r} {error} {vars(error)}")
