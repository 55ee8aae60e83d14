"""Teams: delegations and invitations, acting as the streamer, against the sandbox.

Every refusal is counted on the provider side (the sandbox's call counters): it
must send nothing, write a refused audit row, and change no other row.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from django_euler_oauth import signals, teams
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import NotDelegated
from django_euler_oauth.models import AuditEntry, Connection, Delegation, Invitation
from django_euler_oauth.revocation import disconnect
from django_euler_oauth.sandbox import controls

from .support.sandbox_fixtures import SAMPLES, sandbox_db

MODERATION = "webcast:mute webcast:ban webcast:sensitive_words"


def rows() -> dict[str, int]:
    return {"delegations": Delegation.objects.count(),
            "invitations": Invitation.objects.count(),
            "connections": Connection.objects.count()}


def refused_without_request(api: EulerAPI, method: str, *args: Any) -> NotDelegated:
    """Calls ``method`` expecting NotDelegated; asserts the sandbox saw nothing."""
    before = controls.call_counts()
    audits = AuditEntry.objects.count()
    with pytest.raises(NotDelegated) as caught:
        getattr(api, method)(*args)
    assert controls.call_counts() == before
    assert AuditEntry.objects.count() == audits + 1
    entry = AuditEntry.objects.latest("pk")
    assert (entry.endpoint, entry.outcome) == (method, "not_delegated")
    return caught.value


@sandbox_db
def test_delegate_mutes_as_the_streamer_and_is_refused_chat(streamer, user, moderator):
    teams.grant(streamer, moderator, MODERATION, by=user)
    api = EulerAPI(streamer, acting_user=moderator)
    before = controls.call_counts()
    answer = api.mute_room_user(SAMPLES["room_id"], "7200000000000000009", duration=5)
    assert isinstance(answer, dict)
    assert controls.call_counts() != before  # it reached the provider
    entry = AuditEntry.objects.latest("pk")
    assert (entry.acting_user, entry.endpoint, entry.outcome, entry.target) == \
        (moderator, "mute_room_user", "ok", "7200000000000000009")

    err = refused_without_request(api, "send_room_chat", SAMPLES["room_id"], "hi")
    assert isinstance(err, PermissionDenied) and err.missing_scope == "webcast:chat"
    assert not api.allows("send_room_chat") and api.allows("mute_room_user")
    # The owner may use every scope; without acting_user nothing is audited.
    audits = AuditEntry.objects.count()
    EulerAPI(streamer, acting_user=user).send_room_chat(SAMPLES["room_id"], "hi")
    assert AuditEntry.objects.latest("pk").outcome == "ok"
    EulerAPI(streamer).send_room_chat(SAMPLES["room_id"], "hi")
    assert AuditEntry.objects.count() == audits + 1


@sandbox_db
def test_stranger_and_expired_or_revoked_delegation_are_refused(
        streamer, user, moderator, django_user_model):
    stranger = django_user_model.objects.create_user("eve", "eve@example.com", "pw")
    refused_without_request(EulerAPI(streamer, acting_user=stranger), "mute_room_user",
                            SAMPLES["room_id"], "1")
    delegation = teams.grant(streamer, moderator, "webcast:mute", by=user,
                             expires_at=timezone.now() + datetime.timedelta(minutes=5))
    Delegation.objects.filter(pk=delegation.pk).update(  # its end has come since
        expires_at=timezone.now() - datetime.timedelta(seconds=1))
    refused_without_request(EulerAPI(streamer, acting_user=moderator), "mute_room_user",
                            SAMPLES["room_id"], "1")
    delegation = teams.grant(streamer, moderator, "webcast:mute", by=user)
    assert teams.revoke(delegation, by=user) is True
    assert teams.revoke(delegation, by=user) is False
    refused_without_request(EulerAPI(streamer, acting_user=moderator), "mute_room_user",
                            SAMPLES["room_id"], "1")
    assert list(Connection.objects.usable_by(moderator)) == []


@sandbox_db
def test_only_the_owner_grants_and_scopes_are_a_subset(streamer, user, moderator,
                                                       django_user_model):
    teams.grant(streamer, moderator, "webcast:mute", by=user)
    before = rows()
    with pytest.raises(PermissionDenied):  # a delegate cannot re-delegate
        teams.grant(streamer, django_user_model.objects.create_user("x"), "webcast:mute",
                    by=moderator)
    with pytest.raises(PermissionDenied):
        teams.create_invitation(streamer, "webcast:mute", by=moderator)
    with pytest.raises(PermissionDenied):
        teams.revoke(Delegation.objects.get(), by=moderator)
    streamer.scope = "webcast:mute"
    streamer.save(update_fields=["scope"])
    with pytest.raises(ValidationError):
        teams.grant(streamer, moderator, "webcast:mute webcast:chat", by=user)
    with pytest.raises(ValidationError):
        teams.grant(streamer, moderator, "", by=user)
    assert rows() == before
    assert Delegation.objects.get().revoked_at is None


@sandbox_db
def test_invitation_single_use_expiring_revocable(streamer, user, moderator,
                                                  django_user_model):
    granted: list[Delegation] = []

    def on_granted(delegation: Delegation, **_kw: Any) -> None:
        granted.append(delegation)

    signals.delegation_granted.connect(on_granted)
    try:
        invitation, token = teams.create_invitation(streamer, MODERATION, by=user)
        assert token not in invitation.token_hash and len(invitation.token_hash) == 64
        delegation = teams.accept_invitation(token, moderator)
    finally:
        signals.delegation_granted.disconnect(on_granted)
    assert granted == [delegation]
    assert delegation.scope_list == MODERATION.split()
    assert list(Connection.objects.usable_by(moderator)) == [streamer]

    other = django_user_model.objects.create_user("late", "late@example.com", "pw")
    before = rows()
    with pytest.raises(teams.InvitationRefused) as used:
        teams.accept_invitation(token, other)
    assert used.value.code == "used"
    _expired, expired_token = teams.create_invitation(streamer, "webcast:mute", by=user,
                                                     lifetime=0)
    with pytest.raises(teams.InvitationRefused) as late:
        teams.accept_invitation(expired_token, other)
    assert late.value.code == "expired"
    withdrawn, withdrawn_token = teams.create_invitation(streamer, "webcast:mute", by=user)
    assert teams.revoke_invitation(withdrawn, by=user)
    with pytest.raises(teams.InvitationRefused) as gone:
        teams.accept_invitation(withdrawn_token, other)
    assert gone.value.code == "revoked"
    with pytest.raises(teams.InvitationRefused) as bad:
        teams.accept_invitation("not-a-token", other)
    assert bad.value.code == "unknown"
    assert Delegation.objects.count() == before["delegations"]
    assert list(Connection.objects.usable_by(other)) == []


@sandbox_db
def test_owner_disconnecting_ends_delegations_and_refuses_delegates(streamer, user,
                                                                    moderator):
    teams.grant(streamer, moderator, MODERATION, by=user)
    api = EulerAPI(streamer, acting_user=moderator)
    api.mute_room_user(SAMPLES["room_id"], "1")
    ended: list[Delegation] = []

    def on_revoked(delegation: Delegation, **_kw: Any) -> None:
        ended.append(delegation)

    signals.delegation_revoked.connect(on_revoked)
    try:
        disconnect(Connection.objects.get(pk=streamer.pk))
    finally:
        signals.delegation_revoked.disconnect(on_revoked)
    assert len(ended) == 1 and Delegation.objects.live().count() == 0
    # The delegate's API object still holds the old row: the check re-reads nothing it
    # may trust, so refresh it as a new request would and be refused before any request.
    streamer.refresh_from_db()
    refused_without_request(api, "mute_room_user", SAMPLES["room_id"], "1")
    assert list(Connection.objects.usable_by(moderator)) == []


@sandbox_db
def test_delegate_call_refreshes_the_owners_token_once(streamer, user, moderator):
    teams.grant(streamer, moderator, MODERATION, by=user)
    old = streamer.access_token
    tokens_before = controls.call_count("token")
    assert controls.expire_access_tokens(unique_id="sandbox_streamer") == 1
    EulerAPI(streamer, acting_user=moderator).retrieve_room_muted_users(SAMPLES["room_id"])
    assert controls.call_count("token") == tokens_before + 1
    streamer.refresh_from_db()
    assert streamer.access_token != old


@sandbox_db
def test_no_secret_in_any_audit_row(streamer, user, moderator):
    teams.grant(streamer, moderator, MODERATION, by=user)
    api = EulerAPI(streamer, acting_user=moderator)
    api.mute_room_user(SAMPLES["room_id"], "7200000000000000009")
    with pytest.raises(NotDelegated):
        api.send_room_chat(SAMPLES["room_id"], "hi")
    streamer.refresh_from_db()
    secrets = [streamer.access_token, streamer.refresh_token, streamer.client.client_secret,
               streamer.client.api_key]
    dumped = repr(list(AuditEntry.objects.values()))
    for secret in secrets:
        assert secret and secret not in dumped
