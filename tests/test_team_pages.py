"""The team page's end of access, invitations whose access has ended, and the audit
trail's filters, as an owner and a delegate see them."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from django_euler_oauth import team_views, teams
from django_euler_oauth.models import AuditEntry, Delegation, Invitation


def _invite(client: Any, conn: Any, **extra: Any) -> Any:
    return client.post("/oauth/team/", {"connection": conn.pk, "scope": ["webcast:mute"],
                                        **extra}, follow=True)


def _link(page: Any) -> str:
    html = page.content.decode()
    link = html.split('id="invitation-link"')[0].rsplit('value="', 1)[1].split('"')[0]
    return link.split("testserver", 1)[1]


@pytest.mark.django_db
def test_the_end_of_access_chosen_on_the_team_page_reaches_the_delegation(
        client, team_conn, user, moderator):
    client.force_login(user)
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    page = _invite(client, team_conn, until=tomorrow.isoformat())
    assert page.status_code == 200
    invitation = Invitation.objects.get()
    ends = invitation.delegation_expires_at
    assert ends is not None and timezone.localtime(ends).date() == tomorrow
    assert timezone.localtime(ends).time() == datetime.time.max  # the whole day included
    path = _link(page)
    client.force_login(moderator)
    offer = client.get(path).content.decode()
    assert "Your access ends on" in offer
    assert client.post(path).status_code == 302
    delegation = Delegation.objects.get()
    assert delegation.expires_at == ends and delegation.is_live()


@pytest.mark.django_db
@pytest.mark.parametrize("until, says", [
    ("yesterday", "Enter a valid date."),
    ("2026-02-30", "Enter a valid date."),
    ("past", "The end of access must be in the future."),
    ("far", "Choose an end of access within ten years."),
])
def test_a_bad_end_of_access_is_refused_and_creates_nothing(client, team_conn, user, until,
                                                              says):
    today = timezone.localdate()
    value = {"past": (today - datetime.timedelta(days=1)).isoformat(),
             "far": (today + datetime.timedelta(days=20 * 366)).isoformat()}.get(until, until)
    client.force_login(user)
    page = _invite(client, team_conn, until=value)
    assert page.status_code == 200
    html = page.content.decode()
    assert says in html and 'id="invitation-link"' not in html
    assert Invitation.objects.count() == 0


@pytest.mark.django_db
def test_an_empty_end_of_access_means_until_revoked(client, team_conn, user):
    client.force_login(user)
    _invite(client, team_conn, until="")
    assert Invitation.objects.get().delegation_expires_at is None
    assert team_views.access_end(None) is None


@pytest.mark.django_db
def test_an_invitation_whose_access_has_ended_cannot_be_accepted(client, team_conn, user,
                                                                  moderator):
    soon = timezone.now() + datetime.timedelta(minutes=5)
    _invitation, token = teams.create_invitation(team_conn, "webcast:mute", by=user,
                                                 delegation_expires_at=soon)
    Invitation.objects.update(delegation_expires_at=timezone.now()
                              - datetime.timedelta(seconds=1))
    client.force_login(moderator)
    path = f"/oauth/team/join/{token}/"
    for response in (client.get(path), client.post(path)):
        assert response.status_code == 410
        assert "already ended" in response.content.decode()
    assert Delegation.objects.count() == 0
    assert Invitation.objects.get().used_at is None


@pytest.mark.django_db
def test_a_grant_or_invitation_ending_in_the_past_is_refused(team_conn, user, moderator):
    past = timezone.now() - datetime.timedelta(hours=1)
    with pytest.raises(ValidationError) as grant_err:
        teams.grant(team_conn, moderator, "webcast:mute", by=user, expires_at=past)
    with pytest.raises(ValidationError) as invite_err:
        teams.create_invitation(team_conn, "webcast:mute", by=user, delegation_expires_at=past)
    assert grant_err.value.code == invite_err.value.code == "ends_in_past"
    assert Delegation.objects.count() == 0 and Invitation.objects.count() == 0


@pytest.mark.django_db
def test_the_admin_refuses_to_grant_a_delegation_at_all(admin_browser, team_conn, moderator):
    url = "/admin/django_euler_oauth/delegation/add/"
    past = timezone.localtime() - datetime.timedelta(days=1)
    refused = admin_browser.post(url, {
        "connection": team_conn.pk, "user": moderator.pk, "scopes": "webcast:mute",
        "expires_at_0": past.date().isoformat(), "expires_at_1": "12:00:00"})
    assert refused.status_code == 403
    assert Delegation.objects.count() == 0


def _entry(conn: Any, who: Any, endpoint: str, outcome: str = "ok", **extra: Any) -> Any:
    return AuditEntry.objects.create(connection=conn, acting_user=who, endpoint=endpoint,
                                     outcome=outcome, **extra)


@pytest.mark.django_db
def test_the_audit_filters_offer_what_the_trail_holds(client, team_conn, user, moderator,
                                                      django_user_model):
    other = django_user_model.objects.create_user("eve", "eve@example.com", "pw")
    _entry(team_conn, moderator, "mute_room_user", target="viewer-7")
    _entry(team_conn, moderator, "send_room_chat", "not_delegated")
    _entry(team_conn, other, "ban_room_user", target="viewer-9")
    client.force_login(user)
    page = client.get("/oauth/team/audit/").content.decode()
    for value in ("mod", "eve", "mute_room_user", "send_room_chat", "ban_room_user",
                  "not_delegated"):
        assert f'<option value="{value}">{value}</option>' in page
    mods = client.get("/oauth/team/audit/", {"delegate": "mod"}).content.decode()
    assert "viewer-7" in mods and "viewer-9" not in mods
    assert '<option value="mod" selected>' in mods
    both = client.get("/oauth/team/audit/", {"delegate": "mod", "outcome": "ok"})
    rows = both.content.decode().count('class="euler-audit-entry"')
    assert rows == 1
    unknown = client.get("/oauth/team/audit/", {"endpoint": "forged"}).content.decode()
    assert "Nothing matches these filters." in unknown
    assert '<option value="forged" selected>' in unknown
    assert 'class="euler-audit-entry"' not in unknown


@pytest.mark.django_db
def test_the_audit_page_says_when_it_shows_only_the_newest(client, team_conn, user, moderator,
                                                          monkeypatch):
    monkeypatch.setattr(team_views, "AUDIT_PAGE_SIZE", 3)
    for n in range(4):
        _entry(team_conn, moderator, "mute_room_user", target=f"viewer-{n}")
    client.force_login(user)
    page = client.get("/oauth/team/audit/").content.decode()
    assert page.count('class="euler-audit-entry"') == 3
    assert "The newest 3 entries are shown" in page
    assert "viewer-0" not in page  # the oldest one is the one left out
    narrow = client.get("/oauth/team/audit/", {"outcome": "ok", "delegate": "mod"})
    assert "The newest 3 entries are shown" in narrow.content.decode()
    AuditEntry.objects.filter(target="viewer-0").delete()
    assert "The newest" not in client.get("/oauth/team/audit/").content.decode()
