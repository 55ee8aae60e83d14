"""Hostile input lets nobody in: fuzzed query strings and provider answers, state, PKCE, next.

Property-based (hypothesis, bounded) over the authorize and callback query
strings and over arbitrary JSON from the token endpoint: never a 500, never a
stored connection without a valid state *and* a successful exchange, never a
reflected value unescaped in a page. Then the cases RFC 6749 §10.12 (CSRF /
state), RFC 7636 (PKCE), RFC 9700 §4.1 and §4.11 (redirect and open-redirect
rules) and §4.4 (CSRF) care about, one by one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, quote, quote_from_bytes, urlsplit

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.test import Client
from django.utils.html import escape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_euler_oauth.conf import app_settings
from django_euler_oauth.errors import InvalidGrant, InvalidScope, StateError
from django_euler_oauth.models import Connection
from django_euler_oauth.state import SESSION_KEY as PENDING_KEY

from .support.loopback import Answer, Received, ScriptedProvider, token_body

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
MARKERS = ["<script>x</script>", '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"]
FUZZ = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
PARAMS = ["state", "code", "error", "error_description", "next", "scope", "client"]
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


# --- helpers ----------------------------------------------------------------------------

def web_for(user: Any, **kwargs: Any) -> Client:
    web = Client(raise_request_exception=False, **kwargs)
    web.force_login(user)
    return web


def start_authorize(web: Client, **params: str) -> dict[str, str]:
    response = web.get("/oauth/authorize/", params)
    assert response.status_code == 302, response.content[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pending_entries(web: Client) -> list[dict[str, Any]]:
    return list(web.session.get(PENDING_KEY, []))


def edit_pending(web: Client, change: Any) -> None:
    session = web.session
    entries = session[PENDING_KEY]
    for entry in entries:
        change(entry)
    session[PENDING_KEY] = entries
    session.save()


def assert_escaped(content: bytes, *values: str) -> None:
    """No marker appears raw; any reflected marker appears only HTML-escaped."""
    text = content.decode("utf-8", "replace")
    for marker in MARKERS:
        assert marker not in text, f"unescaped {marker!r} in page"
    for value in values:
        if value and any(ch in value for ch in "<>\"'") and len(value) > 3:
            assert value not in text, f"unescaped input {value!r} in page"


def assert_never_500(response: Any) -> None:
    assert response.status_code != 500, response.content[:500]
    assert response.status_code < 500 or response.status_code in (502, 503)


def assert_local(location: str) -> None:
    """``location`` stays on this site, also after a browser strips tabs and newlines."""
    cleaned = re.sub(r"[\t\n\r]", "", location)
    parts = urlsplit(cleaned.replace("\\", "/"))
    assert cleaned.startswith("/") and not parts.scheme and not parts.netloc, location


hostile_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from([*MARKERS, "", " ", "\x00", "%00", "..", "//evil.com", "access_denied",
                     "invalid_grant", "webcast:fetch", "a" * 3000]),
    st.builds(lambda a, m, b: a + m + b, st.text(max_size=10), st.sampled_from(MARKERS),
              st.text(max_size=10)),
)


@pytest.fixture
def oauth(provider: ScriptedProvider, make_client: Any) -> Any:
    return make_client(base=provider.url, scopes="webcast:fetch")


# --- fuzzing: callback and authorize query strings ------------------------------------

@FUZZ
@given(params=st.dictionaries(st.sampled_from(PARAMS) | st.text(max_size=8), hostile_text,
                              max_size=6),
       state_kind=st.sampled_from(["valid", "fuzzed", "valid+junk"]))
def test_fuzz_callback_query(params: dict[str, str], state_kind: str, provider: ScriptedProvider,
                             oauth: Any, user: Any) -> None:
    provider.default(TOKEN, Answer(200, token_body("fuzz-access", "fuzz-refresh")))
    Connection.objects.all().delete()
    web = web_for(user)
    state = start_authorize(web, next="/after/")["state"]
    if state_kind == "valid":
        params["state"] = state
    elif state_kind == "valid+junk":
        params["state"] = state + params.get("state", "x")
    asked = len(provider.requests_to(TOKEN))

    response = web.get("/oauth/callback/", params)

    assert_never_500(response)
    assert_escaped(response.content, *params.values())
    exchanged = len(provider.requests_to(TOKEN)) - asked
    stored = Connection.objects.filter(user=user).first()
    valid_state = params.get("state") == state
    if not valid_state:
        assert response.status_code == 400 and exchanged == 0 and stored is None
        return
    code = params.get("code", "")
    if params.get("error") or not code or len(code) > 2048:
        assert exchanged == 0 and stored is None
        return
    assert exchanged == 1 and provider.requests_to(TOKEN)[-1].form["code"] == code
    assert stored is not None and stored.access_token == "fuzz-access"
    assert response.status_code == 302 and response["Location"] == "/after/"


@FUZZ
@given(raw=st.lists(st.tuples(st.sampled_from([p.encode() for p in PARAMS]) | st.binary(max_size=6),
                              st.binary(max_size=40)), max_size=6))
def test_fuzz_callback_raw_bytes(raw: list[tuple[bytes, bytes]], provider: ScriptedProvider,
                                 oauth: Any, user: Any) -> None:
    """Undecodable bytes, NULs, stray ``%`` and ``&`` in the query string itself."""
    provider.default(TOKEN, Answer(200, token_body("raw-access", "raw-refresh")))
    web = web_for(user)
    start_authorize(web)
    query = "&".join(f"{quote_from_bytes(k)}={quote_from_bytes(v)}" for k, v in raw)
    response = web.get("/oauth/callback/", QUERY_STRING=query)
    assert_never_500(response)
    assert response.status_code == 400  # no valid state can be in random bytes
    assert provider.requests_to(TOKEN) == []
    assert not Connection.objects.exists()


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["client", "scope", "next"]) | st.text(max_size=8),
                              hostile_text, max_size=5))
def test_fuzz_authorize_query(params: dict[str, str], provider: ScriptedProvider, oauth: Any,
                              user: Any) -> None:
    web = web_for(user)
    response = web.get("/oauth/authorize/", params)
    assert_never_500(response)
    assert_escaped(response.content, *params.values())
    entries = pending_entries(web)
    if response.status_code != 302:
        assert 400 <= response.status_code < 500 and entries == []
        return
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == provider.url
    sent = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert set(sent["scope"].split()) <= set(app_settings.KNOWN_SCOPES)
    assert params.get("client") in (None, "", oauth.slug)
    [entry] = entries
    assert entry["state"] == sent["state"]
    if entry["next_url"]:
        assert_local(entry["next_url"])
    assert provider.received == []  # authorize never talks to the provider itself


# --- fuzzing: provider answers ---------------------------------------------------------

json_leaf = (st.none() | st.booleans() | st.integers() | st.floats()
             | st.text(max_size=20) | st.sampled_from(MARKERS))
json_any = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                        max_leaves=10)
token_like = st.fixed_dictionaries({}, optional={
    "access_token": st.text(max_size=20) | json_leaf,
    "refresh_token": st.text(max_size=20) | json_leaf,
    "token_type": st.sampled_from(["Bearer", "bearer", "mac", "", "BEARER "]) | json_leaf,
    "expires_in": st.sampled_from([3600, 0, -1, 10**12, "3600", "abc", 1e999, 59.5]) | json_leaf,
    "refresh_expires_in": st.sampled_from([86400, 0, "x", 10**15]) | json_leaf,
    "scope": st.text(max_size=40) | st.lists(st.text(max_size=12), max_size=3) | json_leaf,
    "scopes": st.lists(st.text(max_size=12) | json_leaf, max_size=3) | json_leaf,
    "error": st.sampled_from(["invalid_grant", "server_error", "", "weird"]) | json_any,
    "error_description": hostile_text,
    "code": st.sampled_from([200, 400, 429, 500, "500"]) | json_leaf,
    "message": hostile_text,
})
# A valid answer with one or two fields replaced: most examples get far enough to be stored.
nearly_valid = st.builds(
    lambda base, changes: {**base, **changes},
    st.builds(token_body, st.just("fz-access"), st.just("fz-refresh")),
    st.dictionaries(st.sampled_from(["scope", "scopes", "expires_in", "refresh_expires_in",
                                     "token_type", "refresh_token", "access_token"]),
                    st.text(max_size=30) | st.lists(st.text(max_size=12), max_size=3)
                    | json_leaf, max_size=2),
)
answers = st.one_of(
    nearly_valid,
    token_like,
    st.builds(lambda data, code: {"code": code, "message": "OK", "data": data}, token_like,
              st.sampled_from([200, 0, 401])),
    json_any,
)


def accepted(status: int, body: Any) -> str | None:
    """The access token an answer legitimately carries (an independent, minimal reading)."""
    if status >= 400 or not isinstance(body, dict):
        return None
    payload = body["data"] if isinstance(body.get("data"), dict) else body
    access = payload.get("access_token")
    return access if isinstance(access, str) and access.strip() else None


@FUZZ
@given(status=st.sampled_from([200, 201, 400, 401, 403, 429, 500, 503]), body=answers)
def test_fuzz_token_answers(status: int, body: Any, provider: ScriptedProvider, oauth: Any,
                            user: Any) -> None:
    Connection.objects.all().delete()
    web = web_for(user)
    state = start_authorize(web, next="/after/")["state"]
    provider.queue(TOKEN, Answer(status, body))

    response = web.get("/oauth/callback/", {"code": "fuzz-code", "state": state})

    assert_never_500(response)
    assert_escaped(response.content)
    stored = Connection.objects.filter(user=user).first()
    if stored is None:
        assert response.status_code >= 400
        return
    # Stored only after a successful exchange, and exactly what the provider sent.
    assert response.status_code == 302
    assert stored.access_token == accepted(status, body)
    assert stored.status == Connection.Status.ACTIVE
    assert stored.expires_at is not None and stored.refresh_expires_at is not None
    # The scope column holds RFC 6749 scope tokens that fit it (PostgreSQL rejects NUL
    # and over-long values, which would be a 500 there).
    assert len(stored.scope) <= Connection._meta.get_field("scope").max_length
    assert all(SCOPE_TOKEN.fullmatch(s) for s in stored.scope.split(" ") if stored.scope)


@FUZZ
@given(scope=st.text(max_size=60) | st.lists(st.text(max_size=15), max_size=4)
       | st.sampled_from(["a\x00b", "webcast:fetch\u2028x", "x" * 1001]),
       key=st.sampled_from(["scope", "scopes"]))
def test_fuzz_granted_scope(scope: Any, key: str, provider: ScriptedProvider, oauth: Any,
                            user: Any) -> None:
    """Whatever scope the provider grants is stored as valid scope tokens, or refused."""
    Connection.objects.all().delete()
    web = web_for(user)
    state = start_authorize(web)["state"]
    body = token_body("sc-access", "sc-refresh")
    del body["scope"]
    body[key] = scope
    provider.queue(TOKEN, Answer(200, body))
    response = web.get("/oauth/callback/", {"code": "c", "state": state})
    assert_never_500(response)
    stored = Connection.objects.filter(user=user).first()
    if stored is None:
        assert response.status_code == 502
        return
    assert len(stored.scope) <= Connection._meta.get_field("scope").max_length
    assert all(SCOPE_TOKEN.fullmatch(s) for s in stored.scope.split(" ") if stored.scope)


def test_scope_with_nul_or_over_long_is_rejected(provider: ScriptedProvider, oauth: Any,
                                                 user: Any) -> None:
    for scope in ["webcast:fetch\x00", "webcast:fetch caf\u00e9", 'webcast:"fetch"',
                  "x" * 1001, " ".join(["webcast:fetch"] * 100)]:
        web = web_for(user)
        state = start_authorize(web)["state"]
        provider.queue(TOKEN, Answer(200, token_body("s-access", "s-refresh", scope=scope)))
        response = web.get("/oauth/callback/", {"code": "c", "state": state})
        assert response.status_code == 502, scope
        assert not Connection.objects.exists()


# --- state ----------------------------------------------------------------------------------

STATE_MESSAGE = escape(str(StateError.message))


def assert_state_refused(response: Any, provider: ScriptedProvider, user: Any) -> None:
    assert response.status_code == 400
    assert STATE_MESSAGE in response.content.decode()
    assert provider.requests_to(TOKEN) == []  # the code never reaches the provider
    assert not Connection.objects.filter(user=user).exists()


def test_state_replayed(provider: ScriptedProvider, oauth: Any, user: Any) -> None:
    web = web_for(user)
    state = start_authorize(web)["state"]
    provider.queue(TOKEN, Answer(200, token_body("first-access", "first-refresh")))
    assert web.get("/oauth/callback/", {"code": "c1", "state": state}).status_code == 302
    provider.queue(TOKEN, Answer(200, token_body("second-access", "second-refresh")))
    response = web.get("/oauth/callback/", {"code": "c2", "state": state})
    assert response.status_code == 400 and STATE_MESSAGE in response.content.decode()
    assert len(provider.requests_to(TOKEN)) == 1
    assert Connection.objects.get(user=user).access_token == "first-access"


@pytest.mark.parametrize("case", ["expired", "other-session", "other-user-login",
                                  "other-user-same-session", "tampered", "missing", "empty",
                                  "oversized", "oversized-prefixed", "logged-out",
                                  "damaged-entry"])
def test_state_refused(case: str, provider: ScriptedProvider, oauth: Any, user: Any,
                       django_user_model: Any) -> None:
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    web = web_for(user)
    state = start_authorize(web)["state"]
    provider.default(TOKEN, Answer(200, token_body("stolen-access", "stolen-refresh")))
    params: dict[str, str] = {"code": "attacker-code", "state": state}
    if case == "expired":
        edit_pending(web, lambda e: e.update(created=time.time() - 601))
    elif case == "other-session":
        web = web_for(user)  # same user, another browser
    elif case == "other-user-login":
        web.force_login(bob)  # a real login in the same browser: the session is flushed
    elif case == "other-user-same-session":
        session = web.session  # bob takes over the session without a flush
        session[SESSION_KEY] = str(bob.pk)
        session[HASH_SESSION_KEY] = bob.get_session_auth_hash()
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session.save()
    elif case == "tampered":
        params["state"] = state[:-1] + ("A" if state[-1] != "A" else "B")
    elif case == "missing":
        del params["state"]
    elif case == "empty":
        params["state"] = ""
    elif case == "oversized":
        params["state"] = "s" * 10240
    elif case == "oversized-prefixed":
        params["state"] = state + "s" * 10240
    elif case == "logged-out":
        web.logout()
    elif case == "damaged-entry":
        edit_pending(web, lambda e: e.pop("redirect_uri"))

    response = web.get("/oauth/callback/", params)

    assert_state_refused(response, provider, user)
    assert not Connection.objects.filter(user=bob).exists()


def test_state_is_unguessable_and_single_per_tab(oauth: Any, user: Any) -> None:
    web = web_for(user)
    states = [start_authorize(web)["state"] for _ in range(3)]
    assert len(set(states)) == 3 and all(len(s) >= 43 for s in states)  # >= 256 bits
    assert [e["state"] for e in pending_entries(web)] == states


# --- PKCE -------------------------------------------------------------------------------------

class PKCEEnforcingTokenEndpoint:
    """A token endpoint that checks S256(code_verifier) against the challenge it was shown."""

    def __init__(self, challenge: str) -> None:
        self.challenge = challenge

    def __call__(self, request: Received) -> Answer:
        verifier = request.form.get("code_verifier")
        if not verifier:
            return Answer(400, {"error": "invalid_request",
                                "error_description": "code_verifier required"})
        if s256(verifier) != self.challenge:
            return Answer(400, {"error": "invalid_grant",
                                "error_description": "PKCE validation failed"})
        return Answer(200, token_body("pkce-access", "pkce-refresh"))


def test_pkce_sends_the_verifier_it_made(provider: ScriptedProvider, make_client: Any,
                                         user: Any) -> None:
    make_client(base=provider.url, use_pkce=True)
    web = web_for(user)
    sent = start_authorize(web)
    assert sent["code_challenge_method"] == "S256"
    provider.handle(TOKEN, PKCEEnforcingTokenEndpoint(sent["code_challenge"]))
    response = web.get("/oauth/callback/", {"code": "c", "state": sent["state"]})
    assert response.status_code == 302
    verifier = provider.requests_to(TOKEN)[0].form["code_verifier"]
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)  # RFC 7636 §4.1
    assert s256(verifier) == sent["code_challenge"]
    assert Connection.objects.get(user=user).access_token == "pkce-access"


@pytest.mark.parametrize("verifier", ["wrong", "missing"])
def test_pkce_wrong_or_missing_verifier_stores_nothing(verifier: str, provider: ScriptedProvider,
                                                       make_client: Any, user: Any) -> None:
    make_client(base=provider.url, use_pkce=True)
    web = web_for(user)
    sent = start_authorize(web)
    provider.handle(TOKEN, PKCEEnforcingTokenEndpoint(sent["code_challenge"]))
    edit_pending(web, lambda e: e.update(
        code_verifier="x" * 64 if verifier == "wrong" else ""))
    response = web.get("/oauth/callback/", {"code": "c", "state": sent["state"]})
    assert response.status_code == 400
    expected = InvalidGrant.message if verifier == "wrong" else "Something went wrong"
    assert escape(str(expected)) in response.content.decode()
    assert len(provider.requests_to(TOKEN)) == 1
    assert not Connection.objects.exists()


def test_no_pkce_parameters_for_a_client_without_pkce(provider: ScriptedProvider, oauth: Any,
                                                      user: Any) -> None:
    web = web_for(user)
    sent = start_authorize(web)
    assert "code_challenge" not in sent and "code_challenge_method" not in sent
    provider.queue(TOKEN, Answer(200, token_body()))
    web.get("/oauth/callback/", {"code": "c", "state": sent["state"]})
    assert "code_verifier" not in provider.requests_to(TOKEN)[0].form


# --- next: only local URLs are followed ------------------------------------------------------

UNSAFE_NEXT = [
    "http://evil.com/", "https://evil.com", "//evil.com", "///evil.com", "////evil.com",
    "/\\evil.com", "\\\\evil.com", "\\/evil.com", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
    "http:/evil", "http:evil.com", "%2F%2Fevil.com", "%252F%252Fevil.com", " //evil.com",
    "\t//evil.com", "\n//evil.com", "/\t/evil.com", "/\n/evil.com", "//testserver@evil.com",
    "https://testserver.evil.com/", "data:text/html,<script>x</script>", "\x00//evil.com",
    "//evil.com/%2F..", "/" + "a" * 3000,
]
SAFE_NEXT = ["/done/", "/a/b/?c=d&e=f", "/path#frag", "/%2Fnot-a-host"]


@pytest.mark.parametrize("next_url", UNSAFE_NEXT + SAFE_NEXT, ids=repr)
def test_next_after_callback(next_url: str, provider: ScriptedProvider, oauth: Any,
                             user: Any) -> None:
    web = web_for(user)
    state = start_authorize(web, next=next_url)["state"]
    provider.queue(TOKEN, Answer(200, token_body()))
    response = web.get("/oauth/callback/", {"code": "c", "state": state})
    assert response.status_code == 302
    expected = next_url if next_url in SAFE_NEXT else app_settings.SUCCESS_URL
    assert response["Location"] == expected
    assert_local(response["Location"])


@pytest.mark.parametrize("next_url", UNSAFE_NEXT + SAFE_NEXT, ids=repr)
def test_next_after_disconnect(next_url: str, provider: ScriptedProvider, oauth: Any, user: Any,
                               make_connection: Any) -> None:
    make_connection(user, oauth)
    provider.default(REVOKE, Answer(200, {}))
    response = web_for(user).post("/oauth/disconnect/", {"next": next_url})
    assert response.status_code == 302
    expected = next_url if next_url in SAFE_NEXT else app_settings.SUCCESS_URL
    assert response["Location"] == expected


@pytest.mark.parametrize("query", ["next=%2F%2Fevil.com", "next=%5C%5Cevil.com",
                                   "next=%2F%5Cevil.com", "next=%09%2F%2Fevil.com",
                                   "next=https%3A%2F%2Fevil.com"])
def test_next_percent_encoded_in_the_query(query: str, provider: ScriptedProvider, oauth: Any,
                                           user: Any) -> None:
    web = web_for(user)
    response = web.get("/oauth/authorize/", QUERY_STRING=query)
    assert response.status_code == 302
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    provider.queue(TOKEN, Answer(200, token_body()))
    response = web.get("/oauth/callback/", {"code": "c", "state": state})
    assert response["Location"] == app_settings.SUCCESS_URL


def test_access_denied_returns_only_to_a_safe_next(provider: ScriptedProvider, oauth: Any,
                                                   user: Any) -> None:
    web = web_for(user)
    state = start_authorize(web, next="//evil.com")["state"]
    response = web.get("/oauth/callback/", {"error": "access_denied", "state": state,
                                            "next": "//evil.com"})
    assert response.status_code == 302 and response["Location"] == app_settings.SUCCESS_URL


# --- disconnect: POST only, CSRF protected --------------------------------------------------

@pytest.mark.parametrize("case", ["get", "no-csrf", "bad-csrf", "anonymous"])
def test_disconnect_refused(case: str, provider: ScriptedProvider, oauth: Any, user: Any,
                            make_connection: Any) -> None:
    connection = make_connection(user, oauth)
    provider.default(REVOKE, Answer(200, {}))
    web = Client(enforce_csrf_checks=case != "get", raise_request_exception=False)
    if case != "anonymous":
        web.force_login(user)
    if case == "get":
        response = web.get("/oauth/disconnect/", {"next": "/after/"})
        assert response.status_code == 405
    elif case == "bad-csrf":
        web.cookies["csrftoken"] = "a" * 32
        response = web.post("/oauth/disconnect/", {"csrfmiddlewaretoken": "b" * 32})
        assert response.status_code == 403
    elif case == "anonymous":
        web = Client(raise_request_exception=False)
        response = web.post("/oauth/disconnect/")
        assert response.status_code == 302 and "/login" in response["Location"]
    else:
        response = web.post("/oauth/disconnect/", {"next": "/after/"})
        assert response.status_code == 403
    assert provider.requests_to(REVOKE) == []
    stored = Connection.objects.get(pk=connection.pk)
    assert stored.status == Connection.Status.ACTIVE
    assert (stored.access_token, stored.refresh_token) == ("access-0", "refresh-0")


def test_disconnect_with_csrf_token_works(provider: ScriptedProvider, oauth: Any, user: Any,
                                          make_connection: Any) -> None:
    """The control for the test above: the CSRF token was the only thing missing."""
    connection = make_connection(user, oauth)
    provider.default(REVOKE, Answer(200, {}))
    web = web_for(user, enforce_csrf_checks=True)
    web.cookies["csrftoken"] = "a" * 32
    response = web.post("/oauth/disconnect/", {"csrfmiddlewaretoken": "a" * 32})
    assert response.status_code == 302
    assert len(provider.requests_to(REVOKE)) == 2
    assert Connection.objects.get(pk=connection.pk).status == Connection.Status.REVOKED


def test_disconnect_touches_only_the_posting_users_connection(
        provider: ScriptedProvider, oauth: Any, user: Any, make_connection: Any,
        django_user_model: Any) -> None:
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    alice_connection = make_connection(user, oauth)
    make_connection(bob, oauth, access_token="bob-access", refresh_token="bob-refresh")
    provider.default(REVOKE, Answer(200, {}))
    web_for(bob).post("/oauth/disconnect/", {"client": oauth.slug})
    assert Connection.objects.get(pk=alice_connection.pk).access_token == "access-0"
    assert {r.form["token"] for r in provider.requests_to(REVOKE)} == {"bob-access",
                                                                      "bob-refresh"}


# --- scope --------------------------------------------------------------------------------------

@pytest.mark.parametrize("granted", ["webcast:fetch webcast:chat webcast:ban", "webcast:chat",
                                     None])
def test_granted_scope_is_recorded_truthfully(granted: str | None, provider: ScriptedProvider,
                                              oauth: Any, user: Any) -> None:
    web = web_for(user)
    state = start_authorize(web, scope="webcast:fetch")["state"]
    body = token_body()
    if granted is None:
        del body["scope"]  # RFC 6749 §5.1: omitted means as requested
    else:
        body["scope"] = granted
    provider.queue(TOKEN, Answer(200, body))
    web.get("/oauth/callback/", {"code": "c", "state": state})
    assert Connection.objects.get(user=user).scope == (granted or "webcast:fetch")


@pytest.mark.parametrize("scope", ["webcast:fetch admin:everything", "webcast:fetch\x00",
                                   "<script>x</script>", "webcast:fetch " * 400])
def test_unknown_scope_never_leaves_the_site(scope: str, provider: ScriptedProvider,
                                             oauth: Any, user: Any) -> None:
    web = web_for(user)
    response = web.get("/oauth/authorize/", {"scope": scope})
    assert response.status_code == 400 and "Location" not in response
    assert escape(str(InvalidScope.message)) in response.content.decode() or \
        "Something went wrong" in response.content.decode()
    assert_escaped(response.content, scope)
    assert provider.received == []
    assert pending_entries(web) == []


def test_fuzzed_values_reach_the_provider_only_url_encoded(provider: ScriptedProvider,
                                                           oauth: Any, user: Any) -> None:
    """A code full of separators is one form field at the provider, not several."""
    web = web_for(user)
    state = start_authorize(web)["state"]
    provider.queue(TOKEN, Answer(200, token_body()))
    code = "c&grant_type=password&client_id=evil=1;\r\nX-Injected: 1"
    web.get("/oauth/callback/", {"code": code, "state": state})
    form = provider.requests_to(TOKEN)[0].form
    assert form["code"] == code and form["grant_type"] == "authorization_code"
    assert form["client_id"] == oauth.client_id
    assert "X-Injected" not in provider.requests_to(TOKEN)[0].headers
    assert json.dumps(form)  # plain strings only


def test_redirect_uri_and_query_cannot_be_smuggled(provider: ScriptedProvider, oauth: Any,
                                                   user: Any) -> None:
    web = web_for(user)
    response = web.get("/oauth/authorize/", QUERY_STRING="redirect_uri=" + quote(
        "https://evil.com/cb") + "&state=mine&response_type=token&client_id=evil")
    sent = parse_qs(urlsplit(response["Location"]).query)
    assert sent["redirect_uri"] == ["http://testserver/oauth/callback/"]
    assert sent["response_type"] == ["code"] and sent["client_id"] == [oauth.client_id]
    assert sent["state"] != ["mine"] and len(sent["state"]) == 1


# --- values the database cannot hold -----------------------------------------------------

NUL_CASES = [pytest.param(db, id=db, marks=[pytest.mark.postgres] if db == "postgres" else [])
             for db in ("sqlite", "postgres")]


@pytest.mark.parametrize("backend", NUL_CASES)
def test_client_slug_with_nul_is_unknown_not_a_500(backend: str, oauth: Any, user: Any,
                                                  make_connection: Any) -> None:
    """PostgreSQL refuses NUL in text parameters: such a slug must not reach a query."""
    make_connection(user, oauth)
    web = web_for(user)
    for slug in ("\x00", oauth.slug + "\x00", "x" * 10000):
        assert web.get("/oauth/authorize/", {"client": slug}).status_code == 404
        assert web.post("/oauth/disconnect/", {"client": slug}).status_code == 404
    assert Connection.objects.get(user=user).status == Connection.Status.ACTIVE
