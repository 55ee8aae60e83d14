"""The audit trail of delegates' calls: what a row holds, the owner's page, the cleanup
command, the team pages (invitations), and the 403 page for a delegate lacking a scope."""

from __future__ import annotations

import datetime

import pytest
from django.core.management import CommandError, call_command
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.utils import timezone

from django_euler_oauth import audit, teams
from django_euler_oauth.decorators import euler_scopes_required
from django_euler_oauth.endpoints import ENDPOINTS_BY_NAME
from django_euler_oauth.errors import InsufficientScope, NotDelegated
from django_euler_oauth.models import AuditEntry, Delegation, Invitation


def test_target_only_for_moderation_calls():
    mute = ENDPOINTS_BY_NAME["mute_room_user"]
    chat = ENDPOINTS_BY_NAME["send_room_chat"]
    assert audit.target_of(mute, {"room_id": "r", "user_id": "v-1"}) == "v-1"
    assert audit.target_of(chat, {"room_id": "r", "content": "secret plan"}) == ""
    assert audit.outcome_of(None) == "ok"
    assert audit.outcome_of(InsufficientScope("x")) == "insufficient_scope"
    assert audit.outcome_of(NotDelegated()) == "not_delegated"


@pytest.mark.django_db
def test_prune_command_keeps_recent_and_refuses_bad_input(team_conn, user, settings):
    old = AuditEntry.objects.create(connection=team_conn, acting_user=user, endpoint="x",
                                    outcome="ok")
    AuditEntry.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - datetime.timedelta(days=10))
    recent = AuditEntry.objects.create(connection=team_conn, acting_user=user, endpoint="x",
                                       outcome="ok")
    for bad in ("0", "abc", "-3", "99999"):
        with pytest.raises(CommandError, match="--days"):
            call_command("euler_oauth_prune_audit", days=bad)
    settings.EULER_OAUTH_AUDIT_RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="EULER_OAUTH_AUDIT_RETENTION_DAYS"):
        call_command("euler_oauth_prune_audit")
    assert AuditEntry.objects.count() == 2
    settings.EULER_OAUTH_AUDIT_RETENTION_DAYS = 30
    call_command("euler_oauth_prune_audit")
    assert AuditEntry.objects.count() == 2
    call_command("euler_oauth_prune_audit", days="7")
    assert list(AuditEntry.objects.all()) == [recent]


@pytest.mark.django_db
def test_owner_sees_the_trail_and_others_do_not(client, team_conn, user, moderator):
    AuditEntry.objects.create(connection=team_conn, acting_user=moderator,
                              endpoint="mute_room_user", outcome="ok", target="viewer-7")
    AuditEntry.objects.create(connection=team_conn, acting_user=moderator,
                              endpoint="send_room_chat", outcome="not_delegated")
    client.force_login(user)
    page = client.get("/oauth/team/audit/").content.decode()
    assert "viewer-7" in page and "not_delegated" in page and "mod" in page
    assert team_conn.access_token not in page and team_conn.refresh_token not in page
    filtered = client.get("/oauth/team/audit/", {"outcome": "ok"}).content.decode()
    assert "<td>mute a viewer</td>" in filtered and "<td>send a chat message</td>" not in filtered
    client.force_login(moderator)
    assert "viewer-7" not in client.get("/oauth/team/audit/").content.decode()


@pytest.mark.django_db
def test_invitation_pages(client, team_conn, user, moderator):
    client.force_login(user)
    page = client.post("/oauth/team/", {"connection": team_conn.pk,
                                        "scope": ["webcast:mute", "webcast:ban"]})
    assert page.status_code == 200
    html = page.content.decode()
    link = html.split('id="invitation-link"')[0].rsplit('value="', 1)[1].split('"')[0]
    path = link.split("testserver", 1)[1]
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert token not in Invitation.objects.get().token_hash
    # Someone else's connection: not found, nothing created.
    client.force_login(moderator)
    assert client.post("/oauth/team/", {"connection": team_conn.pk,
                                        "scope": ["webcast:mute"]}).status_code == 404
    assert Invitation.objects.count() == 1
    assert "webcast:mute" in client.get(path).content.decode()
    assert client.post(path).status_code == 302
    delegation = Delegation.objects.get()
    assert (delegation.user, delegation.scope_list) == (moderator, ["webcast:mute",
                                                                    "webcast:ban"])
    again = client.post(path)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    # The delegate cannot remove themselves from another's team page by guessing pks.
    assert client.post("/oauth/team/revoke/", {"delegation": delegation.pk}).status_code \
        == 404
    client.force_login(user)
    assert "mod" in client.get("/oauth/team/").content.decode()
    assert client.post("/oauth/team/revoke/", {"delegation": delegation.pk}).status_code \
        == 302
    assert Delegation.objects.live().count() == 0


@pytest.mark.django_db
def test_scopes_required_on_a_delegate_is_a_403_saying_ask_the_owner(team_conn, user,
                                                                     moderator):
    teams.grant(team_conn, moderator, "webcast:mute", by=user)
    ran: list[bool] = []

    @euler_scopes_required("webcast:mute", "webcast:chat")
    def view(request: HttpRequest) -> HttpResponse:
        ran.append(True)
        return HttpResponse("ran")

    request = RequestFactory().get("/console/")
    request.user = moderator
    request.euler_connection = team_conn  # type: ignore[attr-defined]
    response = view(request)
    assert response.status_code == 403 and not ran
    assert "Ask the owner" in response.content.decode()
    assert "webcast:chat" in response.content.decode()
    refused = AuditEntry.objects.get()
    assert (refused.acting_user, refused.endpoint, refused.outcome) == \
        (moderator, "send_room_chat", "not_delegated")

    @euler_scopes_required("webcast:mute")
    def mute_view(request: HttpRequest) -> HttpResponse:
        ran.append(True)
        return HttpResponse("ran")

    assert mute_view(request).status_code == 200 and ran


@pytest.mark.django_db
def test_admin_grants_no_delegation_and_trail_is_read_only(admin_browser, team_conn, moderator):
    url = "/admin/django_euler_oauth/delegation/add/"
    refused = admin_browser.post(url, {"connection": team_conn.pk, "user": moderator.pk,
                                       "scopes": "webcast:mute"})
    assert refused.status_code == 403 and Delegation.objects.count() == 0
    entry = AuditEntry.objects.create(connection=team_conn, acting_user=moderator,
                                      endpoint="mute_room_user", outcome="ok")
    listing = admin_browser.get("/admin/django_euler_oauth/auditentry/",
                                {"outcome": "ok"})
    assert listing.status_code == 200 and "mute_room_user" in listing.content.decode()
    assert admin_browser.get("/admin/django_euler_oauth/auditentry/add/").status_code == 403
    change = admin_browser.post(f"/admin/django_euler_oauth/auditentry/{entry.pk}/change/",
                                {"outcome": "forged"})
    assert change.status_code == 403
    entry.refresh_from_db()
    assert entry.outcome == "ok"


@pytest.mark.django_db
def test_a_delegate_cannot_disconnect_or_see_the_owners_tokens(client, team_conn, user, moderator):
    teams.grant(team_conn, moderator, "webcast:mute", by=user)
    stored = team_conn.__class__.objects.filter(pk=team_conn.pk).values().get()
    client.force_login(moderator)
    # Working as the streamer (switch), the delegate asks to disconnect it: by pk and as
    # the current connection. Neither touches the owner's connection or the delegation.
    assert client.post("/oauth/switch/", {"connection": team_conn.pk}).status_code == 302
    for form in ({"connection": team_conn.pk}, {}):
        response = client.post("/oauth/disconnect/", {**form, "next": "/oauth/accounts/"})
        assert response.status_code == 302
    assert team_conn.__class__.objects.filter(pk=team_conn.pk).values().get() == stored
    assert Delegation.objects.live().count() == 1
    page = client.get("/oauth/accounts/").content.decode()
    assert "@streamer" in page and "No TikTok account is connected." in page
    assert ">Disconnect</button>" not in page  # no disconnect form for a delegated one
    for secret in ("access-0", "refresh-0", stored["access_token"], stored["refresh_token"]):
        assert secret not in page


@pytest.mark.django_db
def test_a_delegated_current_connection_never_gives_its_token(client, team_conn, user, moderator):
    teams.grant(team_conn, moderator, "webcast:mute", by=user)
    client.force_login(moderator)
    client.post("/oauth/switch/", {"connection": team_conn.pk})
    seen = client.get("/whoami/").json()
    assert seen["connected"] and not seen["has_token"]  # request.euler_token is falsy
    client.force_login(user)
    assert client.get("/whoami/").json()["has_token"]  # the owner's own reading
