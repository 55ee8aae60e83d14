"""Issue #11 item 1: no token, secret, code or verifier in Django's own error reports.

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

import logging
import pickle
import re
import socket
import sys
import traceback
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core import mail
from django.db import connection as db
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import include, path
from django.utils.log import AdminEmailHandler
from django.views.debug import ExceptionReporter, technical_500_response

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import EulerOAuthError, MalformedResponse
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

from .loopback import Answer, token_body

TOKEN = "/tiktok/oauth/token"
API = "/webcast/fetch"
CLIENT_SECRET = "CS-report-7f3e9a1b2c"
STORED_ACCESS = "AT-stored-4d5e6f7a8b"
STORED_REFRESH = "RT-stored-9c0d1e2f3a"
NEW_ACCESS = "AT-issued-5a6b7c8d9e"
NEW_REFRESH = "RT-issued-0f1e2d3c4b"
CODE = "CODE-report-3b4c5d6e7f"
SECRETS = (CLIENT_SECRET, STORED_ACCESS, STORED_REFRESH, NEW_ACCESS, NEW_REFRESH, CODE)


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
def admin_mails(settings: Any, mailoutbox: list[Any]) -> Iterator[Outbox]:
    """Django's AdminEmailHandler with HTML on django.request, as LOGGING would set it."""
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.DEBUG = False
    handler = AdminEmailHandler(include_html=True)
    handler.setLevel(logging.ERROR)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield Outbox()
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def web(user: Any) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def oauth_client(provider: Any, make_client: Any) -> Any:
    return make_client(base=provider.url, client_secret=CLIENT_SECRET, use_pkce=True)


@pytest.fixture
def conn(oauth_client: Any, make_connection: Any, user: Any) -> Connection:
    """A connection whose access token is still valid."""
    connection: Connection = make_connection(user, oauth_client, access_token=STORED_ACCESS,
                                             refresh_token=STORED_REFRESH)
    return connection


@pytest.fixture
def expired(oauth_client: Any, make_connection: Any, user: Any) -> Connection:
    """A connection whose access token has expired: a failed refresh raises."""
    connection: Connection = make_connection(user, oauth_client, access_token=STORED_ACCESS,
                                             refresh_token=STORED_REFRESH, expires_in=-5)
    return connection


class Outbox:
    """``django.core.mail.outbox`` as it is when read (the test machinery may rebind it)."""

    def __iter__(self) -> Iterator[Any]:
        return iter(mail.outbox)

    def __len__(self) -> int:
        return len(mail.outbox)


def reports_of(mails: Any) -> list[tuple[str, str]]:
    """(where, text) of every part of every mail."""
    parts = []
    for message in mails:
        parts.append((f"mail subject {message.subject!r}", message.subject))
        parts.append((f"text mail {message.subject!r}", message.body))
        for content, _mime in getattr(message, "alternatives", []):
            parts.append((f"HTML mail {message.subject!r}", content))
    return parts


def assert_clean(where: str, text: str, *secrets: str) -> None:
    for secret in secrets or SECRETS:
        assert secret not in text, f"{secret!r} appears in the {where}"


def assert_reported(mails: Any, *secrets: str) -> None:
    assert mails, "no error report was mailed"
    assert any("Traceback" in text for _where, text in reports_of(mails))
    for where, text in reports_of(mails):
        assert_clean(where, text, *secrets)


# --- unhandled errors in views ----------------------------------------------------------

def test_a_malformed_refresh_answer_reports_no_secret(admin_mails, web, expired, provider):
    """The answer holds new tokens (refused: not Bearer); the frames held the client secret
    (``fields``), the refresh token and the answer's body."""
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH, token_type="mac")))
    response = web.get(f"/boom/refresh/{expired.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


def test_an_unreachable_provider_reports_no_secret(admin_mails, web, expired):
    """A transport error used to chain the requests exception: urllib3's frames hold the
    form body with the client secret and the refresh token."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    client = expired.client
    client.token_url = f"http://127.0.0.1:{port}{TOKEN}"
    client.save()
    response = web.get(f"/boom/refresh/{expired.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


def test_a_failing_api_call_reports_no_secret(admin_mails, web, conn, provider):
    provider.queue(API, *[Answer(500, {"error": "server_error"})])
    response = web.get(f"/boom/api/{conn.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


def test_a_stored_refresh_error_raised_again_reports_no_secret(admin_mails, web, conn,
                                                               provider):
    """token_expired, then the refresh fails: the refresh's error, kept and raised again,
    carried the client frames of the refresh."""
    provider.queue(API, Answer(401, {"error": "token_expired"}))
    provider.queue(TOKEN, Answer(400, {"error": "unsupported_grant_type"}))
    response = web.get(f"/boom/api/{conn.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)


def fail_inserts_into(table: str, statement: str = "INSERT") -> Iterator[None]:
    """Every ``statement`` (INSERT, or e.g. UPDATE OF a column) on ``table`` fails."""
    if db.vendor != "sqlite":
        pytest.skip("the trigger is written for SQLite")
    with db.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER fail_{table} BEFORE {statement} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure: disk I/O error'); END")
    yield
    with db.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS fail_{table}")


@pytest.fixture
def failing_connection_insert(oauth_client: Any) -> Iterator[None]:
    yield from fail_inserts_into("django_euler_oauth_connection")


@pytest.fixture
def failing_client_insert() -> Iterator[None]:
    yield from fail_inserts_into("django_euler_oauth_oauthclient")


def test_a_database_failure_in_the_callback_reports_no_secret(
        admin_mails, web, provider, failing_connection_insert):
    """After the exchange: the code (query string, GET), the verifier (session state), the
    new tokens (``values``, ``tokens``) and the client secret."""
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH)))
    response = web.get("/oauth/authorize/", {"next": "/done/"})
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    response = web.get("/oauth/callback/", {"code": CODE, "state": state})
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
        "token_transport": "bearer",
    })
    assert response.status_code == 500, response.content[:500]
    assert_reported(admin_mails, CLIENT_SECRET)


# --- the technical 500 page, signal arguments, pickled errors -----------------------------

def without_source(page: str) -> str:
    """The DEBUG page minus its source excerpts (this file's constants hold the secrets)."""
    return re.sub(r'<ol[^>]*class="(pre-context|context-line|post-context)".*?</ol>', "",
                  page, flags=re.S)


def test_the_debug_technical_500_page_shows_no_secret(web, expired, provider, settings):
    """DEBUG=True: Django ignores sensitive_variables on its own; the middleware hands the
    request a reporter filter that keeps the marks in force."""
    settings.DEBUG = True
    provider.queue(TOKEN, Answer(200, token_body(NEW_ACCESS, NEW_REFRESH, token_type="mac")))
    response = web.get(f"/boom/refresh/{expired.pk}/")
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
