"""A delegate acts only within what the streamer gave, whatever path the site's code takes.

The documented pattern ``EulerAPI(request.euler_connection)`` is checked and audited as
the delegate; the SDK helper refuses a delegate the owner's token; a delegate's
Disconnect touches nothing of theirs; disconnecting (or a reconnect nobody can vouch
for) ends delegations and withdraws invitations; an invitation whose scopes the account
lost is refused, and its link stays out of error reports; crafted form values are
refused with 400/404, nothing changed. Real HTTP to the sandbox where a call is made.
"""

from __future__ import annotations

import datetime
import importlib.util
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path
from django.utils import timezone

from django_euler_oauth import sdk, teams
from django_euler_oauth.adapter import AccountAdapter
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import NotDelegated
from django_euler_oauth.models import AuditEntry, Connection, Delegation, Invitation
from django_euler_oauth.sandbox import controls

from .support.error_reports import assert_reported
from .support.sandbox_fixtures import SAMPLES, sandbox_db

VIEWER = "7200000000000000009"


def mute_as_current(request: HttpRequest) -> HttpResponse:
    """The README's pattern: the request's connection, no acting_user passed."""
    EulerAPI(request.euler_connection).mute_room_user(SAMPLES["room_id"], VIEWER, duration=5)
    return HttpResponse("muted")


def chat_as_current(request: HttpRequest) -> HttpResponse:
    EulerAPI(request.euler_connection).send_room_chat(SAMPLES["room_id"], "hello")
    return HttpResponse("sent")


def token_of_current(request: HttpRequest) -> HttpResponse:
    try:
        sdk.euler_sdk(request.euler_connection)
    except NotDelegated as err:
        return JsonResponse({"refused": str(err)}, status=403)
    return JsonResponse({"refused": ""})


urlpatterns = [
    path("as-current/mute/", mute_as_current),
    path("as-current/chat/", chat_as_current),
    path("as-current/token/", token_of_current),
    path("", include("tests.urls")),
]

pytestmark = pytest.mark.urls("tests.test_delegate_limits")


def working_on(user: Any, connection: Connection) -> Client:
    """A browser signed in as ``user`` that switched to ``connection``."""
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    answer = browser.post("/oauth/switch/", {"connection": str(connection.pk),
                                              "next": "/current/"})
    assert answer.status_code == 302
    assert browser.get("/current/").json()["pk"] == connection.pk
    return browser


@sandbox_db
def test_the_documented_pattern_acts_as_the_delegate(streamer, user, moderator):
    teams.grant(streamer, moderator, "webcast:mute", by=user)
    browser = working_on(moderator, streamer)

    assert browser.post("/as-current/mute/").status_code == 200
    entry = AuditEntry.objects.latest("pk")
    assert (entry.acting_user, entry.endpoint, entry.outcome, entry.target) == \
        (moderator, "mute_room_user", "ok", VIEWER)

    before, audits = controls.call_counts(), AuditEntry.objects.count()
    assert browser.post("/as-current/chat/").status_code == 403  # NotDelegated
    assert controls.call_counts() == before  # nothing reached the provider
    assert AuditEntry.objects.count() == audits + 1
    refused = AuditEntry.objects.latest("pk")
    assert (refused.acting_user, refused.endpoint, refused.outcome) == \
        (moderator, "send_room_chat", "not_delegated")

    # The owner's token is not handed to a delegate by the SDK helper either.
    answer = browser.get("/as-current/token/")
    assert answer.status_code == 403 and "only for its owner" in answer.json()["refused"]
    # The owner, on their own account, is not a delegate: the same views act as before.
    owner = working_on(user, streamer)
    assert owner.post("/as-current/chat/").status_code == 200
    if importlib.util.find_spec("EulerApiSdk") is not None:  # the SDK needs Python 3.11+
        assert owner.get("/as-current/token/").json() == {"refused": ""}


@sandbox_db
def test_a_delegates_disconnect_touches_nothing(streamer, user, moderator, make_connection):
    own = make_connection(moderator, streamer.client, external_id="mod-own",
                          external_username="mods_own")
    teams.grant(streamer, moderator, "webcast:mute", by=user)
    browser = working_on(moderator, streamer)
    answer = browser.post("/oauth/disconnect/", {"next": "/oauth/accounts/"}, follow=True)
    assert "only its owner can disconnect it" in answer.content.decode()
    assert Connection.objects.get(pk=own.pk).status == Connection.Status.ACTIVE
    assert Connection.objects.get(pk=streamer.pk).status == Connection.Status.ACTIVE
    assert Delegation.objects.live().filter(user=moderator).count() == 1


@sandbox_db
def test_disconnecting_withdraws_pending_invitations(client, streamer, user, moderator):
    _invitation, token = teams.create_invitation(streamer, "webcast:mute", by=user)
    client.force_login(user)
    assert client.post("/oauth/disconnect/", {"connection": str(streamer.pk)}).status_code \
        == 302
    invitation = Invitation.objects.get()
    assert invitation.revoked_at is not None
    mod = Client()
    mod.force_login(moderator)
    refused = mod.post(f"/oauth/team/join/{token}/")
    assert refused.status_code == 410 and b"withdrawn" in refused.content
    assert not Delegation.objects.exists()


@sandbox_db
def test_a_reconnect_of_an_unknown_account_ends_its_team(client, streamer, user, moderator,
                                                        sandbox_browser):
    """Without userinfo nothing says the new tokens are the same TikTok account's."""
    oauth = streamer.client
    Connection.objects.filter(pk=streamer.pk).update(external_id="", external_username="")
    oauth.fetch_userinfo = False
    oauth.save()
    teams.grant(streamer, moderator, "webcast:mute", by=user)
    teams.create_invitation(streamer, "webcast:mute", by=user)
    client.force_login(user)
    started = client.get("/oauth/authorize/", {"client": oauth.slug})
    back = sandbox_browser.authorize(started["Location"], account="sandbox_viewer")
    from .support.sandbox_fixtures import query_of

    assert client.get("/oauth/callback/", query_of(back)).status_code == 302
    assert Connection.objects.filter(user=user).count() == 1  # the one row, new tokens
    assert not Delegation.objects.live().exists()
    assert Invitation.objects.get().revoked_at is not None
    with pytest.raises(NotDelegated):
        EulerAPI(Connection.objects.get(pk=streamer.pk), acting_user=moderator) \
            .mute_room_user(SAMPLES["room_id"], VIEWER, duration=5)


@pytest.mark.django_db
def test_an_invitation_whose_scopes_the_account_lost_is_refused(user, moderator, make_client,
                                                                make_connection):
    conn = make_connection(user, make_client(), scope="webcast:mute webcast:chat")
    _invitation, token = teams.create_invitation(conn, "webcast:chat", by=user)
    Connection.objects.filter(pk=conn.pk).update(scope="webcast:mute")  # re-authorized
    browser = Client(raise_request_exception=False)
    browser.force_login(moderator)
    for answer in (browser.get(f"/oauth/team/join/{token}/"),
                   browser.post(f"/oauth/team/join/{token}/")):
        assert answer.status_code == 410
        assert b"no longer grants" in answer.content
    assert not Delegation.objects.exists()


@pytest.mark.django_db
def test_an_invitation_link_stays_out_of_error_reports(admin_mails, user, moderator,
                                                       make_client, make_connection,
                                                       monkeypatch):
    conn = make_connection(user, make_client(), scope="webcast:mute")
    _invitation, token = teams.create_invitation(conn, "webcast:mute", by=user)

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the site's database fell over")

    monkeypatch.setattr(teams, "accept_invitation", broken)
    browser = Client(raise_request_exception=False)
    browser.force_login(moderator)
    assert browser.post(f"/oauth/team/join/{token}/").status_code == 500
    assert_reported(admin_mails, token)


@pytest.mark.django_db
def test_the_team_pages_fresh_link_stays_out_of_error_reports(admin_mails, user,
                                                               make_client, make_connection,
                                                               monkeypatch):
    from django_euler_oauth import team_views

    conn = make_connection(user, make_client(), scope="webcast:mute")
    made: list[str] = []
    real = teams.create_invitation

    def remembered(*args: Any, **kwargs: Any) -> Any:
        invitation, token = real(*args, **kwargs)
        made.append(token)
        return invitation, token

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the template engine fell over")

    monkeypatch.setattr(teams, "create_invitation", remembered)
    monkeypatch.setattr(team_views, "render", broken)
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    answer = browser.post("/oauth/team/", {"connection": str(conn.pk), "scope": "webcast:mute"})
    assert answer.status_code == 500 and made
    assert_reported(admin_mails, made[0])


@pytest.mark.django_db
def test_crafted_form_values_are_refused_and_change_nothing(user, make_client,
                                                            make_connection, moderator):
    conn = make_connection(user, make_client(), scope="webcast:mute")
    delegation = teams.grant(conn, moderator, "webcast:mute", by=user)
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    for value in ("\u00b2", "\u0661", "abc", "1" * 40):
        assert browser.post("/oauth/switch/", {"connection": value}).status_code == 400
        assert browser.post("/oauth/disconnect/", {"connection": value}).status_code == 400
        assert browser.post("/oauth/team/", {"connection": value,
                                             "scope": "webcast:mute"}).status_code == 404
        assert browser.post("/oauth/team/revoke/", {"delegation": value}).status_code == 404
        assert browser.post("/oauth/team/revoke/", {"invitation": value}).status_code == 404
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.ACTIVE
    assert Delegation.objects.get(pk=delegation.pk).revoked_at is None
    assert not Invitation.objects.exists()


@pytest.mark.django_db
def test_scopes_required_judges_the_current_account(user, make_client, make_connection):
    """With several accounts, the one the session works with decides, not the oldest row."""
    oauth = make_client()
    make_connection(user, oauth, scope="webcast:fetch webcast:chat", external_id="old",
                    status=Connection.Status.REVOKED,
                    connected_at=timezone.now() - datetime.timedelta(days=3))
    newer = make_connection(user, oauth, scope="webcast:chat", external_id="new")
    browser = Client()
    browser.force_login(user)
    assert browser.get("/needs-chat/").content == b"chat ok"
    # A second, older active account without the scope: chosen with switch, it decides.
    other = make_connection(user, oauth, scope="webcast:fetch", external_id="other",
                            connected_at=timezone.now() - datetime.timedelta(days=1))
    browser.post("/oauth/switch/", {"connection": str(other.pk)})
    answer = browser.get("/needs-chat/")
    assert answer.status_code == 302 and "authorize" in answer["Location"]
    browser.post("/oauth/switch/", {"connection": str(newer.pk)})
    assert browser.get("/needs-chat/").content == b"chat ok"


@pytest.mark.django_db
def test_the_last_way_in_counts_only_accounts_that_can_sign_in(user, make_client,
                                                              make_connection):
    user.password = make_password(None)  # no usable password: TikTok is the way in
    user.save()
    oauth = make_client(fetch_userinfo=True, scopes="webcast:fetch user:info")
    signs_in = make_connection(user, oauth, external_id="uid-1", external_username="main")
    unknown_client = make_client()  # no userinfo: its connection names no account
    make_connection(user, unknown_client)
    browser = Client()
    browser.force_login(user)
    answer = browser.post("/oauth/disconnect/", {"client": oauth.slug,
                                                 "connection": str(signs_in.pk),
                                                 "next": "/oauth/accounts/"}, follow=True)
    assert "only way to sign in" in answer.content.decode()
    assert Connection.objects.get(pk=signs_in.pk).status == Connection.Status.ACTIVE


@pytest.mark.django_db
def test_the_api_sends_the_token_only_to_the_clients_host(user, make_client, make_connection):
    conn = make_connection(user, make_client(base="https://tiktok.eulerstream.com"))
    for url in ("https://collector.example/webcast/fetch", "//collector.example/x",
                "http://tiktok.eulerstream.com/webcast/fetch"):
        with pytest.raises(ValueError, match="only on the client's API host"):
            EulerAPI(conn).get(url)


def test_populate_user_drops_control_characters(django_user_model):
    user = django_user_model(username="x")
    AccountAdapter().populate_user(None, user, {"nickName": "Ev\x00il\u202e\x1b[31m Name"})
    assert user.first_name == "Evil[31m Name"
