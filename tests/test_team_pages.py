"""The team page's end of access, invitations whose access has ended, and the audit
trail's filters, as an owner and a delegate see them."""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
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
    # Each value in plain words: endpoints and outcomes by their labels (a name the
    # endpoint table lacks, as it is).
    for value, label in (("mod", "mod"), ("eve", "eve"), ("mute_room_user", "mute a viewer"),
                         ("send_room_chat", "send a chat message"),
                         ("ban_room_user", "ban_room_user"),
                         ("not_delegated", "refused: not delegated"), ("ok", "done")):
        assert f'<option value="{value}">{label}</option>' in page
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


# -- what a newcomer and a moderator meet on the pages -----------------------------------

def _accept(client: Any, conn: Any, owner: Any, delegate: Any, scopes: str) -> Any:
    _invitation, token = teams.create_invitation(conn, scopes, by=owner)
    client.force_login(delegate)
    return client.post(f"/oauth/team/join/{token}/")


@pytest.mark.django_db
def test_after_accepting_the_way_on_is_start_working(client, team_conn, user, moderator,
                                                     django_user_model):
    accepted = _accept(client, team_conn, user, moderator, "webcast:mute webcast:ban")
    assert accepted.status_code == 302
    assert accepted["Location"] == f"/oauth/team/joined/?connection={team_conn.pk}"
    done = client.get(accepted["Location"])
    html = done.content.decode()
    assert "You are now on the team of @streamer." in html
    assert '<form method="post" action="/oauth/switch/"' in html
    assert f'name="connection" value="{team_conn.pk}"' in html
    assert 'name="next" value="/"' in html
    assert "Start working on @streamer</button>" in html
    assert "Mute viewers in the LIVE." in html and "Ban viewers from the LIVE." in html
    assert "Send chat messages" not in html  # not shared
    # The button's POST makes the account the current one.
    switched = client.post("/oauth/switch/", {"connection": team_conn.pk, "next": "/current/"})
    assert switched["Location"] == "/current/"
    assert client.get("/current/").json()["account"] == "streamer"
    # Anybody else, or a forged value: no button, nobody's account named.
    eve = Client()
    eve.force_login(django_user_model.objects.create_user("eve", "eve@example.com", "pw"))
    for query in (f"?connection={team_conn.pk}", "?connection=x", ""):
        other = eve.get(f"/oauth/team/joined/{query}").content.decode()
        assert "Start working" not in other and "@streamer" not in other
        assert "Invitation accepted" in other


@pytest.mark.django_db
def test_the_accounts_page_says_who_delegated_what(client, team_conn, user, moderator):
    _accept(client, team_conn, user, moderator, "webcast:mute webcast:ban")
    html = " ".join(client.get("/oauth/accounts/").content.decode().split())
    assert "delegated by alice:" in html
    assert ('<code title="Mute viewers in the LIVE.">webcast:mute</code>, '
            '<code title="Ban viewers from the LIVE.">webcast:ban</code>') in html
    client.force_login(user)  # the owner's own row says nothing of the kind
    assert "delegated by" not in client.get("/oauth/accounts/").content.decode()


@pytest.mark.django_db
def test_the_team_page_describes_scopes_and_names_the_link(client, team_conn, user):
    client.force_login(user)
    page = client.get("/oauth/team/").content.decode()
    for words in ("Mute viewers in the LIVE.", "Ban viewers from the LIVE.",
                  "Send chat messages in the LIVE as the account.",
                  "Manage the LIVE&#x27;s filter of sensitive words."):
        assert words in page
    created = _invite(client, team_conn).content.decode()
    section = created.split(f'data-connection="{team_conn.pk}"', 1)[1]
    assert "Invitation link for @streamer" in section.split('id="invitation-link"')[0]
    assert ('<button type="button" class="euler-copy" data-copy="invitation-link" '
            'data-copied="Copied" hidden>Copy</button>') in section
    assert '<script src="/static/django_euler_oauth/copy.js" defer></script>' in created
    assert " style=" not in created and "<style" not in created  # a CSP allows the page


@pytest.mark.django_db
def test_the_audit_trail_in_plain_words(client, team_conn, user, moderator, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    at = datetime.datetime(2026, 1, 15, 12, 30, tzinfo=datetime.timezone.utc)
    for endpoint, outcome in (("mute_room_user", "ok"), ("send_room_chat", "not_delegated"),
                              ("kick_room_user", "expired_token"),
                              ("toggle_room_comments", "TransportError"),
                              ("get_sensitive_words", "something_new")):
        _entry(team_conn, moderator, endpoint, outcome, created_at=at)
    client.force_login(user)
    page = client.get("/oauth/team/audit/").content.decode()
    cells = re.findall(r'<td>([^<]*)</td><td class="euler-audit-target">[^<]*</td>'
                       r'<td class="euler-audit-outcome">([^<]*)</td>', page)
    assert sorted(cells) == sorted([
        ("mute a viewer", "done"), ("send a chat message", "refused: not delegated"),
        ("ban a viewer", "Your connection expired. Please reconnect your TikTok account."),
        ("turn comments on or off",
         "We could not reach Euler Stream. Please try again in a moment."),
        ("list filtered words", "something_new")])
    # One format, the time zone named (here the site's, Berlin in winter).
    assert page.count('">2026-01-15 13:30 CET</time>') == 5
    assert 'class="euler-oauth-main euler-oauth-wide"' in page  # room for the table


@pytest.mark.django_db
def test_the_audit_trail_shows_the_delegates_by_default(client, team_conn, user, moderator):
    _entry(team_conn, user, "get_sensitive_words")  # the owner's own call
    client.force_login(user)
    only_own = client.get("/oauth/team/audit/").content.decode()
    assert 'class="euler-audit-entry"' not in only_own
    assert "Nobody you invited has done anything yet" in only_own
    assert 'name="delegates_only" value="1" checked' in only_own
    _entry(team_conn, moderator, "mute_room_user", target="viewer-7")
    team_only = client.get("/oauth/team/audit/").content.decode()
    assert team_only.count('class="euler-audit-entry"') == 1 and "viewer-7" in team_only
    assert '<option value="alice">' not in team_only  # the owner is not a delegate
    everyone = client.get("/oauth/team/audit/", {"delegates_only": "0"}).content.decode()
    assert everyone.count('class="euler-audit-entry"') == 2
    assert 'name="delegates_only" value="1">' in everyone  # unticked
    # The form sends the hidden "0" and, ticked, the box's "1" after it: the box wins.
    ticked = client.get("/oauth/team/audit/?delegates_only=0&delegates_only=1")
    assert ticked.content.decode().count('class="euler-audit-entry"') == 1


@pytest.mark.django_db
def test_a_delegate_refused_a_view_has_a_way_back(client, team_conn, user, moderator):
    _accept(client, team_conn, user, moderator, "webcast:mute")
    client.post("/oauth/switch/", {"connection": team_conn.pk, "next": "/"})
    refused = client.get("/needs-chat/", HTTP_REFERER="http://testserver/current/?tab=2")
    html = refused.content.decode()
    assert refused.status_code == 403
    assert '<a class="euler-oauth-back" href="/current/?tab=2">Back to where you were</a>' \
        in html
    assert "Send chat messages in the LIVE as the account. <code>webcast:chat</code>" in html
    for referer in ("", "https://elsewhere.example/current/"):  # none, or another site's
        page = client.get("/needs-chat/", HTTP_REFERER=referer).content.decode()
        assert '<a class="euler-oauth-back" href="/">Back to the site</a>' in page


def test_every_endpoint_and_scope_has_plain_words():
    """The audit's labels cover the endpoint table, the descriptions every scope name (the
    spec's and the guide's aliases); the sandbox's permissions screen uses the same words;
    both are translated."""
    from django.utils import translation

    from django_euler_oauth.endpoints import ENDPOINT_LABELS, ENDPOINTS, endpoint_label
    from django_euler_oauth.sandbox import scopes as sandbox_scopes
    from django_euler_oauth.scopes import (
        SCOPE_ALIASES,
        SCOPE_DESCRIPTIONS,
        SPEC_SCOPES,
        describe_scope,
    )

    assert set(ENDPOINT_LABELS) == {endpoint.name for endpoint in ENDPOINTS}
    assert set(SCOPE_DESCRIPTIONS) == set(SPEC_SCOPES) | set(SCOPE_ALIASES)
    assert sandbox_scopes.SCOPE_DESCRIPTIONS is SCOPE_DESCRIPTIONS
    assert endpoint_label("not_an_endpoint") == "not_an_endpoint"
    assert describe_scope("not:a_scope") == ""
    assert team_views.outcome_label("ok") == "done"
    with translation.override("de"):
        assert endpoint_label("mute_room_user") == "einen Zuschauer stummschalten"
        assert describe_scope("webcast:live_check") == "Sehen, ob das Konto LIVE ist."
        assert team_views.outcome_label("not_delegated") == "abgelehnt: nicht freigegeben"
