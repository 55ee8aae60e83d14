"""refresh_connection / get_access_token against a real HTTP provider on loopback."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.utils import timezone

from django_euler_oauth.errors import (
    ExpiredToken,
    InvalidGrant,
    MalformedResponse,
    NotConnected,
    RateLimited,
    ReauthorizationRequired,
    RetryableError,
    RevokedToken,
    ServerError,
    TemporarilyUnavailable,
    TransportError,
)
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import (
    Outcome,
    get_access_token,
    mark_reauthorization_required,
    refresh_connection,
    refresh_if_expiring,
)

from .support.loopback import Answer, RotatingTokenEndpoint, token_body

TOKEN = "/tiktok/oauth/token"
STORED = ("access_token", "refresh_token", "status", "status_reason", "scope", "expires_at",
          "refresh_expires_at", "refreshed_at")


def raw(pk: int) -> tuple[Any, ...]:
    """The stored row as the database has it (token columns as ciphertext)."""
    return tuple(Connection.objects.filter(pk=pk).values_list(*STORED).get())


def test_refresh_stores_rotation_expiries_and_scope(provider, oauth, user, make_connection,
                                                    recorder):
    endpoint = RotatingTokenEndpoint("refresh-0")
    provider.handle(TOKEN, endpoint)
    conn = make_connection(user, oauth, expires_in=-5)
    before = timezone.now()
    assert get_access_token(conn) == "access-1"
    row = Connection.objects.get(pk=conn.pk)
    assert row.access_token == "access-1" and row.refresh_token == "refresh-1"
    assert before + datetime.timedelta(seconds=3590) < row.expires_at
    assert row.expires_at < timezone.now() + datetime.timedelta(seconds=3610)
    assert row.scope == "webcast:fetch" and row.refreshed_at is not None
    sent = provider.requests_to(TOKEN)[0].form
    assert sent["grant_type"] == "refresh_token" and sent["refresh_token"] == "refresh-0"
    assert recorder.count("token_refreshed") == 1
    # A fresh token costs no more HTTP; the next refresh uses the rotated token.
    assert get_access_token(row) == "access-1"
    assert len(provider.requests_to(TOKEN)) == 1
    refresh_connection(row, force=True)
    assert row.access_token == "access-2"
    assert provider.requests_to(TOKEN)[1].form["refresh_token"] == "refresh-1"
    assert endpoint.rejected == 0 and recorder.count("token_refreshed") == 2


def test_refresh_reads_envelope_scopes_and_refresh_lifetime(provider, oauth, user,
                                                           make_connection):
    body = token_body("acc-e", "ref-e", scope="webcast:fetch user:info", envelope=True,
                      refresh_expires_in=7 * 86400)
    provider.queue(TOKEN, Answer(200, body))
    conn = make_connection(user, oauth, expires_in=-5)
    refresh_connection(conn)
    row = Connection.objects.get(pk=conn.pk)
    assert row.scope == "webcast:fetch user:info" and row.refresh_token == "ref-e"
    left = row.refresh_expires_at - timezone.now()
    assert datetime.timedelta(days=6, hours=23) < left <= datetime.timedelta(days=7)


def test_provider_omitting_refresh_token_keeps_the_old_one_and_its_expiry(
        provider, oauth, user, make_connection):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0", with_refresh_token=False))
    conn = make_connection(user, oauth, expires_in=-5, refresh_in=10 * 86400)
    grant_end = Connection.objects.get(pk=conn.pk).refresh_expires_at
    assert get_access_token(conn) == "access-1"
    row = Connection.objects.get(pk=conn.pk)
    assert row.refresh_token == "refresh-0"
    # The grant's 30 days are not extended by a refresh that says nothing about them.
    assert row.refresh_expires_at == grant_end


def test_fresh_token_needs_no_http(provider, oauth, user, make_connection):
    conn = make_connection(user, oauth, expires_in=3600)
    assert get_access_token(conn) == "access-0"
    assert refresh_connection(conn) is conn
    assert provider.requests_to(TOKEN) == []


def test_token_within_leeway_is_refreshed(provider, oauth, user, make_connection):
    provider.queue(TOKEN, Answer(200, token_body("access-new", "refresh-new")))
    conn = make_connection(user, oauth, expires_in=120)  # leeway is 300 s
    assert get_access_token(conn) == "access-new"


@pytest.mark.parametrize(("code", "cls"), [
    ("invalid_grant", InvalidGrant),
    ("expired_token", ExpiredToken),
    ("revoked_token", RevokedToken),
])
def test_dead_grant_requires_reauthorization_once(code, cls, provider, oauth, user,
                                                  make_connection, recorder):
    provider.queue(TOKEN, Answer(400 if code != "revoked_token" else 401,
                                 {"error": code, "error_description": "dead"}))
    conn = make_connection(user, oauth, expires_in=-5)
    with pytest.raises(cls):
        get_access_token(conn)
    row = Connection.objects.get(pk=conn.pk)
    assert row.status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert row.status_reason == code and conn.status == row.status
    # Later callers learn the same without asking the provider, and no second signal.
    with pytest.raises(cls):
        get_access_token(Connection.objects.get(pk=conn.pk))
    with pytest.raises(ReauthorizationRequired):
        refresh_connection(Connection.objects.get(pk=conn.pk), force=True)
    assert len(provider.requests_to(TOKEN)) == 1
    events = recorder.of("reauthorization_required")
    assert len(events) == 1 and events[0]["reason"] == code
    assert isinstance(events[0]["error"], cls)
    assert recorder.count("refresh_failed") == 0


def test_refresh_token_expired_locally_asks_nothing(provider, oauth, user, make_connection,
                                                    recorder):
    conn = make_connection(user, oauth, expires_in=-5, refresh_in=-1)
    with pytest.raises(ExpiredToken):
        get_access_token(conn)
    assert provider.received == []
    row = Connection.objects.get(pk=conn.pk)
    assert (row.status, row.status_reason) == ("reauthorization_required", "expired_token")
    assert [e["reason"] for e in recorder.of("reauthorization_required")] == ["expired_token"]


TRANSIENT = {
    "timeout": (Answer(200, token_body(), delay=1.5), TransportError),
    "reset": (Answer(reset=True), TransportError),
    "500": (Answer(500, {"error": "server_error"}), ServerError),
    "500-html": (Answer(500, "<html>oops</html>"), ServerError),
    "503-retry-after": (Answer(503, "", headers={"Retry-After": "30"}), TemporarilyUnavailable),
    "429": (Answer(429, {"code": 429, "message": "slow down"},
                   headers={"X-RateLimit-Reset": "5"}), RateLimited),
    "200-html": (Answer(200, "<html>maintenance</html>"), MalformedResponse),
    "temporarily_unavailable": (Answer(400, {"error": "temporarily_unavailable"}),
                                TemporarilyUnavailable),
    "no-access-token": (Answer(200, {"token_type": "Bearer"}), MalformedResponse),
}


@pytest.mark.parametrize("case", sorted(TRANSIENT))
def test_transient_failure_keeps_a_valid_token(case, provider, oauth, user, make_connection,
                                               recorder, settings):
    settings.EULER_OAUTH_HTTP_TIMEOUT = 0.5
    answer, cls = TRANSIENT[case]
    provider.queue(TOKEN, answer)
    conn = make_connection(user, oauth, expires_in=100)  # within leeway, still valid
    before = raw(conn.pk)
    assert get_access_token(conn) == "access-0"
    assert raw(conn.pk) == before
    failed = recorder.of("refresh_failed")
    assert len(failed) == 1 and isinstance(failed[0]["error"], cls)
    assert recorder.count("reauthorization_required") == 0
    assert Connection.objects.get(pk=conn.pk).last_error  # shown in the admin


@pytest.mark.parametrize("case", sorted(TRANSIENT))
def test_transient_failure_with_expired_token_is_retryable(case, provider, oauth, user,
                                                           make_connection, recorder,
                                                           settings):
    settings.EULER_OAUTH_HTTP_TIMEOUT = 0.5
    answer, cls = TRANSIENT[case]
    provider.queue(TOKEN, answer)
    conn = make_connection(user, oauth, expires_in=-10)
    before = raw(conn.pk)
    with pytest.raises(cls) as info:
        get_access_token(conn)
    assert isinstance(info.value, RetryableError) and info.value.is_retryable
    assert raw(conn.pk) == before
    assert conn.status == Connection.Status.ACTIVE
    # The grant lives: the next call asks again and succeeds.
    provider.queue(TOKEN, Answer(200, token_body("access-9", "refresh-9")))
    assert get_access_token(Connection.objects.get(pk=conn.pk)) == "access-9"
    assert recorder.count("refresh_failed") == 1 and recorder.count("token_refreshed") == 1


def test_configuration_error_changes_nothing(provider, oauth, user, make_connection, recorder):
    provider.queue(TOKEN, Answer(401, {"error": "invalid_client"}))
    conn = make_connection(user, oauth, expires_in=-10)
    before = raw(conn.pk)
    with pytest.raises(Exception) as info:
        get_access_token(conn)
    assert getattr(info.value, "code", "") == "invalid_client"
    assert raw(conn.pk) == before and recorder.count("reauthorization_required") == 0


def test_rejected_token_refreshes_only_while_still_stored(provider, oauth, user,
                                                          make_connection):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    conn = make_connection(user, oauth, expires_in=3600)
    refresh_connection(conn, rejected_token="some-older-token")
    assert provider.requests_to(TOKEN) == []
    refresh_connection(conn, rejected_token="access-0")
    assert conn.access_token == "access-1" and len(provider.requests_to(TOKEN)) == 1


def test_rejected_token_transient_failure_raises_even_if_expiry_looks_fine(
        provider, oauth, user, make_connection):
    provider.queue(TOKEN, Answer(500, {"error": "server_error"}))
    conn = make_connection(user, oauth, expires_in=3600)
    with pytest.raises(ServerError):
        refresh_connection(conn, rejected_token="access-0")


def test_revoked_connection_is_not_refreshed(provider, oauth, user, make_connection):
    conn = make_connection(user, oauth, expires_in=-5, status=Connection.Status.REVOKED)
    with pytest.raises(NotConnected):
        get_access_token(conn)
    with pytest.raises(NotConnected):
        refresh_connection(conn, force=True)
    assert provider.received == []


def test_mark_reauthorization_spares_a_replaced_token(oauth, user, make_connection, recorder):
    conn = make_connection(user, oauth)
    assert not mark_reauthorization_required(conn, "invalid_token", rejected_token="old")
    assert Connection.objects.get(pk=conn.pk).status == "active"
    assert mark_reauthorization_required(conn, "invalid_token", rejected_token="access-0")
    assert not mark_reauthorization_required(conn, "invalid_token")
    assert recorder.count("reauthorization_required") == 1


def test_refresh_if_expiring_outcomes(provider, oauth, user, make_connection, django_user_model):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    window = datetime.timedelta(minutes=15)
    expiring = make_connection(user, oauth, expires_in=600)
    assert refresh_if_expiring(expiring.pk, window) == (Outcome.REFRESHED, "")
    assert refresh_if_expiring(expiring.pk, window) == (Outcome.SKIPPED, "")
    assert refresh_if_expiring(10**9, window) == (Outcome.SKIPPED, "")
    other = make_connection(django_user_model.objects.create_user("bob"), oauth,
                            expires_in=-1, refresh_token="unknown")
    assert refresh_if_expiring(other.pk, window) == (Outcome.REAUTHORIZATION_REQUIRED,
                                                     "invalid_grant")
    assert refresh_if_expiring(other.pk, window) == (Outcome.SKIPPED, "")
