"""Faults on the way to and from the provider never lose, half-write or invent anything.

Each of the four operations that talk to Euler Stream (code exchange in the
callback view, refresh directly and through the middleware, revocation in the
disconnect view, an API call) meets each fault for real on a loopback socket:
a timeout, a refused connection, a reset, a truncated body, 500, 503 with
Retry-After, 429, HTML instead of JSON, truncated JSON, and token answers
without an access token, with a non-Bearer type, or with an absurd lifetime.
Every time the caller gets the typed error (class asserted), the user a
friendly message (never a 500), and every stored column of every Connection is
what it was before (RFC 6749 §10, RFC 9700; "a failed refresh never destroys a
working token"). Disconnecting is the one deliberate exception: the user asked
to end the connection, so it ends here even when the provider cannot confirm
the revocation, in one well-defined state.

The last tests make the database fail while a refreshed token is saved (a real
trigger, a real rollback) and follow what that costs: see the README's
"What the security suite proves".
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.messages import get_messages
from django.db import DatabaseError
from django.db import connection as db
from django.test import Client
from django.utils.html import escape

from django_euler_oauth import signals
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.client import ProviderClient
from django_euler_oauth.errors import (
    EulerOAuthError,
    InvalidGrant,
    MalformedResponse,
    RateLimited,
    ReauthorizationRequired,
    ServerError,
    TemporarilyUnavailable,
    TransportError,
)
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

from .support.loopback import Answer, ScriptedProvider, token_body
from .support.snapshots import snapshot

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
API = "/webcast/fetch"
SHORT_TIMEOUT = 0.3
JSON = {"Content-Type": "application/json"}


@dataclasses.dataclass(frozen=True)
class Fault:
    name: str
    answer: Answer | None  # None: nothing listens on the port (connection refused)
    error: type[EulerOAuthError]
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.name


# Faults any endpoint can meet (transport, status, body that is not JSON).
TRANSPORT_FAULTS = [
    Fault("timeout", Answer(200, token_body("late-access", "late-refresh"), delay=1.2),
          TransportError),
    Fault("refused", None, TransportError),
    Fault("reset", Answer(reset=True), TransportError),
    Fault("truncated-body", Answer(200, token_body("cut-access", "cut-refresh"), truncate=True),
          TransportError),
    Fault("500", Answer(500, "<html><body><h1>Internal Server Error</h1></body></html>"),
          ServerError),
    Fault("503-retry-after", Answer(503, {"error": "temporarily_unavailable"},
                                    headers={"Retry-After": "7"}),
          TemporarilyUnavailable, retry_after=7.0),
    Fault("429", Answer(429, {"code": 429, "message": "Too many requests"},
                        headers={"RateLimit-Reset": "3"}),
          RateLimited, retry_after=3.0),
    Fault("html-not-json", Answer(200, "<!doctype html><title>Sign in</title><form></form>"),
          MalformedResponse),
    Fault("truncated-json", Answer(200, '{"access_token": "half-access", "refresh_tok',
                                   headers=JSON),
          MalformedResponse),
]

# Token answers that arrive whole but cannot be trusted.
TOKEN_ANSWER_FAULTS = [
    Fault("no-access-token", Answer(200, {"refresh_token": "orphan-refresh",
                                          "token_type": "Bearer", "expires_in": 3600}),
          MalformedResponse),
    Fault("token-type-mac", Answer(200, token_body("mac-access", "mac-refresh",
                                                   token_type="mac")), MalformedResponse),
    Fault("expires-in-0", Answer(200, token_body("a0", "r0", expires_in=0)), MalformedResponse),
    Fault("expires-in-negative", Answer(200, token_body("an", "rn", expires_in=-3600)),
          MalformedResponse),
    Fault("expires-in-1e12", Answer(200, token_body("ah", "rh", expires_in=10**12)),
          MalformedResponse),
    Fault("expires-in-abc", Answer(200, {**token_body("aa", "ra"), "expires_in": "abc"}),
          MalformedResponse),
    # 1e999 is valid JSON that Python reads as float('inf'): int() of it overflowed (a 500).
    Fault("expires-in-1e999", Answer(200, '{"access_token": "ai", "refresh_token": "ri", '
                                          '"token_type": "Bearer", "expires_in": 1e999}',
                                     headers=JSON), MalformedResponse),
]

ALL_FAULTS = TRANSPORT_FAULTS + TOKEN_ANSWER_FAULTS


# --- helpers ----------------------------------------------------------------------

def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def arm(provider: ScriptedProvider, path: str, fault: Fault) -> str:
    """Make ``path`` answer with the fault every time; the base URL for the client."""
    if fault.answer is None:
        return closed_port_url()
    provider.default(path, fault.answer)
    return provider.url


def spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[EulerOAuthError]:
    """Record the errors ``ProviderClient.<name>`` raises (it still raises them)."""
    raised: list[EulerOAuthError] = []
    original = getattr(ProviderClient, name)

    def wrapper(self: ProviderClient, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except EulerOAuthError as err:
            raised.append(err)
            raise

    monkeypatch.setattr(ProviderClient, name, wrapper)
    return raised


def start_authorize(web: Client, **params: str) -> dict[str, str]:
    response = web.get("/oauth/authorize/", params)
    assert response.status_code == 302, response.content[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def assert_typed(err: EulerOAuthError, fault: Fault) -> None:
    assert type(err) is fault.error, f"{fault}: got {type(err).__name__}: {err}"
    assert err.friendly_message == str(fault.error.message) and err.friendly_message
    if fault.retry_after is not None:
        assert err.retry_after == pytest.approx(fault.retry_after, abs=1)  # type: ignore[attr-defined]


@pytest.fixture
def bob(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("bob", "bob@example.com", "pw")


@pytest.fixture
def short_timeout(settings: Any) -> None:
    settings.EULER_OAUTH_HTTP_TIMEOUT = SHORT_TIMEOUT


@pytest.fixture
def signals_sent() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    receivers: list[tuple[Any, Callable[..., None]]] = []
    for name in ("connected", "token_refreshed", "refresh_failed",
                 "reauthorization_required", "disconnected"):
        signal = getattr(signals, name)

        def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
            sent.append((_name, kwargs))

        signal.connect(receiver, weak=False)
        receivers.append((signal, receiver))
    yield sent
    for signal, receiver in receivers:
        signal.disconnect(receiver)


@pytest.fixture
def world(provider: ScriptedProvider, make_client: Any, make_connection: Any, user: Any,
          bob: Any) -> Callable[[str], dict[str, Any]]:
    """An OAuth client at ``base``; alice and bob each connected, alice's token valid."""

    def build(base: str, *, alice_expires_in: int = 3600) -> dict[str, Any]:
        oauth = make_client(base=base)
        alice = make_connection(user, oauth, access_token="alice-access-0",
                                refresh_token="alice-refresh-0", scope="webcast:fetch",
                                expires_in=alice_expires_in)
        other = make_connection(bob, oauth, access_token="bob-access-0",
                                refresh_token="bob-refresh-0")
        return {"oauth": oauth, "alice": alice, "bob": other}

    return build


# --- code exchange (callback view) ----------------------------------------------------

@pytest.mark.parametrize("fault", ALL_FAULTS, ids=str)
def test_code_exchange_fault_changes_nothing(fault: Fault, provider: ScriptedProvider,
                                             world: Any, user: Any, short_timeout: None,
                                             monkeypatch: pytest.MonkeyPatch,
                                             signals_sent: list[Any],
                                             django_capture_on_commit_callbacks: Any) -> None:
    world(arm(provider, TOKEN, fault))
    raised = spy(monkeypatch, "exchange_code")
    web = Client(raise_request_exception=False)
    web.force_login(user)
    state = start_authorize(web, next="/after/")["state"]
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        response = web.get("/oauth/callback/", {"code": "code-xyz", "state": state})

    assert 400 <= response.status_code < 600 and response.status_code != 500
    assert "Location" not in response  # an error page, not a redirect to "next"
    assert escape(str(fault.error.message)) in response.content.decode()
    assert len(raised) == 1
    assert_typed(raised[0], fault)
    assert snapshot() == before  # alice's old connection intact, no new one, bob untouched
    assert [name for name, _ in signals_sent] == []
    if fault.answer is not None:
        assert len(provider.requests_to(TOKEN)) == 1  # asked once, not retried blindly


# --- refresh (refresh_connection, and through the middleware) -----------------------

@pytest.mark.parametrize("fault", ALL_FAULTS, ids=str)
def test_refresh_fault_keeps_tokens(fault: Fault, provider: ScriptedProvider, world: Any,
                                    short_timeout: None, signals_sent: list[Any],
                                    django_capture_on_commit_callbacks: Any) -> None:
    alice = world(arm(provider, TOKEN, fault), alice_expires_in=-10)["alice"]
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True), \
            pytest.raises(EulerOAuthError) as info:
        refresh_connection(alice)

    assert_typed(info.value, fault)
    assert snapshot() == before
    # The caller's instance is not left holding half of a new answer either.
    assert (alice.access_token, alice.refresh_token) == ("alice-access-0", "alice-refresh-0")
    assert alice.status == Connection.Status.ACTIVE
    stored = Connection.objects.get(pk=alice.pk)
    assert stored.last_error and "alice-refresh-0" not in stored.last_error
    assert [name for name, _ in signals_sent] == ["refresh_failed"]
    assert type(signals_sent[0][1]["error"]) is fault.error


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=str)
def test_refresh_fault_through_middleware(fault: Fault, provider: ScriptedProvider, world: Any,
                                          user: Any, short_timeout: None) -> None:
    world(arm(provider, TOKEN, fault), alice_expires_in=-10)
    before = snapshot()
    web = Client(raise_request_exception=False)
    web.force_login(user)

    response = web.get("/whoami/")

    assert response.status_code == 200
    assert response.json() == {"connected": True, "has_token": False, "token_length": 0}
    error = response.wsgi_request.euler_token_error  # type: ignore[attr-defined]
    assert_typed(error, fault)
    assert snapshot() == before


def test_refresh_fault_with_valid_token_hands_out_the_old_token(
        provider: ScriptedProvider, world: Any, user: Any) -> None:
    """A failed early refresh (within the leeway) still gives the working token."""
    world(arm(provider, TOKEN, TRANSPORT_FAULTS[4]), alice_expires_in=60)  # 500
    before = snapshot()
    web = Client(raise_request_exception=False)
    web.force_login(user)
    data = web.get("/whoami/").json()
    assert data == {"connected": True, "has_token": True,
                    "token_length": len("alice-access-0")}
    assert snapshot() == before


# --- revoke (disconnect view) -----------------------------------------------------------

@pytest.mark.parametrize("fault", TRANSPORT_FAULTS, ids=str)
def test_revoke_fault_disconnects_here_in_one_defined_state(
        fault: Fault, provider: ScriptedProvider, world: Any, user: Any, short_timeout: None,
        monkeypatch: pytest.MonkeyPatch, signals_sent: list[Any],
        django_capture_on_commit_callbacks: Any) -> None:
    alice = world(arm(provider, REVOKE, fault))["alice"]
    before = snapshot()
    raised = spy(monkeypatch, "revoke")
    web = Client(raise_request_exception=False)
    web.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = web.post("/oauth/disconnect/", {"next": "/after/"})

    assert response.status_code == 302 and response["Location"] == "/after/"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("could not be reached" in m for m in shown), shown
    # Both tokens were tried (refresh token first), each failure typed.
    assert len(raised) == 2
    for err in raised:
        assert_typed(err, fault)
    # The user's intent wins: ended here, completely (never one token kept).
    after = snapshot()
    row = after.pop(alice.pk)
    expected = {**before.pop(alice.pk), "access_token": "", "refresh_token": "",
                "status": Connection.Status.REVOKED, "status_reason": "disconnected"}
    assert row == expected
    assert after == before  # bob untouched, nothing created
    assert Connection.objects.get(pk=alice.pk).last_error == (
        "The provider could not confirm the revocation.")
    assert [(n, kw["revoked_remotely"]) for n, kw in signals_sent] == [("disconnected", False)]


@pytest.mark.parametrize("body", ["", {}, {"success": True}], ids=["empty", "{}", "success"])
def test_revoke_success_answers(body: Any, provider: ScriptedProvider, world: Any,
                                user: Any) -> None:
    """RFC 7009 §2.2: a 200 is success; the client ignores its (possibly empty) body."""
    world(arm(provider, REVOKE, Fault("ok", Answer(200, body), EulerOAuthError)))
    web = Client(raise_request_exception=False)
    web.force_login(user)
    response = web.post("/oauth/disconnect/", {"next": "/after/"})
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert shown == ["Disconnected your TikTok account."]
    sent = [r.form for r in provider.requests_to(REVOKE)]
    assert [(f["token"], f["token_type_hint"]) for f in sent] == [
        ("alice-refresh-0", "refresh_token"), ("alice-access-0", "access_token")]


# --- API call (EulerAPI) ----------------------------------------------------------------

@pytest.mark.parametrize("fault", TRANSPORT_FAULTS, ids=str)
def test_api_call_fault_changes_nothing(fault: Fault, provider: ScriptedProvider, world: Any,
                                        short_timeout: None) -> None:
    alice = world(arm(provider, API, fault))["alice"]
    before = snapshot()
    waits: list[float] = []

    with pytest.raises(EulerOAuthError) as info:
        EulerAPI(alice, sleep=waits.append).post(API, {"uniqueId": "someone"})

    assert_typed(info.value, fault)
    assert snapshot() == before
    if fault.error in (RateLimited, TemporarilyUnavailable):
        # Retried a bounded number of times, waiting as long as the provider asked.
        assert waits == [fault.retry_after, fault.retry_after]
        assert len(provider.requests_to(API)) == 3
    else:
        assert waits == []
        if fault.answer is not None:
            assert len(provider.requests_to(API)) == 1
    assert provider.requests_to(TOKEN) == []  # no refresh for a fault that is not about it


@pytest.mark.parametrize("fault", ALL_FAULTS, ids=str)
def test_api_call_refresh_fault_changes_nothing(fault: Fault, provider: ScriptedProvider,
                                                world: Any, short_timeout: None) -> None:
    """The API answers token_expired; the refresh it triggers meets the fault."""
    base = arm(provider, TOKEN, fault)
    if fault.answer is None:  # the API host is up, the token host refuses
        alice = world(provider.url)["alice"]
        oauth = alice.client
        oauth.token_url = f"{base}{TOKEN}"
        oauth.save()
    else:
        alice = world(base)["alice"]
    provider.default(API, Answer(401, {"error": "token_expired",
                                       "error_description": "Access token has expired"}))
    alice = Connection.objects.select_related("client").get(pk=alice.pk)
    before = snapshot()

    with pytest.raises(EulerOAuthError) as info:
        EulerAPI(alice, sleep=lambda s: None).post(API, {"uniqueId": "someone"})

    assert_typed(info.value, fault)  # the refresh's error, not a retry with the dead token
    assert snapshot() == before
    assert len(provider.requests_to(API)) == 1


# --- control: the same harness without a fault changes what it should -----------------

def test_controls_without_fault(provider: ScriptedProvider, world: Any, user: Any) -> None:
    alice = world(provider.url, alice_expires_in=-10)["alice"]
    provider.queue(TOKEN, Answer(200, token_body("alice-access-1", "alice-refresh-1")))
    provider.queue(API, Answer(200, {"ok": True}))
    assert EulerAPI(alice).post(API, {"uniqueId": "someone"}) == {"ok": True}
    assert snapshot()[alice.pk]["refresh_token"] == "alice-refresh-1"

    web = Client(raise_request_exception=False)
    web.force_login(user)
    state = start_authorize(web, next="/after/")["state"]
    provider.queue(TOKEN, Answer(200, token_body("alice-access-2", "alice-refresh-2")))
    response = web.get("/oauth/callback/", {"code": "code-xyz", "state": state})
    assert response.status_code == 302 and response["Location"] == "/after/"
    assert snapshot()[alice.pk]["access_token"] == "alice-access-2"


# --- the database fails while a refreshed token is saved -------------------------------

FAIL_TRIGGER = "euler_test_fail_token_save"


@pytest.fixture
def failing_token_save() -> Iterator[Callable[[], None]]:
    """A real BEFORE UPDATE trigger that aborts any change of the stored access token."""
    if db.vendor != "sqlite":
        pytest.skip("the trigger is written for SQLite")
    with db.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER {FAIL_TRIGGER} BEFORE UPDATE ON django_euler_oauth_connection "
            "FOR EACH ROW WHEN NEW.access_token IS NOT OLD.access_token "
            "BEGIN SELECT RAISE(ABORT, 'injected failure: disk I/O error'); END")

    def heal() -> None:
        with db.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {FAIL_TRIGGER}")

    yield heal
    heal()


@pytest.mark.django_db(transaction=True)
def test_database_failure_while_saving_refresh_rolls_back(
        provider: ScriptedProvider, world: Any, failing_token_save: Callable[[], None],
        signals_sent: list[Any]) -> None:
    alice = world(provider.url, alice_expires_in=-10)["alice"]
    provider.queue(TOKEN, Answer(200, token_body("rotated-access", "rotated-refresh")))
    before = snapshot()

    with pytest.raises(DatabaseError, match="injected failure"):
        refresh_connection(alice)

    # The provider answered (and, rotating, retired alice-refresh-0)...
    assert [r.form["refresh_token"] for r in provider.requests_to(TOKEN)] == ["alice-refresh-0"]
    # ...but the transaction rolled back whole: old tokens, old expiry, no half-write.
    assert snapshot() == before
    assert Connection.objects.get(pk=alice.pk).last_error == ""
    assert signals_sent == []  # nothing claimed a refresh that was not stored

    # Recovery: the next refresh presents the consumed token; the provider says
    # invalid_grant; the connection asks for reauthorization, once, and stops asking.
    failing_token_save()
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant",
                                       "error_description": "Refresh token already used"}))
    with pytest.raises(InvalidGrant):
        refresh_connection(alice)
    stored = Connection.objects.get(pk=alice.pk)
    assert stored.status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert stored.status_reason == "invalid_grant"
    with pytest.raises(ReauthorizationRequired):
        refresh_connection(alice)
    assert len(provider.requests_to(TOKEN)) == 2
    assert [name for name, _ in signals_sent] == ["reauthorization_required"]
