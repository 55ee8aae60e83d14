"""Who may sign in with a TikTok account, and what a refusal leaves behind.

A disconnected account is no way in: it never logs in its former user and is free to be
connected again or to sign up afresh. Staff and superusers do not sign in with TikTok
unless the site allows it; the adapter's ``is_login_allowed`` has the last word; a
disabled user's refused sign-in does not make their connection active again. Every
refused sign-in or connect stores nothing and revokes at Euler the grant it just made.
Real HTTP to the sandbox on the loopback live server.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from django_euler_oauth.adapter import AccountAdapter
from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox.models import Grant

from .support.sandbox_fixtures import SANDBOX_DATABASES, SandboxBrowser
from .support.signin import STREAMER, VIEWER, connect, sign_in
from .support.snapshots import stored_snapshot

pytestmark = pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)


class NoOneAdapter(AccountAdapter):
    def is_login_allowed(self, request: Any, user: Any, userinfo: dict[str, Any]) -> bool:
        return False


def live_grants() -> int:
    """Grants the sandbox provider still honours."""
    return Grant.objects.using("euler_sandbox").filter(revoked_at__isnull=True).count()


def signed_in_as(browser: Client) -> str | None:
    return browser.get("/current/").json()["user"]


def signed_up_then_disconnected(client: Client, sandbox_browser: Any) -> Any:
    """Alice signs up with the account, sets a password (so disconnecting it is not her
    last way in) and disconnects it; her user."""
    sign_in(client, sandbox_browser, STREAMER)
    alice = get_user_model().objects.get()
    alice.set_password("a password, so disconnecting is not refused")
    alice.save()
    client.force_login(alice)
    assert client.post("/oauth/disconnect/", {"next": "/current/"}).status_code == 302
    assert Connection.objects.get().status == Connection.Status.REVOKED
    return alice


def test_a_disconnected_account_never_signs_in_its_former_user(client, signin_oauth,
                                                               sandbox_browser):
    alice = signed_up_then_disconnected(client, sandbox_browser)

    # Whoever signs in with the account later is a new user, never Alice.
    stranger = Client()
    with SandboxBrowser() as browser:
        assert sign_in(stranger, browser, STREAMER).status_code == 302
    assert signed_in_as(stranger) not in (None, alice.get_username())
    newcomer = get_user_model().objects.exclude(pk=alice.pk).get()
    live = Connection.objects.get(status=Connection.Status.ACTIVE)
    assert live.user == newcomer and live.external_username == STREAMER
    # Alice's row stays, as history, with no tokens and no claim.
    old = Connection.objects.get(user=alice)
    assert old.status == Connection.Status.REVOKED and not old.access_token


def test_a_disconnected_account_can_be_connected_by_another_user(client, signin_oauth,
                                                                 sandbox_browser,
                                                                 django_user_model):
    alice = signed_up_then_disconnected(client, sandbox_browser)
    bob = django_user_model.objects.create_user("bob", password="pw")
    other = Client()
    other.force_login(bob)
    with SandboxBrowser() as browser:
        assert connect(other, browser, STREAMER).status_code == 302  # not 409
    assert Connection.objects.get(status=Connection.Status.ACTIVE).user == bob
    # Alice's Disconnect finds nothing of hers any more: Bob's connection stays.
    client.force_login(alice)
    client.post("/oauth/disconnect/", {})
    assert Connection.objects.get(user=bob).status == Connection.Status.ACTIVE


def test_a_disconnected_account_with_sign_up_closed_signs_in_no_one(client, signin_oauth,
                                                                    sandbox_browser, settings):
    signed_up_then_disconnected(client, sandbox_browser)
    settings.EULER_OAUTH_SIGNUP = False
    before, grants = stored_snapshot(), live_grants()
    stranger = Client()
    with SandboxBrowser() as browser:
        answer = sign_in(stranger, browser, STREAMER)
    assert answer.status_code == 403 and b"Sign-up is closed" in answer.content
    assert signed_in_as(stranger) is None
    assert stored_snapshot() == before and live_grants() == grants


@pytest.mark.parametrize("kind", ["is_staff", "is_superuser"])
def test_staff_sign_in_with_their_password_unless_the_site_allows(client, signin_oauth,
                                                                   sandbox_browser, settings,
                                                                   kind):
    sign_in(client, sandbox_browser, STREAMER)
    user = get_user_model().objects.get()
    setattr(user, kind, True)
    user.save()
    before, grants = stored_snapshot(), live_grants()
    browser = Client()
    with SandboxBrowser() as provider_browser:
        answer = sign_in(browser, provider_browser, STREAMER)
    assert answer.status_code == 403 and b"Sign in with your password" in answer.content
    assert signed_in_as(browser) is None
    assert stored_snapshot() == before and live_grants() == grants  # stored nothing, revoked it

    settings.EULER_OAUTH_STAFF_SIGN_IN = True
    with SandboxBrowser() as provider_browser:
        assert sign_in(browser, provider_browser, STREAMER).status_code == 302
    assert signed_in_as(browser) == user.get_username()


def test_the_adapter_decides_who_may_sign_in(client, signin_oauth, sandbox_browser, settings):
    sign_in(client, sandbox_browser, STREAMER)
    settings.EULER_OAUTH_ACCOUNT_ADAPTER = "tests.test_sign_in_refusals.NoOneAdapter"
    before = stored_snapshot()
    browser = Client()
    with SandboxBrowser() as provider_browser:
        answer = sign_in(browser, provider_browser, STREAMER)
    assert answer.status_code == 403
    assert b"does not let the account linked to @sandbox_streamer" in answer.content
    assert signed_in_as(browser) is None and stored_snapshot() == before
    # A new account is asked about too: refused, no user is made.
    with SandboxBrowser() as provider_browser:
        assert sign_in(Client(), provider_browser, VIEWER).status_code == 403
    assert get_user_model().objects.count() == 1


def test_a_disabled_users_refused_sign_in_changes_nothing(client, signin_oauth, sandbox_browser):
    sign_in(client, sandbox_browser, STREAMER)
    user = get_user_model().objects.get()
    user.is_active = False
    user.save()
    Connection.objects.update(status=Connection.Status.REAUTHORIZATION_REQUIRED)
    before, grants = stored_snapshot(), live_grants()
    browser = Client()
    with SandboxBrowser() as provider_browser:
        answer = sign_in(browser, provider_browser, STREAMER)
    assert answer.status_code == 403 and b"disabled" in answer.content
    assert stored_snapshot() == before  # not made active again with the new tokens
    assert Connection.objects.get().status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert live_grants() == grants


def test_a_refused_takeover_revokes_the_grant_it_made(client, signin_oauth, sandbox_browser,
                                                     django_user_model):
    sign_in(client, sandbox_browser, STREAMER)
    bob = django_user_model.objects.create_user("bob", password="pw")
    other = Client()
    other.force_login(bob)
    before, grants = stored_snapshot(), live_grants()
    with SandboxBrowser() as browser:
        assert connect(other, browser, STREAMER).status_code == 409
    assert stored_snapshot() == before and live_grants() == grants
