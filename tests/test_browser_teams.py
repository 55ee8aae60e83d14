"""Teams in a real browser through the example project against the sandbox.

The demo owner connects, invites the second demo user ("moderator") with mute,
ban and sensitive words only; the moderator accepts, switches to the streamer,
mutes a viewer, is refused chat (the 403 page saying to ask the owner), and the
owner sees both in the audit trail. Screenshots in ``artifacts/screenshots/``.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from .support.browser import (
    DEMO_SCOPES,
    authorize_on_sandbox,
    messages_text,
    shot,
    sign_in_as,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEAM_SCOPES = ["webcast:mute", "webcast:ban", "webcast:sensitive_words"]


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def test_owner_invites_a_moderator_who_mutes_and_is_refused_chat(page):
    sign_in_as(page, "demo")
    page.locator("#connect").click()
    authorize_on_sandbox(page, "teams-01", DEMO_SCOPES)
    page.wait_for_selector("#connected-as")

    page.goto("/oauth/team/")
    for scope in TEAM_SCOPES:
        page.check(f"input[name=scope][value='{scope}']")
    until = datetime.date.today() + datetime.timedelta(days=30)
    page.fill("input[name=until]", until.isoformat())
    page.get_by_role("button", name="Create an invitation link").click()
    link = page.locator("#invitation-link").input_value()
    assert "/oauth/team/join/" in link
    shot(page, "teams-02-invitation-created")
    sign_out(page)

    sign_in_as(page, "moderator")
    page.goto(link)
    joining = page.locator("main").inner_text()
    assert all(scope in joining for scope in TEAM_SCOPES) and "webcast:chat" not in joining
    assert "Your access ends on" in joining
    shot(page, "teams-03-invitation")
    page.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/oauth/team/joined/**")
    page.goto("/oauth/accounts/")
    assert "@sandbox_streamer" in page.locator(".euler-oauth-account-list").inner_text()
    shot(page, "teams-04-accounts")
    page.get_by_role("button", name="Switch to this account").click()
    page.wait_for_load_state()

    page.goto("/console/")
    page.wait_for_selector("#moderation")
    page.locator("#moderation select[name=duration]").select_option("30")
    page.locator("#mute").click()
    page.wait_for_selector(".messages")
    assert messages_text(page) == "Viewer 7000000000000000002 is muted for 30 seconds."
    shot(page, "teams-05-moderator-muted")
    # The console offers no chat to a moderator not given it; the chat page itself is a
    # 403 that says to ask the owner.
    assert page.locator("#enable-chat").count() == 0
    response = page.goto("/console/chat/")
    assert response.status == 403
    assert "Ask the owner" in page.locator("main").inner_text()
    shot(page, "teams-06-chat-refused")
    page.goto("/")
    sign_out(page)

    sign_in_as(page, "demo")
    page.goto("/oauth/team/audit/")
    trail = page.locator("table.euler-audit").inner_text()
    rows = [line for line in trail.splitlines() if "moderator" in line]
    assert any("mute a viewer" in r and "7000000000000000002" in r and "done" in r
               for r in rows), trail
    # Opening the console asked nothing the owner did not share: the only refusal is chat.
    refused = [r for r in rows if "refused: not delegated" in r]
    assert len(refused) == 1 and "send a chat message" in refused[0], trail
    shot(page, "teams-07-audit-trail")
    page.select_option("select[name=delegate]", "moderator")
    page.select_option("select[name=outcome]", "not_delegated")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    assert page.locator("tr.euler-audit-entry").count() == 1
    assert "send a chat message" in page.locator("tr.euler-audit-entry").inner_text()
    shot(page, "teams-08-audit-filtered")
