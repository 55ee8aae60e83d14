"""The example project walked as a newcomer would, in a real browser against the sandbox.

The demo user connects two TikTok accounts, switches between them on the accounts page
(each time the home card and the LIVE console show the account switched to), disconnects
one from the home page (the confirmation names it; dismissed, nothing changes; accepted,
that account and only that one goes, and the message names it), then invites the second
demo user ("moderator") from the team page. The moderator, in a browser of their own,
accepts, presses "Start working on @sandbox_streamer", sees on the console only what the
invitation allows, and tries something outside it: a friendly refusal with a way back,
never Django's bare 403. A visitor signs up with the account nobody holds. The navigation
fits one line at 1280 px and wraps by groups narrower. Screenshots (``newcomer-*``) in
``artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .support.browser import (
    DEMO_SCOPES,
    WAIT_MS,
    authorize_on_sandbox,
    messages_text,
    shot,
    sign_in_as,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHARED = ["webcast:mute", "webcast:ban", "webcast:sensitive_words"]
#: The console's panels and buttons, and which a moderator given SHARED may see.
ALLOWED = ["#moderation", "#words", "#mute", "#unmute", "#kick", "#unban", "#add-word"]
NOT_ALLOWED = ["#chat", "#enable-chat", "#live", "#events", "#comments", "#comments-off",
               "#earnings", "#analytics"]


def header(page: Any) -> str:
    return " ".join(page.locator("nav[aria-label=Site]").inner_text().split())


def top(page: Any, selector: str) -> float:
    return float(page.locator(selector).first.bounding_box()["y"])


def one_line_navigation(page: Any) -> bool:
    """At 1280 px: "Sign out" beside the brand (it sat alone on a second line), and who is
    signed in, working as which account, shown whole."""
    return (abs(top(page, "nav .brand") - top(page, "nav button.link")) < 8
            and page.locator("nav[aria-label=Site]").bounding_box()["height"] < 60
            and page.locator("nav .who").evaluate("who => who.scrollWidth <= who.clientWidth"))


def account_row(page: Any, handle: str) -> Any:
    return page.locator(".euler-oauth-account", has_text=f"@{handle}")


def listed_handles(page: Any) -> list[str]:
    return sorted(text.strip() for text in
                  page.locator(".euler-oauth-account strong").all_inner_texts())


def switch_to(page: Any, handle: str) -> None:
    page.goto("/oauth/accounts/")
    account_row(page, handle).get_by_role("button", name="Switch to this account").click()
    page.wait_for_url("**/oauth/accounts/")
    assert messages_text(page) == f"You are now working with @{handle}."


def shows(page: Any, selector: str) -> bool:
    return page.locator(selector).count() > 0


def test_a_newcomer_connects_switches_disconnects_and_invites_a_moderator(page, example_site):
    sign_in_as(page, "demo")
    assert one_line_navigation(page)
    shot(page, "newcomer-01-home")

    # Two accounts: @sandbox_streamer from the home page, @sandbox_viewer from the
    # accounts page.
    page.locator("#connect").click()
    authorize_on_sandbox(page, "newcomer-02", DEMO_SCOPES, account="sandbox_streamer")
    page.wait_for_selector("#connected-as")
    assert page.locator("#connected-as").inner_text() == "@sandbox_streamer"
    page.goto("/oauth/accounts/")
    page.get_by_role("link", name="Connect another TikTok account").click()
    authorize_on_sandbox(page, "newcomer-03", DEMO_SCOPES, account="sandbox_viewer")
    page.wait_for_url("**/oauth/accounts/")
    assert listed_handles(page) == ["@sandbox_streamer", "@sandbox_viewer"]
    avatars = page.locator(".euler-oauth-account img")
    assert avatars.count() == 2
    assert all(avatars.nth(n).evaluate("img => img.complete && img.naturalWidth") > 0
               for n in range(2))
    shot(page, "newcomer-04-two-accounts")

    # Switching each way: the home card and the console follow.
    for handle in ("sandbox_streamer", "sandbox_viewer"):
        switch_to(page, handle)
        page.goto("/")
        assert page.locator("#connected-as").inner_text() == f"@{handle}"
        assert f"working as @{handle}" in header(page)
        assert page.locator("#disconnect").inner_text() == f"Disconnect @{handle}"
        assert one_line_navigation(page)
        shot(page, f"newcomer-05-home-{handle}")
        page.goto("/console/")
        assert f"@{handle}" in page.locator("#console-intro").inner_text()
        if handle == "sandbox_streamer":
            assert shows(page, "#moderation") and not shows(page, "#no-room")
        else:  # an account without a LIVE room: said so, no room panels
            assert "has no LIVE room" in page.locator("#no-room").inner_text()
            assert not shows(page, "#moderation") and not shows(page, "#chat")
        shot(page, f"newcomer-06-console-{handle}")

    # Disconnect from the home page: the question names the account shown.
    page.goto("/")
    asked: list[str] = []

    def dismiss(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator("#disconnect").click()
    assert asked and asked[0].startswith("Disconnect @sandbox_viewer?"), asked
    page.goto("/oauth/accounts/")
    assert listed_handles(page) == ["@sandbox_streamer", "@sandbox_viewer"]  # nothing changed
    page.goto("/")

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    with page.expect_navigation():
        page.locator("#disconnect").click()
    assert len(asked) == 2 and asked[1].startswith("Disconnect @sandbox_viewer?")
    assert messages_text(page) == "Disconnected @sandbox_viewer."
    shot(page, "newcomer-07-disconnected")
    page.goto("/oauth/accounts/")
    assert listed_handles(page) == ["@sandbox_streamer"]  # that one, and only that one

    # The team page: each permission in words; the link named by its account, copied.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=example_site)
    page.goto("/oauth/team/")
    team = page.locator("section.euler-team", has_text="@sandbox_streamer")
    assert "Mute viewers in the LIVE." in team.locator("fieldset").inner_text()
    for scope in SHARED:
        team.locator(f"input[name=scope][value='{scope}']").check()
    team.get_by_role("button", name="Create an invitation link").click()
    page.wait_for_selector("#invitation-link")
    box = page.locator(".euler-invitation-link")
    assert "Invitation link for @sandbox_streamer" in box.inner_text()
    link = page.locator("#invitation-link").input_value()
    assert "/oauth/team/join/" in link
    box.get_by_role("button", name="Copy").click()
    box.locator("button.euler-copy", has_text="Copied").wait_for()  # it says so
    assert page.evaluate("navigator.clipboard.readText()") == link
    shot(page, "newcomer-08-invitation-link")

    # The moderator, in a browser of their own.
    moderator_context = page.context.browser.new_context(
        base_url=example_site, viewport={"width": 1280, "height": 800})
    try:
        mod = moderator_context.new_page()
        mod.set_default_timeout(WAIT_MS)
        walk_as_the_moderator(mod, link, example_site)
    finally:
        moderator_context.close()

    # The owner's audit trail: what the moderator did, in words, delegates only.
    page.goto("/oauth/team/audit/")
    rows = [" | ".join(cell.strip() for cell in row.split("\t"))
            for row in page.locator("tr.euler-audit-entry").all_inner_texts()]
    assert rows and all(" | moderator | " in row for row in rows), rows
    assert any("| mute a viewer | 7000000000000000002 | done" in row for row in rows), rows
    assert any("| turn comments on or off |  | refused: not delegated" in row
               for row in rows), rows
    assert any("| send a chat message |  | refused: not delegated" in row
               for row in rows), rows
    assert all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC \| @sandbox_streamer", row)
               for row in rows), rows
    assert page.locator(".euler-audit-scroll").evaluate(
        "box => box.scrollWidth <= box.clientWidth")  # the table fits
    shot(page, "newcomer-14-audit")


def walk_as_the_moderator(mod: Any, link: str, site: str) -> None:
    sign_in_as(mod, "moderator")
    mod.goto(link)
    assert "Mute viewers in the LIVE." in mod.locator("main").inner_text()
    mod.get_by_role("button", name="Accept").click()
    mod.wait_for_url("**/oauth/team/joined/**")
    assert messages_text(mod) == "You are now on the team of @sandbox_streamer."
    shot(mod, "newcomer-09-accepted")
    mod.get_by_role("button", name="Start working on @sandbox_streamer").click()
    mod.wait_for_url(f"{site}/")
    assert mod.locator("#connected-as").inner_text() == "@sandbox_streamer"
    assert "Signed in as moderator, working as @sandbox_streamer" in header(mod)
    assert not shows(mod, "#disconnect")  # the owner's to press, not the moderator's
    shot(mod, "newcomer-10-moderator-home")
    mod.goto("/oauth/accounts/")
    assert "delegated by demo: webcast:mute, webcast:ban, webcast:sensitive_words" in \
        " ".join(account_row(mod, "sandbox_streamer").inner_text().split())

    # The console: only what the invitation allows.
    mod.goto("/console/")
    assert all(shows(mod, selector) for selector in ALLOWED), ALLOWED
    shown = [selector for selector in NOT_ALLOWED if shows(mod, selector)]
    assert shown == [], shown
    assert "Ban viewers from the LIVE." in mod.locator("#shared").inner_text()
    shot(mod, "newcomer-11-moderator-console")
    mod.locator("#mute").click()  # what was shared works
    mod.wait_for_selector(".messages")
    assert messages_text(mod) == "Viewer 7000000000000000002 is muted for 5 minutes."

    # Outside it: a console action the owner did not give (POSTed as a page could).
    mod.evaluate("""() => {
        const form = document.createElement("form");
        form.method = "post"; form.action = "/console/action/";
        const fields = {action: "comments_off", csrfmiddlewaretoken:
            document.querySelector("input[name=csrfmiddlewaretoken]").value};
        for (const [name, value] of Object.entries(fields)) {
            const input = document.createElement("input");
            input.type = "hidden"; input.name = name; input.value = value; form.append(input);
        }
        document.body.append(form); form.submit();
    }""")
    mod.wait_for_load_state()
    mod.wait_for_selector(".messages")
    assert messages_text(mod) == ("That action was refused: You may not do this on this "
                                  "account. Ask its owner for access.")
    assert shows(mod, "#moderation")  # still on the console
    shot(mod, "newcomer-12-action-refused")

    # And a page behind a permission it lacks (chat): the 403 says why, with a way back.
    response = mod.goto("/console/chat/", referer=f"{site}/console/")
    assert response.status == 403
    main = mod.locator("main").inner_text()
    assert "You may not do this on this account" in main
    assert "Send chat messages in the LIVE as the account." in main
    assert "Forbidden" not in main
    shot(mod, "newcomer-13-chat-refused")
    mod.get_by_role("link", name="Back to where you were").click()
    mod.wait_for_url(f"{site}/console/")


def test_a_visitor_signs_up_with_the_account_nobody_holds(page):
    page.goto("/accounts/login/")
    assert "@sandbox_wanderer" in page.locator("main").inner_text()
    page.locator("#sign-in-with-tiktok").click()
    authorize_on_sandbox(page, "newcomer-15-sign-up", DEMO_SCOPES, account="sandbox_wanderer")
    page.wait_for_selector("#current-account")
    assert messages_text(page) == "Welcome, @sandbox_wanderer."
    assert "Signed in as sandbox_wanderer, working as @sandbox_wanderer" in header(page)
    shot(page, "newcomer-16-signed-up")
    # Narrower, the navigation wraps by groups: "Sign out" stays beside who is signed in.
    for width in (1024, 800, 480):
        page.set_viewport_size({"width": width, "height": 800})
        who = page.locator("nav .who").bounding_box()
        sign_out = page.locator("nav button.link").bounding_box()
        middle = sign_out["y"] + sign_out["height"] / 2
        assert who["y"] <= middle <= who["y"] + who["height"], width  # on the same line
        shot(page, f"newcomer-17-nav-{width}")
