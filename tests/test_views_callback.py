"""The callback view: state first, the provider's errors, the code exchange, storing tokens."""

from __future__ import annotations

import base64
import datetime
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.html import escape

from django_euler_oauth.models import Connection
from django_euler_oauth.signals import connected
from django_euler_oauth.state import SESSION_KEY

from .support.loopback import Answer, token_body
from .support.seed_messages import SEED_MESSAGES

AUTHORIZE = "/oauth/authorize/"
CALLBACK = "/oauth/callback/"
TOKEN = "/tiktok/oauth/token"
USERINFO = "/tiktok/oauth/userinfo"

STATE_MESSAGE = "This connection attempt has expired or was started in another browser."


@pytest.fixture
def signals():
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    connected.connect(receiver, dispatch_uid="test-callback-connected")
    yield received
    connected.disconnect(dispatch_uid="test-callback-connected")


def start(browser, **params):
    """Run the authorize view; the provider's authorize parameters."""
    response = browser.get(AUTHORIZE, params)
    assert response.status_code == 302, response.content[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def page(response):
    return response.content.decode()


def existing(user, oauth, make_connection, **fields):
    values = {"access_token": "old-access", "refresh_token": "old-refresh",
              "scope": "webcast:fetch"}
    values.update(fields)
    return make_connection(user, oauth, **values)


def snapshot(conn):
    row = Connection.objects.get(pk=conn.pk)
    return (row.access_token, row.refresh_token, row.scope, row.status, row.expires_at,
            row.refresh_expires_at)


def close_to(when, seconds, slack=60):
    return abs((when - (timezone.now() + datetime.timedelta(seconds=seconds)))
               .total_seconds()) < slack


# --- success ---------------------------------------------------------------

def test_success_creates_the_connection(browser, user, oauth, provider, signals,
                                        django_capture_on_commit_callbacks):
    params = start(browser, scope="webcast:fetch webcast:rankings", next="/dashboard/")
    provider.queue(TOKEN, Answer(200, token_body(
        "acc-new", "ref-new", scope="webcast:fetch webcast:rankings")))
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.get(CALLBACK, {"code": "auth-code", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    conn = Connection.objects.get(user=user, client=oauth)
    assert conn.access_token == "acc-new" and conn.refresh_token == "ref-new"
    assert conn.scope == "webcast:fetch webcast:rankings"
    assert conn.status == Connection.Status.ACTIVE
    assert close_to(conn.expires_at, 3600)
    assert close_to(conn.refresh_expires_at, 30 * 86400)
    assert len(signals) == 1
    assert signals[0]["created"] is True and signals[0]["connection"].pk == conn.pk
    assert signals[0]["request"] is not None
    assert any("connected" in m for m in messages_of(response))
    sent = provider.requests_to(TOKEN)[0].form
    assert sent["code"] == "auth-code"
    assert sent["redirect_uri"] == params["redirect_uri"]
    assert sent["client_id"] == oauth.client_id
    assert sent["client_secret"] == "secret-value-1"
    assert sent["grant_type"] == "authorization_code"
    assert SESSION_KEY not in browser.session or browser.session[SESSION_KEY] == []


def test_success_without_next_goes_to_success_url(browser, oauth, provider):
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body()))
    with override_settings(EULER_OAUTH_SUCCESS_URL="/welcome/"):
        response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response["Location"] == "/welcome/"


def test_enveloped_answer_with_refresh_lifetime(browser, user, oauth, provider):
    params = start(browser, scope="webcast:fetch user:info")
    provider.queue(TOKEN, Answer(200, token_body(
        "acc-env", "ref-env", scope="webcast:fetch user:info", envelope=True,
        refresh_expires_in=86400)))
    browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    conn = Connection.objects.get(user=user)
    assert conn.access_token == "acc-env" and conn.scope == "webcast:fetch user:info"
    assert close_to(conn.refresh_expires_at, 86400)


@pytest.mark.parametrize("status", [Connection.Status.REAUTHORIZATION_REQUIRED,
                                    Connection.Status.REVOKED, Connection.Status.ACTIVE])
def test_reconnect_replaces_tokens_and_reactivates(browser, user, oauth, provider,
                                                    make_connection, signals, status,
                                                    django_capture_on_commit_callbacks):
    conn = existing(user, oauth, make_connection, status=status, last_error="boom",
                    status_reason="invalid_grant")
    params = start(browser, scope="webcast:fetch webcast:chat")
    provider.queue(TOKEN, Answer(200, token_body("acc-2", "ref-2",
                                                 scope="webcast:fetch webcast:chat")))
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 302
    row = Connection.objects.get(pk=conn.pk)
    assert Connection.objects.count() == 1
    assert row.status == Connection.Status.ACTIVE
    assert (row.access_token, row.refresh_token) == ("acc-2", "ref-2")
    assert row.scope == "webcast:fetch webcast:chat"
    assert row.last_error == "" and row.status_reason == ""
    assert len(signals) == 1 and signals[0]["created"] is False


def test_pkce_verifier_is_sent_on_exchange(browser, provider, make_client):
    make_client(base=provider.url, use_pkce=True)
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body()))
    browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    verifier = provider.requests_to(TOKEN)[0].form["code_verifier"]
    digest = hashlib.sha256(verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == params["code_challenge"]


def test_no_verifier_without_pkce(browser, oauth, provider):
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body()))
    browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert "code_verifier" not in provider.requests_to(TOKEN)[0].form


USERINFO_SCOPE = "webcast:fetch user:info"


def test_userinfo_is_stored(browser, user, provider, make_client):
    make_client(base=provider.url, fetch_userinfo=True)
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body("acc-u", scope=USERINFO_SCOPE)))
    provider.queue(USERINFO, Answer(200, {"user": {"uid": "7001", "uniqueId": "tt_alice",
                                                   "nickName": "Alice"}}))
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    conn = Connection.objects.get(user=user)
    assert conn.external_username == "tt_alice" and conn.external_id == "7001"
    assert provider.requests_to(USERINFO)[0].headers["Authorization"] == "Bearer acc-u"
    assert any("@tt_alice" in m for m in messages_of(response))


def test_userinfo_with_control_characters_is_stored_clean(browser, user, provider,
                                                          make_client):
    """A NUL is refused by PostgreSQL (a 500 before); newlines have no place in a name."""
    make_client(base=provider.url, fetch_userinfo=True)
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body("acc-u", scope=USERINFO_SCOPE)))
    provider.queue(USERINFO, Answer(200, {"user": {"uid": "70\x0001", "uniqueId":
                                                   "tt\x00_al\nice" + "x" * 200}}))
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 302
    conn = Connection.objects.get(user=user)
    assert conn.external_id == "7001"
    assert conn.external_username.startswith("tt_alice") and len(conn.external_username) == 100


def test_userinfo_not_asked_without_its_scope(browser, user, provider, make_client):
    """The granted scope does not allow get_user_info: no request the provider would refuse."""
    make_client(base=provider.url, fetch_userinfo=True)
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body("acc-u", scope="webcast:fetch")))
    provider.queue(USERINFO, Answer(200, {"user": {"uid": "7001", "uniqueId": "tt_alice"}}))
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 302
    assert provider.requests_to(USERINFO) == []
    conn = Connection.objects.get(user=user)
    assert conn.access_token == "acc-u" and conn.external_username == ""


@pytest.mark.parametrize("answer", [Answer(500, "oops"), Answer(reset=True),
                                    Answer(200, {"nobody": True}),
                                    Answer(401, {"error": "invalid_token"})])
def test_failing_userinfo_does_not_block_connecting(browser, user, provider, make_client,
                                                    answer):
    make_client(base=provider.url, fetch_userinfo=True)
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body("acc-u", scope=USERINFO_SCOPE)))
    provider.queue(USERINFO, answer)
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 302
    conn = Connection.objects.get(user=user)
    assert conn.access_token == "acc-u" and conn.external_username == ""


def test_no_userinfo_unless_asked(browser, oauth, provider):
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body()))
    browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert provider.requests_to(USERINFO) == []


# --- next ----------------------------------------------------------------

@pytest.mark.parametrize("bad_next", [
    "https://evil.example/", "http://testserver/elsewhere/", "//evil.example/",
    "/\\evil.example/", "\\\\evil.example", "javascript:alert(1)", "evil.example",
    "/" + "a" * 3000, " //evil.example", "ftp://evil.example/",
])
def test_unsafe_next_is_ignored(browser, oauth, provider, bad_next):
    params = start(browser, next=bad_next)
    provider.queue(TOKEN, Answer(200, token_body()))
    with override_settings(EULER_OAUTH_SUCCESS_URL="/home/"):
        response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/home/"


def test_local_next_with_query_is_kept(browser, oauth, provider):
    params = start(browser, next="/settings/tiktok/?tab=2")
    provider.queue(TOKEN, Answer(200, token_body()))
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response["Location"] == "/settings/tiktok/?tab=2"


# --- state -------------------------------------------------------------------

def assert_state_refused(response, provider, user):
    assert response.status_code == 400
    assert STATE_MESSAGE in page(response)
    assert provider.requests_to(TOKEN) == []
    # Nothing stored: at most the pre-existing connection, with its old token.
    assert all(c.access_token == "old-access" for c in Connection.objects.filter(user=user))


def test_replayed_state(browser, user, oauth, provider, make_connection):
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body("acc-1")))
    browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    conn = Connection.objects.get(user=user)
    before = snapshot(conn)
    provider.queue(TOKEN, Answer(200, token_body("acc-evil")))
    response = browser.get(CALLBACK, {"code": "c2", "state": params["state"]})
    assert response.status_code == 400 and STATE_MESSAGE in page(response)
    assert len(provider.requests_to(TOKEN)) == 1
    assert snapshot(conn) == before


def test_expired_state(browser, user, oauth, provider, make_connection):
    conn = existing(user, oauth, make_connection)
    before = snapshot(conn)
    params = start(browser)
    session = browser.session
    entries = session[SESSION_KEY]
    entries[-1]["created"] -= 601
    session[SESSION_KEY] = entries
    session.save()
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert_state_refused(response, provider, user)
    assert snapshot(conn) == before


def test_state_lifetime_setting(browser, user, oauth, provider):
    params = start(browser)
    with override_settings(EULER_OAUTH_STATE_LIFETIME=0):
        response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert_state_refused(response, provider, user)


def test_state_from_another_session(browser, user, oauth, provider, make_connection):
    conn = existing(user, oauth, make_connection)
    before = snapshot(conn)
    params = start(browser)
    other = Client()
    other.force_login(user)  # same user, another browser
    response = other.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert_state_refused(response, provider, user)
    assert snapshot(conn) == before


def test_state_of_another_user(browser, user, oauth, provider, django_user_model):
    params = start(browser)
    mallory = django_user_model.objects.create_user("mallory", "m@example.com", "pw")
    session = browser.session
    entries = session[SESSION_KEY]
    entries[-1]["user_pk"] = str(mallory.pk)  # made for someone else in this browser
    session[SESSION_KEY] = entries
    session.save()
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert_state_refused(response, provider, user)
    assert not Connection.objects.exists()


def test_state_after_logging_in_as_someone_else(browser, user, oauth, provider,
                                                django_user_model):
    params = start(browser)
    mallory = django_user_model.objects.create_user("mallory", "m@example.com", "pw")
    browser.force_login(mallory)
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 400
    assert provider.requests_to(TOKEN) == []
    assert not Connection.objects.exists()


@pytest.mark.parametrize("state", [None, "", "x" * 600, "tampered"])
def test_missing_oversized_or_tampered_state(browser, user, oauth, provider, make_connection,
                                             state):
    conn = existing(user, oauth, make_connection, status=Connection.Status.REVOKED)
    before = snapshot(conn)
    params = start(browser)
    query = {"code": "c"}
    if state == "tampered":
        query["state"] = params["state"][:-2] + ("zz" if params["state"][-2:] != "zz" else "yy")
    elif state is not None:
        query["state"] = state
    response = browser.get(CALLBACK, query)
    assert_state_refused(response, provider, user)
    assert snapshot(conn) == before


def test_state_is_checked_before_the_error(browser, user, oauth, provider):
    start(browser)
    response = browser.get(CALLBACK, {"error": "access_denied", "state": "forged"})
    assert response.status_code == 400 and STATE_MESSAGE in page(response)


def test_state_error_is_not_redirected_to_failure_url(browser, user, oauth, provider):
    with override_settings(EULER_OAUTH_FAILURE_URL="/failed/"):
        response = browser.get(CALLBACK, {"code": "c", "state": "forged"})
    assert response.status_code == 400


def test_lost_session_mentions_samesite(browser, user, oauth, provider):
    params = start(browser)
    cookieless = Client()  # the browser dropped the session cookie on the way back
    response = cookieless.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 400
    assert "SameSite" in page(response)
    assert provider.requests_to(TOKEN) == []


def test_foreign_state_with_a_session_does_not_blame_samesite(browser, user, oauth, provider):
    start(browser)
    response = browser.get(CALLBACK, {"code": "c", "state": "forged"})
    assert response.status_code == 400 and "SameSite" not in page(response)


# --- errors from the authorization step ----------------------------------------

def test_access_denied_is_not_an_error_page(browser, user, oauth, provider):
    params = start(browser, next="/connect/")
    response = browser.get(CALLBACK, {"error": "access_denied",
                                      "error_description": "User cancelled authorization",
                                      "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/connect/"
    assert messages_of(response) == [SEED_MESSAGES["access_denied"]]
    assert not Connection.objects.exists()
    assert provider.requests_to(TOKEN) == []


def test_access_denied_without_next(browser, oauth):
    params = start(browser)
    with override_settings(EULER_OAUTH_SUCCESS_URL="/home/"):
        response = browser.get(CALLBACK, {"error": "access_denied", "state": params["state"]})
    assert response["Location"] == "/home/"


def test_access_denied_goes_to_failure_url(browser, oauth):
    params = start(browser, next="/connect/")
    with override_settings(EULER_OAUTH_FAILURE_URL="/failed/"):
        response = browser.get(CALLBACK, {"error": "access_denied", "state": params["state"]})
    assert response["Location"] == "/failed/"
    assert messages_of(response) == [SEED_MESSAGES["access_denied"]]


def test_access_denied_keeps_the_existing_connection(browser, user, oauth, make_connection):
    conn = existing(user, oauth, make_connection)
    before = snapshot(conn)
    params = start(browser)
    browser.get(CALLBACK, {"error": "access_denied", "state": params["state"]})
    assert snapshot(conn) == before


AUTH_ERRORS = {
    "invalid_request": (SEED_MESSAGES["invalid_request"], 400),
    "invalid_client": (SEED_MESSAGES["invalid_client"], 400),
    "invalid_scope": (SEED_MESSAGES["invalid_scope"], 400),
    "invalid_redirect_uri": (SEED_MESSAGES["invalid_redirect_uri"], 400),
    "unsupported_response_type": (SEED_MESSAGES["unsupported_response_type"], 400),
    "server_error": (SEED_MESSAGES["server_error"], 502),
    "unauthorized_client": (
        "This application is not allowed to connect accounts. Please contact support.", 400),
    "temporarily_unavailable": (
        "The service is temporarily unavailable. Please try again in a moment.", 502),
}


@pytest.mark.parametrize("code", sorted(AUTH_ERRORS))
def test_authorization_errors(browser, user, oauth, provider, make_connection, code):
    conn = existing(user, oauth, make_connection)
    before = snapshot(conn)
    message, status = AUTH_ERRORS[code]
    params = start(browser)
    description = f"Problem <script>alert('{code}')</script> & more"
    response = browser.get(CALLBACK, {"error": code, "error_description": description,
                                      "state": params["state"]})
    assert response.status_code == status
    body = page(response)
    assert escape(message) in body
    assert escape(description) in body
    assert "<script>" not in body
    assert code in body
    assert provider.requests_to(TOKEN) == []
    assert snapshot(conn) == before


def test_unknown_authorization_error(browser, oauth, provider):
    params = start(browser)
    response = browser.get(CALLBACK, {"error": "weird_new_thing", "state": params["state"]})
    assert response.status_code == 502
    assert escape(SEED_MESSAGES["server_error"]) in page(response)
    assert "weird_new_thing" in page(response)


def test_authorization_error_goes_to_failure_url(browser, oauth):
    params = start(browser)
    with override_settings(EULER_OAUTH_FAILURE_URL="/failed/"):
        response = browser.get(CALLBACK, {"error": "invalid_scope", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/failed/"
    assert messages_of(response) == [SEED_MESSAGES["invalid_scope"]]


def test_error_state_is_single_use(browser, oauth, provider):
    params = start(browser)
    browser.get(CALLBACK, {"error": "server_error", "state": params["state"]})
    provider.queue(TOKEN, Answer(200, token_body()))
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 400 and provider.requests_to(TOKEN) == []


@pytest.mark.parametrize("code", [None, "", "c" * 3000])
def test_missing_or_oversized_code(browser, user, oauth, provider, code):
    params = start(browser)
    query = {"state": params["state"]}
    if code is not None:
        query["code"] = code
    response = browser.get(CALLBACK, query)
    assert response.status_code == 400
    assert escape(SEED_MESSAGES["invalid_request"]) in page(response)
    assert provider.requests_to(TOKEN) == []
    assert not Connection.objects.exists()


# --- errors from the code exchange ------------------------------------------------

EXCHANGE_ERRORS = {
    "invalid_grant": (Answer(400, {"error": "invalid_grant", "error_description":
                                   "Authorization code expired or invalid"}),
                      SEED_MESSAGES["invalid_grant"], 400),
    "invalid_client": (Answer(401, {"error": "invalid_client", "error_description":
                                    "Invalid client credentials"}),
                       SEED_MESSAGES["invalid_client"], 400),
    "invalid_request": (Answer(400, {"error": "invalid_request", "error_description":
                                     "Missing required parameter: grant_type"}),
                        SEED_MESSAGES["invalid_request"], 400),
    "expired_token": (Answer(400, {"error": "expired_token"}), SEED_MESSAGES["expired_token"], 400),
    "revoked_token": (Answer(400, {"error": "revoked_token"}), SEED_MESSAGES["revoked_token"], 400),
    "unsupported_grant_type": (Answer(400, {"error": "unsupported_grant_type"}),
                               "Application configuration error. Please contact support.", 400),
    "envelope": (Answer(400, {"code": 400, "message": "Bad", "error": {
        "error": "invalid_grant", "error_description": "Code used"}}),
        SEED_MESSAGES["invalid_grant"], 400),
    "500": (Answer(500, "<h1>Internal Server Error</h1>"), SEED_MESSAGES["server_error"], 502),
    "503": (Answer(503, "Service Unavailable", headers={"Retry-After": "30"}),
            "The service is temporarily unavailable. Please try again in a moment.", 502),
    "429": (Answer(429, {"code": 429, "message": "Too many requests"}),
            "Too many requests right now. Please try again in a moment.", 502),
    "html": (Answer(200, "<html><body>Login</body></html>"),
             "Euler Stream sent an answer we could not understand. Please try again later.", 502),
    "no access token": (Answer(200, {"token_type": "Bearer", "expires_in": 3600}),
                        "Euler Stream sent an answer we could not understand. "
                        "Please try again later.", 502),
    "reset": (Answer(reset=True),
              "We could not reach Euler Stream. Please try again in a moment.", 502),
}


@pytest.mark.parametrize("case", sorted(EXCHANGE_ERRORS))
@pytest.mark.parametrize("status", [None, Connection.Status.ACTIVE,
                                    Connection.Status.REAUTHORIZATION_REQUIRED])
def test_exchange_errors(browser, user, oauth, provider, make_connection, signals,
                         django_capture_on_commit_callbacks, case, status):
    conn = existing(user, oauth, make_connection, status=status) if status else None
    before = snapshot(conn) if conn else None
    answer, message, http_status = EXCHANGE_ERRORS[case]
    params = start(browser)
    provider.queue(TOKEN, answer)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.get(CALLBACK, {"code": "the-code", "state": params["state"]})
    assert response.status_code == http_status
    body = page(response)
    assert escape(message) in body
    assert "secret-value-1" not in body and "the-code" not in body
    assert signals == []
    if conn:
        assert snapshot(conn) == before
        assert Connection.objects.count() == 1
    else:
        assert not Connection.objects.exists()


def test_exchange_timeout(browser, user, oauth, provider, make_connection):
    conn = existing(user, oauth, make_connection)
    before = snapshot(conn)
    params = start(browser)
    provider.queue(TOKEN, Answer(200, token_body("late"), delay=1.5))
    with override_settings(EULER_OAUTH_HTTP_TIMEOUT=0.3):
        response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 502
    assert "We could not reach Euler Stream." in page(response)
    assert snapshot(conn) == before


def test_exchange_error_goes_to_failure_url(browser, user, oauth, provider):
    params = start(browser)
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant"}))
    with override_settings(EULER_OAUTH_FAILURE_URL="/failed/"):
        response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/failed/"
    assert messages_of(response) == [SEED_MESSAGES["invalid_grant"]]
    assert not Connection.objects.exists()


def test_client_deactivated_during_the_flow(browser, user, oauth, provider):
    params = start(browser)
    oauth.is_active = False
    oauth.save()
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 404
    assert provider.requests_to(TOKEN) == []
    assert not Connection.objects.exists()


# --- several tabs -------------------------------------------------------------------

def test_several_tabs_authorize_at_once(browser, user, oauth, provider, make_client):
    second = make_client(base=provider.url)
    first_params = start(browser, client=oauth.slug, next="/one/")
    second_params = start(browser, client=second.slug, next="/two/")
    provider.queue(TOKEN, Answer(200, token_body("acc-two")), Answer(200, token_body("acc-one")))
    r2 = browser.get(CALLBACK, {"code": "c2", "state": second_params["state"]})
    r1 = browser.get(CALLBACK, {"code": "c1", "state": first_params["state"]})
    assert r2["Location"] == "/two/" and r1["Location"] == "/one/"
    assert Connection.objects.get(user=user, client=second).access_token == "acc-two"
    assert Connection.objects.get(user=user, client=oauth).access_token == "acc-one"
    sent = provider.requests_to(TOKEN)
    assert [r.form["client_id"] for r in sent] == [second.client_id, oauth.client_id]


def test_max_pending_states_evicts_the_oldest(browser, user, oauth, provider):
    with override_settings(EULER_OAUTH_MAX_PENDING_STATES=2):
        states = [start(browser)["state"] for _ in range(3)]
        response = browser.get(CALLBACK, {"code": "c", "state": states[0]})
        assert response.status_code == 400
        provider.queue(TOKEN, Answer(200, token_body("a2")), Answer(200, token_body("a3")))
        assert browser.get(CALLBACK, {"code": "c", "state": states[1]}).status_code == 302
        assert browser.get(CALLBACK, {"code": "c", "state": states[2]}).status_code == 302
    assert len(provider.requests_to(TOKEN)) == 2


def test_post_is_refused(browser, oauth):
    assert browser.post(CALLBACK, {"code": "c", "state": "s"}).status_code == 405


def test_state_is_single_use_after_a_failed_exchange(browser, user, oauth, provider):
    params = start(browser)
    provider.queue(TOKEN, Answer(503, "down"), Answer(200, token_body()))
    assert browser.get(CALLBACK, {"code": "c", "state": params["state"]}).status_code == 502
    response = browser.get(CALLBACK, {"code": "c", "state": params["state"]})
    assert response.status_code == 400
    assert len(provider.requests_to(TOKEN)) == 1
    assert not Connection.objects.exists()
