"""The disconnect view: POST + CSRF only, revokes at the provider, clears tokens here."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.test import Client, override_settings

from django_euler_oauth.models import Connection
from django_euler_oauth.signals import disconnected

from .support.loopback import Answer

DISCONNECT = "/oauth/disconnect/"
REVOKE = "/tiktok/oauth/revoke"
CSRF = "a" * 32  # an unmasked CSRF secret, valid as cookie and form token


@pytest.fixture
def conn(user, oauth, make_connection):
    return make_connection(user, oauth, access_token="acc-live", refresh_token="ref-live")


@pytest.fixture
def signals():
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    disconnected.connect(receiver, dispatch_uid="test-disconnect")
    yield received
    disconnected.disconnect(dispatch_uid="test-disconnect")


def messages_of(response):
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_get_is_refused(browser, conn, provider):
    assert browser.get(DISCONNECT).status_code == 405
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.ACTIVE
    assert provider.requests_to(REVOKE) == []


def test_requires_login(client, conn, provider):
    response = client.post(DISCONNECT)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.ACTIVE
    assert provider.requests_to(REVOKE) == []


def test_post_without_csrf_token_is_refused(user, conn, provider):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    response = strict.post(DISCONNECT, {"next": "/"})
    assert response.status_code == 403
    row = Connection.objects.get(pk=conn.pk)
    assert row.status == Connection.Status.ACTIVE and row.access_token == "acc-live"
    assert provider.requests_to(REVOKE) == []


def test_post_with_csrf_token_works(user, conn, provider):
    provider.default(REVOKE, Answer(200, {}))
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    strict.cookies["csrftoken"] = CSRF
    response = strict.post(DISCONNECT, {"csrfmiddlewaretoken": CSRF})
    assert response.status_code == 302
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.REVOKED


def test_disconnect_revokes_refresh_then_access(browser, oauth, conn, provider, signals,
                                                django_capture_on_commit_callbacks):
    provider.default(REVOKE, Answer(200, {}))
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(DISCONNECT, {"next": "/account/"})
    assert response.status_code == 302 and response["Location"] == "/account/"
    sent = provider.requests_to(REVOKE)
    assert [r.form for r in sent] == [
        {"token": "ref-live", "token_type_hint": "refresh_token",
         "client_id": oauth.client_id, "client_secret": "secret-value-1"},
        {"token": "acc-live", "token_type_hint": "access_token",
         "client_id": oauth.client_id, "client_secret": "secret-value-1"},
    ]
    row = Connection.objects.get(pk=conn.pk)
    assert row.status == Connection.Status.REVOKED
    assert row.access_token == "" and row.refresh_token == ""
    assert len(signals) == 1
    assert signals[0]["revoked_remotely"] is True
    assert signals[0]["connection"].pk == conn.pk
    assert signals[0]["request"] is not None
    assert messages_of(response) == [("success", "Disconnected your TikTok account.")]


def test_revoke_sent_as_json_for_json_clients(browser, user, provider, make_client,
                                              make_connection):
    oauth = make_client(base=provider.url, request_format="json")
    make_connection(user, oauth, access_token="acc-j", refresh_token="ref-j")
    provider.default(REVOKE, Answer(200, {"code": 200, "message": "OK"}))
    browser.post(DISCONNECT)
    sent = provider.requests_to(REVOKE)
    assert sent[0].headers["Content-Type"] == "application/json"
    assert [r.form["token"] for r in sent] == ["ref-j", "acc-j"]


@pytest.mark.parametrize("answer", [Answer(reset=True), Answer(503, "down"),
                                    Answer(500, {"error": "server_error"}),
                                    Answer(401, {"error": "invalid_client"})])
def test_provider_failure_still_disconnects_locally(browser, conn, provider, signals, answer,
                                                    django_capture_on_commit_callbacks):
    provider.default(REVOKE, answer)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(DISCONNECT)
    assert response.status_code == 302
    row = Connection.objects.get(pk=conn.pk)
    assert row.status == Connection.Status.REVOKED
    assert row.access_token == "" and row.refresh_token == ""
    assert len(signals) == 1 and signals[0]["revoked_remotely"] is False
    levels = [level for level, _text in messages_of(response)]
    assert levels == ["warning"]
    assert "could not be reached" in messages_of(response)[0][1]


def test_provider_timeout_still_disconnects_locally(browser, conn, provider):
    provider.default(REVOKE, Answer(200, {}, delay=1.5))
    with override_settings(EULER_OAUTH_HTTP_TIMEOUT=0.3):
        browser.post(DISCONNECT)
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.REVOKED


def test_unreachable_provider(browser, user, make_client, make_connection):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    oauth = make_client(base=f"http://127.0.0.1:{port}")
    conn = make_connection(user, oauth)
    response = browser.post(DISCONNECT)
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.REVOKED
    assert [level for level, _ in messages_of(response)] == ["warning"]


def test_no_connection(browser, oauth, provider, signals):
    with override_settings(EULER_OAUTH_SUCCESS_URL="/home/"):
        response = browser.post(DISCONNECT)
    assert response.status_code == 302 and response["Location"] == "/home/"
    assert messages_of(response) == [("info", "No TikTok account is connected.")]
    assert provider.requests_to(REVOKE) == []
    assert signals == []


def test_already_revoked_connection(browser, user, oauth, make_connection, provider):
    make_connection(user, oauth, status=Connection.Status.REVOKED, access_token="",
                    refresh_token="")
    response = browser.post(DISCONNECT)
    assert messages_of(response) == [("info", "No TikTok account is connected.")]
    assert provider.requests_to(REVOKE) == []


def test_only_the_users_own_connection(browser, oauth, provider, make_connection,
                                       django_user_model):
    bob = django_user_model.objects.create_user("bob", "b@example.com", "pw")
    bobs = make_connection(bob, oauth, access_token="bob-acc", refresh_token="bob-ref")
    response = browser.post(DISCONNECT)
    assert messages_of(response) == [("info", "No TikTok account is connected.")]
    assert Connection.objects.get(pk=bobs.pk).access_token == "bob-acc"


def test_named_client(browser, user, provider, make_client, make_connection):
    first = make_client(base=provider.url)
    second = make_client(base=provider.url)
    keep = make_connection(user, first)
    drop = make_connection(user, second)
    provider.default(REVOKE, Answer(200, {}))
    browser.post(DISCONNECT, {"client": second.slug})
    assert Connection.objects.get(pk=drop.pk).status == Connection.Status.REVOKED
    assert Connection.objects.get(pk=keep.pk).status == Connection.Status.ACTIVE


def test_unknown_client(browser, conn, provider):
    response = browser.post(DISCONNECT, {"client": "nope"})
    assert response.status_code == 404
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.ACTIVE


@pytest.mark.parametrize("bad_next", ["https://evil.example/", "//evil.example",
                                      "/\\evil.example", "javascript:alert(1)"])
def test_unsafe_next_is_ignored(browser, conn, provider, bad_next):
    provider.default(REVOKE, Answer(200, {}))
    with override_settings(EULER_OAUTH_SUCCESS_URL="/home/"):
        response = browser.post(DISCONNECT, {"next": bad_next})
    assert response["Location"] == "/home/"


@pytest.mark.parametrize("answer, level, says", [
    (Answer(200, {"code": 200, "message": "OK"}), "success", "Disconnected @viewer."),
    (Answer(503, "down"), "warning", "Disconnected @viewer here, but Euler Stream could not "
                                     "be reached"),
])
def test_the_message_names_the_account_disconnected(browser, user, oauth, make_connection,
                                                    provider, answer, level, says):
    """With several accounts, "your TikTok account was disconnected" said not which."""
    make_connection(user, oauth, external_username="streamer", external_id="7001")
    viewer = make_connection(user, oauth, external_username="viewer", external_id="7002")
    provider.default(REVOKE, answer)
    response = browser.post(DISCONNECT, {"connection": viewer.pk})
    [(shown_level, text)] = messages_of(response)
    assert shown_level == level and text.startswith(says), text
    assert list(Connection.objects.exclude(status=Connection.Status.REVOKED)
                .values_list("external_username", flat=True)) == ["streamer"]
