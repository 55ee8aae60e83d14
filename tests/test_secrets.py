"""Tokens and secrets never show: logs, admin, reprs, errors, pages, session, database.

A full flow (authorize with PKCE, callback with exchange, refresh through the
middleware, API calls, failures whose descriptions echo what was sent,
disconnect) runs with every log record at DEBUG captured, and each secret
value (client secret, authorization codes, PKCE verifier, every access and
refresh token) is searched for everywhere it must not be. RFC 6749 §10.3/§10.5
(tokens and codes confidential), RFC 9700 §4.14 (no tokens in logs or pages).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core import serializers
from django.db import connection as db
from django.test import Client

from django_euler_oauth.answers import parse_token_payload
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.client import ProviderClient
from django_euler_oauth.errors import EncryptionKeyError, EulerOAuthError
from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.refresh import refresh_connection
from django_euler_oauth.state import PendingAuthorization

from .support.loopback import Answer, Received, ScriptedProvider, token_body

TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"
API = "/webcast/fetch"
CLIENT_SECRET = "cs-TOPSECRET-4f9a1c"
KEY = "qZ4P0wq5lH2rL0h7pZ6gq0m2cZ9Q3Yx8v1b2n3m4k5A="  # tests/settings.py


class Capture(logging.Handler):
    """Every record, formatted the way a real handler would (with tracebacks)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.exc_text:
            text += "\n" + record.exc_text
        self.lines.append(text)


@pytest.fixture
def captured_logs() -> Iterator[Capture]:
    handler = Capture()
    loggers = [logging.getLogger(), logging.getLogger("django_euler_oauth")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


class Secrets:
    """Every secret value the flow produces, as it produces them."""

    def __init__(self) -> None:
        self.values: set[str] = {CLIENT_SECRET}

    def add(self, *values: str) -> None:
        self.values.update(v for v in values if v)

    def assert_absent(self, text: str, where: str) -> None:
        for value in self.values:
            assert value not in text, f"a secret ({value[:4]}…) appears in {where}"


class IssuingTokenEndpoint:
    """Issues unique tokens, remembers every code and verifier it was sent."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets
        self.n = 0
        self.script: list[Answer] = []

    def __call__(self, request: Received) -> Answer:
        form = request.form
        self.secrets.add(form.get("code", ""), form.get("code_verifier", ""),
                         form.get("refresh_token", ""))
        if self.script:
            return self.script.pop(0)
        self.n += 1
        access, refresh = f"AT-{self.n}-9d8c7b6a5f", f"RT-{self.n}-1a2b3c4d5e"
        self.secrets.add(access, refresh)
        return Answer(200, token_body(access, refresh))


def echo(*values: str) -> str:
    return "you sent " + " and ".join(values) + " which we print back"


@pytest.fixture
def setup(provider: ScriptedProvider, make_client: Any, user: Any) -> dict[str, Any]:
    secrets = Secrets()
    endpoint = IssuingTokenEndpoint(secrets)
    provider.handle(TOKEN, endpoint)
    provider.default(REVOKE, Answer(200, {}))
    provider.default(API, Answer(200, {"ok": True}))
    oauth = make_client(base=provider.url, client_secret=CLIENT_SECRET, use_pkce=True)
    web = Client(raise_request_exception=False)
    web.force_login(user)
    return {"secrets": secrets, "endpoint": endpoint, "oauth": oauth, "web": web}


def connect(web: Client, secrets: Secrets, code: str) -> Any:
    response = web.get("/oauth/authorize/", {"next": "/done/"})
    params = {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}
    secrets.add(code)
    return web.get("/oauth/callback/", {"code": code, "state": params["state"]})


def run_full_flow(setup: dict[str, Any], provider: ScriptedProvider, user: Any) -> list[Any]:
    """Connect, refresh, call, fail in every echoing way, disconnect. Returns the pages."""
    web, secrets, endpoint = setup["web"], setup["secrets"], setup["endpoint"]
    pages = []
    # Connect (PKCE), then the middleware refreshes an expired token.
    pages.append(connect(web, secrets, "CODE-one-77aa66bb"))
    Connection.objects.filter(user=user).update(expires_at="2000-01-01T00:00:00Z")
    pages.append(web.get("/whoami/"))
    connection = Connection.objects.get(user=user)
    # An API call, then one whose error echoes the token.
    EulerAPI(connection).post(API, {"uniqueId": "someone"})
    provider.queue(API, Answer(400, {"error": "invalid_request",
                                     "error_description": echo(connection.access_token)}))
    with pytest.raises(EulerOAuthError):
        EulerAPI(connection).post(API, {"uniqueId": "someone"})
    # Refresh failures echoing the refresh token and client secret (description, code),
    # and a reset mid-answer.
    for answer in (
        Answer(400, {"error": "invalid_request",
                     "error_description": echo(connection.refresh_token, CLIENT_SECRET)}),
        Answer(400, {"error": connection.refresh_token}),
        Answer(200, {"message": echo(connection.refresh_token)}),
        Answer(reset=True),
    ):
        endpoint.script.append(answer)
        with pytest.raises(EulerOAuthError):
            refresh_connection(connection, force=True, rejected_token=connection.access_token)
    # A code exchange failing with an echo of code, verifier and secret: an error page.
    code = "CODE-two-55cc44dd"
    endpoint.script.append(Answer(400, {"error": "invalid_grant", "error_description": echo(
        code, CLIENT_SECRET)}))
    pages.append(connect(web, secrets, code))
    code = "CODE-three-33ee22ff"
    endpoint.script.append(Answer(400, {"error": echo(code), "error_description": "x"}))
    pages.append(connect(web, secrets, code))
    # Revocation failing with an echo, then the disconnect itself.
    provider.queue(REVOKE, Answer(503, {"error": "temporarily_unavailable",
                                        "error_description": echo(connection.refresh_token,
                                                                  CLIENT_SECRET)}))
    pages.append(web.post("/oauth/disconnect/", {"next": "/bye/"}))
    return pages


# --- logs, pages, session -----------------------------------------------------------------

def test_full_flow_leaks_nothing(setup: dict[str, Any], provider: ScriptedProvider, user: Any,
                                 captured_logs: Capture) -> None:
    pages = run_full_flow(setup, provider, user)
    secrets, web = setup["secrets"], setup["web"]
    # The flow did produce what we look for.
    assert any(v.startswith("RT-2") for v in secrets.values)
    assert any(len(v) >= 43 and "-" not in v[:3] for v in secrets.values)  # the verifier
    assert len(captured_logs.lines) > 10
    assert any("django_euler_oauth" in line for line in captured_logs.lines)

    for number, line in enumerate(captured_logs.lines):
        secrets.assert_absent(line, f"log record {number}: {line[:80]!r}")
    for page in pages:
        assert page.status_code != 500
        secrets.assert_absent(page.content.decode(), f"the page {page.wsgi_request.path}")
        secrets.assert_absent(str(page.headers), "response headers")
    assert "[redacted]" in pages[2].content.decode()  # the echo was there, masked

    # Session: the verifier and state may live there; tokens and secret never.
    session_secrets = Secrets()
    session_secrets.values = {v for v in secrets.values
                              if v.startswith(("AT-", "RT-")) or v == CLIENT_SECRET}
    for row in Session.objects.all():
        session_secrets.assert_absent(row.session_data, "raw session data")
        session_secrets.assert_absent(repr(SessionStore().decode(row.session_data)),
                                      "decoded session")
    for name, morsel in web.cookies.items():
        session_secrets.assert_absent(morsel.value, f"cookie {name}")


# --- admin ----------------------------------------------------------------------------------

def test_admin_pages_show_no_secret(setup: dict[str, Any], provider: ScriptedProvider,
                                    user: Any, django_user_model: Any) -> None:
    run_full_flow(setup, provider, user)
    secrets = setup["secrets"]
    connect(setup["web"], secrets, "CODE-four-11aa00bb")  # a live connection again
    connection = Connection.objects.get(user=user)
    secrets.add(connection.access_token, connection.refresh_token)
    oauth = setup["oauth"]
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    web = Client(raise_request_exception=False)
    web.force_login(admin)
    base = "/admin/django_euler_oauth"
    urls = [f"{base}/oauthclient/", f"{base}/oauthclient/{oauth.pk}/change/",
            f"{base}/oauthclient/{oauth.pk}/delete/", f"{base}/oauthclient/{oauth.pk}/history/",
            f"{base}/oauthclient/add/", f"{base}/connection/",
            f"{base}/connection/?q=alice", f"{base}/connection/{connection.pk}/change/",
            f"{base}/connection/{connection.pk}/delete/",
            f"{base}/connection/{connection.pk}/history/"]
    for url in urls:
        response = web.get(url)
        assert response.status_code == 200, url
        secrets.assert_absent(response.content.decode(), url)
    # The admin's refresh action, against a provider echoing the refresh token.
    setup["endpoint"].script.append(Answer(400, {"error": connection.refresh_token,
                                                 "error_description": echo(CLIENT_SECRET)}))
    response = web.post(f"{base}/connection/", {"action": "refresh_now",
                                                "_selected_action": [connection.pk]},
                        follow=True)
    assert response.status_code == 200
    secrets.assert_absent(response.content.decode(), "the admin after a failed refresh")
    # Saving the client without a new secret keeps the secret, never renders it.
    response = web.get(f"{base}/oauthclient/{oauth.pk}/change/")
    assert 'name="new_client_secret"' in response.content.decode()
    assert OAuthClient.objects.get(pk=oauth.pk).client_secret == CLIENT_SECRET


# --- reprs, str, exceptions -----------------------------------------------------------------

def test_reprs_and_exceptions_show_no_secret(provider: ScriptedProvider, make_client: Any,
                                             make_connection: Any, user: Any) -> None:
    secrets = Secrets()
    secrets.add("AT-repr-abcdef", "RT-repr-abcdef", "VERIFIER-repr-abcdef", "STATE-repr-abc")
    oauth = make_client(base=provider.url, client_secret=CLIENT_SECRET)
    connection = make_connection(user, oauth, access_token="AT-repr-abcdef",
                                 refresh_token="RT-repr-abcdef")
    tokens = parse_token_payload(token_body("AT-repr-abcdef", "RT-repr-abcdef"))
    pending = PendingAuthorization(state="STATE-repr-abc", client="c", scope="s",
                                   redirect_uri="/cb", next_url="/", user_pk="1", created=0.0,
                                   code_verifier="VERIFIER-repr-abcdef")
    loaded = Connection.objects.get(pk=connection.pk)
    objects: list[Any] = [oauth, connection, loaded, tokens, pending,
                          loaded.__dict__["access_token"]]
    # Errors from the provider echoing what was sent, through every path that builds one.
    client = ProviderClient(oauth)
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant", "error_description": echo(
        "RT-repr-abcdef", CLIENT_SECRET)}))
    provider.queue(TOKEN, Answer(401, {"error": {"error": "invalid_client",
                                                 "error_description": echo(CLIENT_SECRET)}}))
    provider.queue(TOKEN, Answer(400, {"code": 400, "message": echo("RT-repr-abcdef")}))
    provider.queue(TOKEN, Answer(400, {"error": "RT-repr-abcdef " + CLIENT_SECRET}))
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant",
                                       "error_description": "Bearer AT-repr-abcdef"}))
    provider.queue(TOKEN, Answer(reset=True))
    for _ in range(6):
        with pytest.raises(EulerOAuthError) as info:
            client.refresh("RT-repr-abcdef")
        objects.append(info.value)
    provider.queue(API, Answer(401, {"error": "invalid_token",
                                     "error_description": echo("AT-repr-abcdef")}))
    with pytest.raises(EulerOAuthError) as info:
        client.api_call("POST", API, "AT-repr-abcdef", json={})
    objects.append(info.value)

    for obj in objects:
        texts = [repr(obj), str(obj)]
        if isinstance(obj, BaseException):
            err: Any = obj
            texts += [repr(err.args), err.description, err.friendly_message,
                      repr(pickle.loads(pickle.dumps(err)))]
            cause = err.__cause__
            while cause is not None:
                texts.append(str(cause))
                cause = cause.__cause__
        for text in texts:
            secrets.assert_absent(text, f"repr/str of {type(obj).__name__}")


# --- database and keys ----------------------------------------------------------------------

def test_database_columns_hold_ciphertext_only(setup: dict[str, Any], provider: ScriptedProvider,
                                               user: Any) -> None:
    run_full_flow(setup, provider, user)
    secrets = setup["secrets"]
    connect(setup["web"], secrets, "CODE-five-99ff88ee")
    fernet = Fernet(KEY)
    with db.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM django_euler_oauth_oauthclient")
        [(secret_column,)] = cursor.fetchall()
        cursor.execute("SELECT access_token, refresh_token, scope, status_reason, last_error "
                       "FROM django_euler_oauth_connection")
        rows = cursor.fetchall()
    assert fernet.decrypt(secret_column.encode()).decode() == CLIENT_SECRET
    [(access, refresh, *plain_columns)] = rows
    stored = Connection.objects.get(user=user)
    assert fernet.decrypt(access.encode()).decode() == stored.access_token
    assert fernet.decrypt(refresh.encode()).decode() == stored.refresh_token
    for value in (secret_column, access, refresh, *plain_columns):
        secrets.assert_absent(str(value), "a database column")
    # Serialization (dumpdata) writes ciphertext too.
    dumped = serializers.serialize("json", [*Connection.objects.all(),
                                            *OAuthClient.objects.all()])
    secrets.assert_absent(dumped, "dumpdata")


def test_removed_key_names_what_cannot_be_decrypted(make_client: Any, make_connection: Any,
                                                    user: Any, settings: Any) -> None:
    oauth = make_client(client_secret=CLIENT_SECRET)
    connection = make_connection(user, oauth, access_token="AT-key-abcdef",
                                 refresh_token="RT-key-abcdef")
    new_key = Fernet.generate_key().decode()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [new_key]  # the old key was dropped too early
    loaded = Connection.objects.select_related("client").get(pk=connection.pk)
    for read, what in ((lambda: loaded.access_token, "Connection.access_token"),
                       (lambda: loaded.refresh_token, "Connection.refresh_token"),
                       (lambda: loaded.client.client_secret, "OAuthClient.client_secret")):
        with pytest.raises(EncryptionKeyError) as info:
            read()
        message = str(info.value)
        assert what in message
        pk = oauth.pk if what.startswith("OAuthClient") else connection.pk
        assert f"pk={pk}" in message
        for leaked in (KEY, new_key, CLIENT_SECRET, "AT-key-abcdef", "RT-key-abcdef"):
            assert leaked not in message
        assert loaded.__dict__ is not None
    # With the old key back (second), everything reads again: nothing was lost.
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [new_key, KEY]
    again = Connection.objects.select_related("client").get(pk=connection.pk)
    assert again.access_token == "AT-key-abcdef"
    assert again.client.client_secret == CLIENT_SECRET


# --- deleting a user -------------------------------------------------------------------------

def test_deleting_a_user_revokes_after_commit(provider: ScriptedProvider, make_client: Any,
                                              make_connection: Any, user: Any,
                                              django_user_model: Any,
                                              django_capture_on_commit_callbacks: Any) -> None:
    provider.default(REVOKE, Answer(200, {}))
    oauth = make_client(base=provider.url, client_secret=CLIENT_SECRET)
    second = make_client(base=provider.url, client_secret=CLIENT_SECRET)
    make_connection(user, oauth, access_token="AT-del-1", refresh_token="RT-del-1")
    make_connection(user, second, access_token="AT-del-2", refresh_token="RT-del-2")
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    make_connection(bob, oauth, access_token="AT-bob", refresh_token="RT-bob")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user.delete()
    assert provider.requests_to(REVOKE) == []  # nothing is revoked before the commit
    assert not Connection.objects.filter(user_id=user.pk).exists()
    for callback in callbacks:
        callback()

    sent = [(r.form["token"], r.form["token_type_hint"]) for r in provider.requests_to(REVOKE)]
    assert sorted(sent) == sorted([("RT-del-1", "refresh_token"), ("AT-del-1", "access_token"),
                                   ("RT-del-2", "refresh_token"), ("AT-del-2", "access_token")])
    assert Connection.objects.get(user=bob).access_token == "AT-bob"


def test_deleting_a_user_with_the_provider_down(make_client: Any, make_connection: Any,
                                                user: Any, captured_logs: Capture,
                                                django_capture_on_commit_callbacks: Any) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{sock.getsockname()[1]}"
    oauth = make_client(base=down, client_secret=CLIENT_SECRET)
    make_connection(user, oauth, access_token="AT-down-abc", refresh_token="RT-down-abc")
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert not Connection.objects.exists()
    assert type(user).objects.filter(pk=user.pk).count() == 0
    warnings = [line for line in captured_logs.lines if " WARNING " in line]
    assert any("may still be valid" in line for line in warnings), warnings
    for line in captured_logs.lines:
        for leaked in ("AT-down-abc", "RT-down-abc", CLIENT_SECRET):
            assert leaked not in line


def test_deleting_a_user_whose_tokens_cannot_be_decrypted(
        make_client: Any, make_connection: Any, user: Any, settings: Any,
        captured_logs: Capture, django_capture_on_commit_callbacks: Any) -> None:
    oauth = make_client(client_secret=CLIENT_SECRET)
    make_connection(user, oauth)
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with django_capture_on_commit_callbacks(execute=True):
        user.delete()
    assert not Connection.objects.exists()
    assert any("Cannot revoke" in line for line in captured_logs.lines)
