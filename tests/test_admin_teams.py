"""The admin's part in teams: it revokes delegations but never grants or edits one (the
owner grants, on the team page), and it shows the audit trail without deleting from it."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from django_euler_oauth import teams
from django_euler_oauth.models import AuditEntry, Delegation

DELEGATIONS = "admin:django_euler_oauth_delegation_changelist"
AUDIT = "admin:django_euler_oauth_auditentry_changelist"
EVERY_DELEGATION_PERMISSION = ("add_delegation", "change_delegation", "delete_delegation",
                               "view_delegation")
EVERY_AUDIT_PERMISSION = ("add_auditentry", "change_auditentry", "delete_auditentry",
                          "view_auditentry")
#: Who tries: a superuser, and staff holding every permission on the model.
ADMINS = ["superuser", "staff"]


@pytest.fixture
def login(client: Any, django_user_model: Any) -> Any:
    """``login(kind, *codenames)``: the test client as a superuser, or as staff holding
    exactly the given permissions of this app."""

    def log_in(kind: str, *codenames: str) -> Any:
        if kind == "superuser":
            who = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
        else:
            who = django_user_model.objects.create_user("staff", "staff@example.com", "pw",
                                                        is_staff=True)
            who.user_permissions.set(Permission.objects.filter(
                content_type__app_label="django_euler_oauth", codename__in=codenames))
        client.force_login(who)
        return client

    return log_in


@pytest.fixture
def delegation(team_conn: Any, user: Any, moderator: Any) -> Delegation:
    return teams.grant(team_conn, moderator, "webcast:mute", by=user)


def _row(delegation: Delegation) -> dict[str, Any]:
    return Delegation.objects.filter(pk=delegation.pk).values().get()


def _action_offered(page: Any, action: str) -> bool:
    return f'value="{action}"' in page.content.decode()


# -- delegations: revoked in the admin, never granted or edited there -------------------

@pytest.mark.django_db
@pytest.mark.parametrize("kind", ADMINS)
def test_no_one_grants_a_delegation_in_the_admin(login, team_conn, moderator, kind):
    browser = login(kind, *EVERY_DELEGATION_PERMISSION)
    url = reverse("admin:django_euler_oauth_delegation_add")
    assert browser.get(url).status_code == 403
    refused = browser.post(url, {"connection": team_conn.pk, "user": moderator.pk,
                                 "scopes": "webcast:mute"})
    assert refused.status_code == 403
    assert Delegation.objects.count() == 0
    listing = browser.get(reverse(DELEGATIONS))
    assert listing.status_code == 200 and url not in listing.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ADMINS)
def test_a_delegations_admin_page_is_view_only(login, delegation, user, kind):
    browser = login(kind, *EVERY_DELEGATION_PERMISSION)
    url = reverse("admin:django_euler_oauth_delegation_change", args=[delegation.pk])
    page = browser.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "webcast:mute" in html  # shown, as text
    for control in ('name="_save"', 'name="_continue"', 'name="_addanother"',
                    'name="scopes"', 'name="expires_at_0"', 'name="user"'):
        assert control not in html
    before = _row(delegation)
    later = timezone.localtime() + datetime.timedelta(days=30)
    forged = browser.post(url, {"connection": delegation.connection_id, "user": user.pk,
                                "scopes": "webcast:mute webcast:ban webcast:chat",
                                "expires_at_0": later.date().isoformat(),
                                "expires_at_1": "12:00:00", "_save": "Save"})
    assert forged.status_code == 403
    assert _row(delegation) == before
    # Nor deleted: that would skip the revocation signal and erase who had access.
    delete = reverse("admin:django_euler_oauth_delegation_delete", args=[delegation.pk])
    assert browser.post(delete, {"post": "yes"}).status_code == 403
    assert _row(delegation) == before


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ADMINS)
def test_admins_who_may_change_delegations_revoke_the_selected_ones(login, delegation,
                                                                   kind):
    browser = login(kind, "change_delegation")
    listing = browser.get(reverse(DELEGATIONS))
    assert listing.status_code == 200 and _action_offered(listing, "revoke_selected")
    response = browser.post(reverse(DELEGATIONS), {"action": "revoke_selected",
                                                   "_selected_action": [delegation.pk]},
                            follow=True)
    assert response.status_code == 200
    assert "1 delegation revoked." in response.content.decode()
    delegation.refresh_from_db()
    assert delegation.revoked_at is not None and not delegation.is_live()


@pytest.mark.django_db
def test_staff_who_may_only_view_delegations_cannot_revoke_them(login, delegation):
    browser = login("staff", "view_delegation")
    listing = browser.get(reverse(DELEGATIONS))
    assert listing.status_code == 200 and not _action_offered(listing, "revoke_selected")
    browser.post(reverse(DELEGATIONS), {"action": "revoke_selected",
                                        "_selected_action": [delegation.pk]})
    delegation.refresh_from_db()
    assert delegation.revoked_at is None and delegation.is_live()


# -- the audit trail: viewed and filtered in the admin, never deleted there ---------------

def _entry(conn: Any, who: Any, endpoint: str, outcome: str = "ok") -> AuditEntry:
    return AuditEntry.objects.create(connection=conn, acting_user=who, endpoint=endpoint,
                                     outcome=outcome)


def _listed(endpoint: str, html: str) -> bool:
    """A row of the changelist shows ``endpoint`` (not only a filter's link to it)."""
    return f'class="field-what"><span title="{endpoint}">' in html


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ADMINS)
def test_no_one_deletes_an_audit_entry_in_the_admin(login, team_conn, moderator, kind):
    browser = login(kind, *EVERY_AUDIT_PERMISSION)
    entry = _entry(team_conn, moderator, "mute_room_user")
    url = reverse("admin:django_euler_oauth_auditentry_delete", args=[entry.pk])
    assert browser.get(url).status_code == 403
    assert browser.post(url, {"post": "yes"}).status_code == 403
    listing = browser.get(reverse(AUDIT))
    assert listing.status_code == 200 and not _action_offered(listing, "delete_selected")
    browser.post(reverse(AUDIT), {"action": "delete_selected",
                                  "_selected_action": [entry.pk], "post": "yes"})
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    page = browser.get(reverse("admin:django_euler_oauth_auditentry_change",
                               args=[entry.pk]))
    assert page.status_code == 200 and url not in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ADMINS)
def test_the_audit_trail_is_still_listed_and_filtered_in_the_admin(login, team_conn,
                                                                    moderator, kind):
    browser = login(kind, "view_auditentry")
    _entry(team_conn, moderator, "mute_room_user")
    _entry(team_conn, moderator, "send_room_chat", "not_delegated")
    everything = browser.get(reverse(AUDIT)).content.decode()
    assert _listed("mute_room_user", everything) and _listed("send_room_chat", everything)
    refused = browser.get(reverse(AUDIT), {"outcome": "not_delegated"})
    assert refused.status_code == 200
    assert _listed("send_room_chat", refused.content.decode())
    assert not _listed("mute_room_user", refused.content.decode())


@pytest.mark.django_db
def test_the_audit_changelist_is_narrow_and_in_words(login, team_conn, moderator):
    """Five short columns beside the filters (it overflowed at 1280 px): the handle, not
    the connection's long name; what was done in words, the target under it; the outcome
    in words."""
    browser = login("superuser")
    AuditEntry.objects.create(connection=team_conn, acting_user=moderator,
                              endpoint="mute_room_user", outcome="ok",
                              target="7000000000000000002")
    _entry(team_conn, moderator, "send_room_chat", "not_delegated")
    html = browser.get(reverse(AUDIT)).content.decode()
    headers = re.findall(r'<th scope="col" class="([^"]+)"', html)
    assert len(headers) <= 5, headers  # no checkbox column: no action
    assert "via" not in html.split("<tbody>")[1]  # not "@streamer via slug (active)"
    assert '<td class="field-account">@streamer</td>' in html
    assert ('<td class="field-what"><span title="mute_room_user">mute a viewer</span><br>'
            '<small>7000000000000000002</small></td>') in html
    assert '<td class="field-outcome_text">refused: not delegated</td>' in html
    assert len(re.findall(r'<th class="field-moment"><a href="[^"]+">'
                          r'\d{4}-\d\d-\d\d \d\d:\d\d UTC</a></th>', html)) == 2
