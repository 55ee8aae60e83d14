"""ProviderClient against a real HTTP server on loopback (the ScriptedProvider)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import socket
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from django_euler_oauth import __version__, errors
from django_euler_oauth.client import ProviderClient
from django_euler_oauth.state import make_pkce_pair

from .support.loopback import Answer, token_body

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
USERINFO = "/tiktok/oauth/userinfo"
SECRET = "super-secret-client-value"


@pytest.fixture
def oauth(provider, make_client):
    return make_client(base=provider.url, client_secret=SECRET)


@pytest.fixture
def pc(oauth):
    return ProviderClient(oauth)


def exchange(pc, **kwargs):
    values = {"code": "the-code", "redirect_uri": "https://site.example/cb/"}
    values.update(kwargs)
    return pc.exchange_code(**values)


def close_to(when, seconds, slack=30):
    expected = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return abs((when - expected).total_seconds()) < slack


# --- authorization URL --------------------------------------------------------

def query_of(url):
    parts = urlsplit(url)
    return parts, {k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}


def test_authorization_url_has_exactly_the_documented_parameters(pc, oauth, provider):
    url = pc.authorization_url(redirect_uri="https://site.example/cb/",
                               scope="webcast:fetch webcast:live_check", state="st4te")
    parts, query = query_of(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == \
        f"{provider.url}/tiktok/oauth/authorize"
    assert query == {
        "client_id": [oauth.client_id],
        "redirect_uri": ["https://site.example/cb/"],
        "response_type": ["code"],
        "scope": ["webcast:fetch webcast:live_check"],
        "state": ["st4te"],
    }
    assert "%20" in parts.query and "+" not in parts.query  # scope space-separated
    assert SECRET not in url


def test_authorization_url_with_pkce(pc):
    verifier, challenge = make_pkce_pair()
    url = pc.authorization_url(redirect_uri="https://site.example/cb/", scope="webcast:fetch",
                               state="s", code_challenge=challenge)
    _parts, query = query_of(url)
    assert set(query) == {"client_id", "redirect_uri", "response_type", "scope", "state",
                          "code_challenge", "code_challenge_method"}
    assert query["code_challenge_method"] == ["S256"]
    expected = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [expected]


def test_pkce_pair_follows_rfc7636():
    pairs = {make_pkce_pair() for _ in range(20)}
    assert len(pairs) == 20
    for verifier, challenge in pairs:
        assert 43 <= len(verifier) <= 128
        assert set(verifier) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-._~")
        assert "=" not in challenge and len(challenge) == 43


def test_authorization_url_keeps_a_query_already_in_the_authorize_url(make_client):
    oauth = make_client(authorize_url="https://auth.example/authorize?tenant=x")
    url = ProviderClient(oauth).authorization_url(redirect_uri="https://s/cb/",
                                                  scope="webcast:fetch", state="s")
    _parts, query = query_of(url)
    assert query["tenant"] == ["x"] and query["state"] == ["s"]


# --- token requests -------------------------------------------------------------

def test_code_exchange_is_form_encoded_by_default(pc, oauth, provider):
    provider.queue(TOKEN, Answer(200, token_body("acc", "ref", scope="webcast:fetch")))
    tokens = exchange(pc)
    sent = provider.requests_to(TOKEN)
    assert len(sent) == 1
    request = sent[0]
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.form == {"grant_type": "authorization_code", "code": "the-code",
                            "redirect_uri": "https://site.example/cb/",
                            "client_id": oauth.client_id, "client_secret": SECRET}
    assert tokens.access_token == "acc" and tokens.refresh_token == "ref"
    assert tokens.token_type == "Bearer" and tokens.scope == "webcast:fetch"
    assert close_to(tokens.expires_at, 3600)
    assert close_to(tokens.refresh_expires_at, 30 * 86400)


def test_code_exchange_as_json_when_configured(provider, make_client):
    oauth = make_client(base=provider.url, client_secret=SECRET, request_format="json")
    provider.queue(TOKEN, Answer(200, token_body(envelope=True)))
    exchange(ProviderClient(oauth), code_verifier="v" * 50)
    request = provider.requests_to(TOKEN)[0]
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "grant_type": "authorization_code", "code": "the-code",
        "redirect_uri": "https://site.example/cb/", "client_id": oauth.client_id,
        "client_secret": SECRET, "code_verifier": "v" * 50,
    }


def test_pkce_verifier_is_sent_on_exchange(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body()))
    exchange(pc, code_verifier="verifier-" * 6)
    assert provider.requests_to(TOKEN)[0].form["code_verifier"] == "verifier-" * 6


def test_refresh_request(pc, oauth, provider):
    provider.queue(TOKEN, Answer(200, token_body("acc-2", "ref-2")))
    tokens = pc.refresh("ref-1", scope="webcast:fetch")
    assert provider.requests_to(TOKEN)[0].form == {
        "grant_type": "refresh_token", "refresh_token": "ref-1",
        "client_id": oauth.client_id, "client_secret": SECRET}
    assert tokens.refresh_token == "ref-2"


def test_enveloped_answer_with_scopes_list_and_refresh_lifetime(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body(
        "acc-e", "ref-e", scope="webcast:fetch user:info", envelope=True,
        refresh_expires_in=7 * 86400, expires_in=1800)))
    tokens = exchange(pc)
    assert tokens.access_token == "acc-e" and tokens.refresh_token == "ref-e"
    assert tokens.scope == "webcast:fetch user:info"
    assert tokens.expires_in == 1800 and close_to(tokens.expires_at, 1800)
    assert tokens.refresh_expires_in == 7 * 86400
    assert close_to(tokens.refresh_expires_at, 7 * 86400)


def test_flat_answer_with_scopes_list(pc, provider):
    body = token_body()
    del body["scope"]
    body["scopes"] = ["webcast:fetch", "webcast:chat"]
    provider.queue(TOKEN, Answer(200, body))
    assert exchange(pc).scope == "webcast:fetch webcast:chat"


def test_missing_scope_means_as_requested(pc, provider):
    body = token_body()
    del body["scope"]
    provider.queue(TOKEN, Answer(200, body))
    assert exchange(pc, requested_scope="webcast:fetch webcast:rankings").scope == \
        "webcast:fetch webcast:rankings"


def test_refresh_lifetime_default_follows_the_setting(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body()))
    with override_settings(EULER_OAUTH_REFRESH_TOKEN_LIFETIME=86400):
        tokens = exchange(pc)
        assert tokens.refresh_expires_in is None
        assert close_to(tokens.refresh_expires_at, 86400)


def test_lowercase_bearer_is_accepted(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body(token_type="bearer")))
    assert exchange(pc).token_type == "Bearer"


def test_token_repr_hides_tokens(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body("acc-hidden", "ref-hidden")))
    shown = repr(exchange(pc))
    assert "acc-hidden" not in shown and "ref-hidden" not in shown


# --- malformed answers ----------------------------------------------------------

def _without(key):
    body = token_body()
    del body[key]
    return body


MALFORMED = {
    "not json": Answer(200, "this is not json"),
    "html": Answer(200, "<html><body>Welcome!</body></html>"),
    "binary": Answer(200, b"\x00\x01\x02"),
    "json list": Answer(200, [1, 2, 3]),
    "json string": Answer(200, '"just a string"', headers={"Content-Type": "application/json"}),
    "empty body": Answer(200, ""),
    "no access_token": Answer(200, _without("access_token")),
    "empty access_token": Answer(200, token_body(access="")),
    "access_token not a string": Answer(200, token_body(access=12345)),
    "envelope without token": Answer(200, {"code": 200, "message": "OK", "data": {}}),
    "wrong token_type": Answer(200, token_body(token_type="mac")),
    "token_type not a string": Answer(200, token_body(token_type=None)),
    "absurd expires_in": Answer(200, token_body(expires_in=10**12)),
    "negative expires_in": Answer(200, token_body(expires_in=-5)),
    "zero expires_in": Answer(200, token_body(expires_in=0)),
    "non-numeric expires_in": Answer(200, token_body(expires_in="soon")),
    "boolean expires_in": Answer(200, token_body(expires_in=True)),
    "negative refresh_expires_in": Answer(200, token_body(refresh_expires_in=-1)),
    "refresh_token not a string": Answer(200, token_body(refresh=["x"])),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_answer(pc, provider, case):
    provider.queue(TOKEN, MALFORMED[case])
    with pytest.raises(errors.MalformedResponse) as excinfo:
        exchange(pc)
    err = excinfo.value
    assert err.is_retryable
    assert err.friendly_message == str(errors.MalformedResponse.message)
    assert SECRET not in str(err) and "the-code" not in str(err)


# --- error answers --------------------------------------------------------------

ERROR_CASES = {
    "flat invalid_grant": (
        Answer(400, {"error": "invalid_grant",
                     "error_description": "Authorization code expired or invalid"}),
        errors.InvalidGrant, 400),
    "flat invalid_client 401": (
        Answer(401, {"error": "invalid_client", "error_description": "Invalid client credentials"}),
        errors.InvalidClient, 401),
    "flat invalid_request": (
        Answer(400, {"error": "invalid_request",
                     "error_description": "Missing required parameter: grant_type"}),
        errors.InvalidRequest, 400),
    "flat expired_token": (
        Answer(400, {"error": "expired_token", "error_description": "Refresh token has expired"}),
        errors.ExpiredToken, 400),
    "flat revoked_token": (
        Answer(400, {"error": "revoked_token", "error_description": "Token has been revoked"}),
        errors.RevokedToken, 400),
    "flat unsupported_grant_type": (
        Answer(400, {"error": "unsupported_grant_type"}), errors.UnsupportedGrantType, 400),
    "flat unauthorized_client": (
        Answer(400, {"error": "unauthorized_client"}), errors.UnauthorizedClient, 400),
    "error with 200 status": (
        Answer(200, {"error": "invalid_grant", "error_description": "used"}),
        errors.InvalidGrant, 400),
    "envelope error object": (
        Answer(400, {"code": 400, "message": "Bad Request", "data": None,
                     "error": {"error": "invalid_grant", "error_description": "Code used"}}),
        errors.InvalidGrant, 400),
    "envelope error object 401": (
        Answer(401, {"code": 401, "message": "Unauthorized",
                     "error": {"error": "invalid_client", "error_description": "bad creds"}}),
        errors.InvalidClient, 401),
    "envelope code 400 only": (
        Answer(400, {"code": 400, "message": "Missing field code"}), errors.InvalidRequest, 400),
    "envelope code 401 with HTTP 200": (
        Answer(200, {"code": 401, "message": "Invalid client credentials"}),
        errors.InvalidClient, 401),
    "envelope code 503 with HTTP 200": (
        Answer(200, {"code": 503, "message": "Maintenance"}),
        errors.TemporarilyUnavailable, 503),
    "envelope code 500 with HTTP 200": (
        Answer(200, {"code": 500, "message": "Oops", "data": None}), errors.ServerError, 500),
    "bare 400": (Answer(400, ""), errors.InvalidRequest, 400),
    "bare 401": (Answer(401, ""), errors.InvalidClient, 401),
    "bare 500 html": (Answer(500, "<h1>Internal Server Error</h1>"), errors.ServerError, 500),
    "bare 502": (Answer(502, "Bad gateway"), errors.ServerError, 502),
    "bare 503": (Answer(503, "Service Unavailable"), errors.TemporarilyUnavailable, 503),
    "flat server_error": (Answer(500, {"error": "server_error"}), errors.ServerError, 500),
    "flat temporarily_unavailable": (
        Answer(503, {"error": "temporarily_unavailable"}), errors.TemporarilyUnavailable, 503),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_error_answers(pc, provider, case):
    answer, cls, status = ERROR_CASES[case]
    provider.queue(TOKEN, answer)
    with pytest.raises(errors.EulerOAuthError) as excinfo:
        exchange(pc)
    err = excinfo.value
    assert type(err) is cls
    assert err.status == status
    assert err.stage == errors.Stage.TOKEN
    assert err.response is not None and err.response.status_code == answer.status
    if isinstance(answer.body, dict):
        detail = answer.body.get("error_description") or (
            answer.body.get("error") or {}).get("error_description") \
            if isinstance(answer.body.get("error"), dict) else answer.body.get(
                "error_description") or answer.body.get("message")
        if detail:
            assert err.description == detail


def test_rate_limited_with_retry_after(pc, provider):
    provider.queue(TOKEN, Answer(429, {"code": 429, "message": "Too many requests"},
                                 headers={"Retry-After": "17"}))
    with pytest.raises(errors.RateLimited) as excinfo:
        exchange(pc)
    assert excinfo.value.retry_after == 17.0 and excinfo.value.status == 429


def test_rate_limited_with_reset_header(pc, provider):
    provider.queue(TOKEN, Answer(429, "", headers={"RateLimit-Reset": "5"}))
    with pytest.raises(errors.RateLimited) as excinfo:
        exchange(pc)
    assert excinfo.value.retry_after == 5.0


def test_503_with_retry_after(pc, provider):
    provider.queue(TOKEN, Answer(503, "down", headers={"Retry-After": "30"}))
    with pytest.raises(errors.TemporarilyUnavailable) as excinfo:
        exchange(pc)
    assert excinfo.value.retry_after == 30.0


def test_redirects_are_not_followed(pc, provider):
    provider.queue(TOKEN, Answer(302, "", headers={"Location": provider.url + "/elsewhere"}))
    with pytest.raises(errors.EulerOAuthError):
        exchange(pc)
    assert provider.requests_to("/elsewhere") == []


# --- transport failures ---------------------------------------------------------

def test_timeout(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body(), delay=2.0))
    started = time.monotonic()
    with override_settings(EULER_OAUTH_HTTP_TIMEOUT=0.3):
        with pytest.raises(errors.TransportError) as excinfo:
            exchange(pc)
    assert time.monotonic() - started < 1.8
    assert "timed out" in str(excinfo.value)
    assert excinfo.value.is_retryable
    assert SECRET not in str(excinfo.value)


def test_connection_refused(make_client):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    oauth = make_client(base=f"http://127.0.0.1:{port}", client_secret=SECRET)
    with pytest.raises(errors.TransportError) as excinfo:
        exchange(ProviderClient(oauth))
    assert "ConnectionError" in str(excinfo.value)
    assert SECRET not in str(excinfo.value)


def test_connection_reset(pc, provider):
    provider.queue(TOKEN, Answer(reset=True))
    with pytest.raises(errors.TransportError):
        exchange(pc)


def test_truncated_answer(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body(), truncate=True))
    with pytest.raises((errors.TransportError, errors.MalformedResponse)):
        exchange(pc)


def test_transport_error_hides_query_string(oauth, pc, provider):
    provider.queue("/webcast/fetch", Answer(reset=True))
    with pytest.raises(errors.TransportError) as excinfo:
        pc.api_call("GET", "/webcast/fetch?apiKey=hidden-key", "tok-abc")
    assert "hidden-key" not in str(excinfo.value) and "tok-abc" not in str(excinfo.value)


# --- headers and secrecy -------------------------------------------------------

def test_user_agent_is_versioned(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body()))
    exchange(pc)
    agent = provider.requests_to(TOKEN)[0].headers["User-Agent"]
    assert agent.startswith(f"django-euler-oauth/{__version__} ")
    assert __version__ and __version__[0].isdigit()


def test_provider_cookies_are_not_kept(pc, provider):
    provider.queue(TOKEN, Answer(200, token_body(), headers={"Set-Cookie": "sid=abc; Path=/"}))
    provider.queue(TOKEN, Answer(200, token_body()))
    exchange(pc)
    exchange(pc)
    assert "Cookie" not in provider.requests_to(TOKEN)[1].headers


def test_secrets_echoed_by_the_provider_are_redacted(pc, provider):
    provider.queue(TOKEN, Answer(401, {
        "error": "invalid_client",
        "error_description": f"Invalid client credentials: {SECRET} for code the-code"}))
    with pytest.raises(errors.InvalidClient) as excinfo:
        exchange(pc)
    text = str(excinfo.value) + excinfo.value.description + repr(excinfo.value)
    assert SECRET not in text and "the-code" not in text
    assert "[redacted]" in text


def test_refresh_token_echoed_is_redacted(pc, provider):
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant",
                                       "error_description": "refresh-token-XYZ is used"}))
    with pytest.raises(errors.InvalidGrant) as excinfo:
        pc.refresh("refresh-token-XYZ")
    assert "refresh-token-XYZ" not in str(excinfo.value)


# --- revoke ------------------------------------------------------------------

@pytest.mark.parametrize("answer", [
    Answer(200, {}),
    Answer(200, ""),
    Answer(200, {"code": 200, "message": "OK", "data": {"revoked": True}}),
    Answer(204, ""),
])
def test_revoke_success(pc, oauth, provider, answer):
    provider.queue(REVOKE, answer)
    assert pc.revoke("tok-to-revoke", "refresh_token") is None
    sent = provider.requests_to(REVOKE)[0]
    assert sent.method == "POST"
    assert sent.form == {"token": "tok-to-revoke", "token_type_hint": "refresh_token",
                         "client_id": oauth.client_id, "client_secret": SECRET}


def test_revoke_without_hint(pc, provider):
    provider.queue(REVOKE, Answer(200, {}))
    pc.revoke("tok")
    assert "token_type_hint" not in provider.requests_to(REVOKE)[0].form


@pytest.mark.parametrize(("answer", "cls"), [
    (Answer(401, {"error": "invalid_client"}), errors.InvalidClient),
    (Answer(503, "down"), errors.TemporarilyUnavailable),
    (Answer(reset=True), errors.TransportError),
])
def test_revoke_failure(pc, provider, answer, cls):
    provider.queue(REVOKE, answer)
    with pytest.raises(cls) as excinfo:
        pc.revoke("tok-to-revoke", "access_token")
    assert "tok-to-revoke" not in str(excinfo.value)


# --- API calls -------------------------------------------------------------

def test_api_call_with_bearer(pc, provider):
    provider.queue("/webcast/fetch", Answer(200, {"ok": True}))
    assert pc.api_call("POST", "/webcast/fetch", "tok-1", json={"uniqueId": "x"}) == {"ok": True}
    sent = provider.requests_to("/webcast/fetch")[0]
    assert sent.headers["Authorization"] == "Bearer tok-1"
    assert "x-oauth-token" not in {k.lower() for k in sent.headers}
    assert json.loads(sent.body) == {"uniqueId": "x"}


def test_api_call_with_x_oauth_token_and_api_key(provider, make_client):
    oauth = make_client(base=provider.url, token_transport="x-oauth-token")
    provider.queue("/webcast/fetch", Answer(200, {"ok": True}))
    with override_settings(EULER_OAUTH_API_KEY="api-key-123"):
        ProviderClient(oauth).api_call("GET", "/webcast/fetch", "tok-2")
    headers = {k.lower(): v for k, v in provider.requests_to("/webcast/fetch")[0].headers.items()}
    assert headers["x-oauth-token"] == "tok-2"
    assert headers["x-api-key"] == "api-key-123"
    assert "authorization" not in headers


@pytest.mark.parametrize(("answer", "cls"), [
    (Answer(401, {"error": "token_expired", "error_description": "Access token has expired"}),
     errors.TokenExpired),
    (Answer(401, {"error": "invalid_token"}), errors.InvalidToken),
    (Answer(401, {"error": "revoked_token"}), errors.RevokedToken),
    (Answer(401, {"error": "session_expired"}), errors.SessionExpired),
    (Answer(401, {"error": "unauthorized",
                  "error_description": "Missing Authorization header"}), errors.Unauthorized),
    (Answer(401, ""), errors.Unauthorized),
    (Answer(403, {"error": "insufficient_scope", "error_description":
                  "Token does not have required scope: webcast:rankings"}),
     errors.InsufficientScope),
    (Answer(403, ""), errors.InsufficientScope),
    (Answer(429, {"code": 429, "message": "Rate limited"}, headers={"X-RateLimit-Reset": "3"}),
     errors.RateLimited),
    (Answer(503, ""), errors.TemporarilyUnavailable),
])
def test_api_errors(pc, provider, answer, cls):
    provider.queue("/webcast/fetch", answer)
    with pytest.raises(cls) as excinfo:
        pc.api_call("GET", "/webcast/fetch", "tok-secret-abc")
    assert excinfo.value.stage == errors.Stage.API
    assert "tok-secret-abc" not in str(excinfo.value)


def test_api_token_echoed_is_redacted(pc, provider):
    provider.queue("/webcast/fetch", Answer(401, {
        "error": "invalid_token", "error_description": "token tok-secret-abc is unknown"}))
    with pytest.raises(errors.InvalidToken) as excinfo:
        pc.api_call("GET", "/webcast/fetch", "tok-secret-abc")
    assert "tok-secret-abc" not in str(excinfo.value)


def test_userinfo(pc, provider):
    provider.queue(USERINFO, Answer(200, {"user": {"uid": "1", "uniqueId": "tt_alice"}}))
    assert pc.userinfo("tok")["uniqueId"] == "tt_alice"
    assert provider.requests_to(USERINFO)[0].headers["Authorization"] == "Bearer tok"


def test_userinfo_enveloped(pc, provider):
    provider.queue(USERINFO, Answer(200, {"code": 200, "data": {"user": {"uniqueId": "tt_b"}}}))
    assert pc.userinfo("tok")["uniqueId"] == "tt_b"


def test_userinfo_without_user(pc, provider):
    provider.queue(USERINFO, Answer(200, {"nobody": True}))
    with pytest.raises(errors.MalformedResponse):
        pc.userinfo("tok")
