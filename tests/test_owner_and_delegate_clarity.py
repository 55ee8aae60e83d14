"""What the owner and a delegate are told, and what the audit trail keeps.

An owner whose TikTok session ended is told to reconnect, never to "ask its owner", and no
refused row is written against them; the trail keeps every delegate call and the owner's
calls that change something, not the owner's reads; ``grant`` without ``by=`` says what it
needs; a scope refused before any request does not claim an HTTP status; the request's
lazy connection shows as the connection.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from django_euler_oauth import teams
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import InsufficientScope, NotDelegated, ReauthorizationRequired
from django_euler_oauth.middleware import EulerTokenMiddleware
from django_euler_oauth.models import AuditEntry, Connection

from .support.loopback import Answer

MUTES = "/webcast/rooms/{room}/moderation/mutes"


@pytest.fixture
def conn(oauth: Any, user: Any, make_connection: Any) -> Connection:
    connection: Connection = make_connection(user, oauth, scope="webcast:mute webcast:chat",
                                             external_id="7001", external_username="owner")
    return connection


@pytest.mark.django_db
def test_an_owner_whose_session_ended_is_told_to_reconnect(conn, user, moderator):
    teams.grant(conn, moderator, "webcast:mute", by=user)
    Connection.objects.filter(pk=conn.pk).update(
        status=Connection.Status.REAUTHORIZATION_REQUIRED, access_token="", refresh_token="")
    conn.refresh_from_db()
    with pytest.raises(ReauthorizationRequired):
        EulerAPI(conn, acting_user=user).retrieve_room_muted_users("r1")
    assert not AuditEntry.objects.filter(acting_user=user).exists()
    # A delegate of that connection is refused, as before: the owner must reconnect first.
    with pytest.raises(NotDelegated):
        EulerAPI(conn, acting_user=moderator).retrieve_room_muted_users("r1")


@pytest.mark.django_db
def test_the_trail_keeps_delegate_calls_and_owner_writes_not_owner_reads(
        conn, user, moderator, provider):
    provider.default(MUTES.format(room="r1"), Answer(200, {"code": 200, "response": {}}))
    teams.grant(conn, moderator, "webcast:mute", by=user)
    owner = EulerAPI(conn, acting_user=user)
    owner.retrieve_room_muted_users("r1")  # a read: no row
    assert AuditEntry.objects.count() == 0
    owner.mute_room_user("r1", "7200", duration=5)  # a write: a row
    delegate = EulerAPI(conn, acting_user=moderator)
    delegate.retrieve_room_muted_users("r1")  # a delegate's read: a row
    with pytest.raises(NotDelegated):
        delegate.send_room_chat("r1", "hi")  # refused: a row
    rows = list(AuditEntry.objects.order_by("pk").values_list(
        "acting_user__username", "endpoint", "outcome"))
    assert rows == [("alice", "mute_room_user", "ok"),
                    ("mod", "retrieve_room_muted_users", "ok"),
                    ("mod", "send_room_chat", "not_delegated")]


@pytest.mark.django_db
def test_grant_without_by_says_what_it_needs(conn, moderator):
    with pytest.raises(TypeError, match=r"by=request\.user"):
        teams.grant(conn, moderator, "webcast:mute")  # type: ignore[call-arg]
    assert not conn.delegations.exists()


@pytest.mark.django_db
def test_a_scope_refused_before_any_request_claims_no_http_status(conn):
    with pytest.raises(InsufficientScope) as caught:
        EulerAPI(conn).kick_room_user("r1", "7200")
    assert caught.value.status is None and "HTTP" not in str(caught.value)
    assert caught.value.missing_scope == "webcast:ban"


@pytest.mark.django_db
def test_the_requests_connection_shows_as_the_connection(conn, user):
    request = RequestFactory().get("/")
    request.user = user
    request.session = {}
    EulerTokenMiddleware(lambda r: None).process_request(request)
    assert repr(request.euler_connection) == repr(Connection.objects.get(pk=conn.pk))
    assert repr(request.euler_token) == "<a valid access token>"
    assert conn.access_token not in repr(request.euler_token)
