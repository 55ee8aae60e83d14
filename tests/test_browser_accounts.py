"""Sign in with TikTok and several accounts in a real browser, example project + sandbox.

Sign-up with "Sign in with TikTok" as @sandbox_viewer, sign out and in again (the same
user), a second account (@sandbox_streamer) from the accounts page, switching between
them, disconnecting one and being refused the last one (the user has no password), then
the password user "demo" trying to connect @sandbox_viewer: refused, nothing changed.
Screenshots in ``artifacts/screenshots/``.
"""

from __future__ import annotations

from typing import Any

import pytest

from .support.browser import DEMO_SCOPES, PASSWORD, authorize_on_sandbox, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def header(page: Any) -> str:
    return " ".join(page.locator("nav[aria-label=Site]").inner_text().split())


def sign_in_with_tiktok(page: Any, name: str, account: str) -> None:
    page.goto("/accounts/login/")
    page.locator("#sign-in-with-tiktok").click()
    authorize_on_sandbox(page, name, DEMO_SCOPES, account=account)
    page.wait_for_selector("#current-account")


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


def account_row(page: Any, handle: str) -> Any:
    return page.locator(".euler-oauth-account", has_text=f"@{handle}")


def listed_handles(page: Any) -> list[str]:
    return [text.strip() for text in
            page.locator(".euler-oauth-account strong").all_inner_texts()]


def test_sign_up_sign_in_second_account_switch_and_refusals(page):
    # Sign-up: an account no one here holds gets a user of its own, named after it.
    page.goto("/accounts/login/")
    assert page.locator("#sign-in-with-tiktok").inner_text() == "Sign in with TikTok"
    shot(page, "accounts-01-login")
    sign_in_with_tiktok(page, "accounts-02", "sandbox_viewer")
    assert "Signed in as sandbox_viewer, working as @sandbox_viewer" in header(page)
    shot(page, "accounts-03-signed-up")

    # Sign in again: the same user (no second sign-up), by the account's uid.
    sign_out(page)
    assert "Signed in" not in header(page)
    sign_in_with_tiktok(page, "accounts-04", "sandbox_viewer")
    assert "Signed in as sandbox_viewer, working as @sandbox_viewer" in header(page)
    page.goto("/oauth/accounts/")
    assert listed_handles(page) == ["@sandbox_viewer"]

    # A second account from the accounts page; the newest connected becomes current.
    page.get_by_role("link", name="Connect another TikTok account").click()
    authorize_on_sandbox(page, "accounts-05", DEMO_SCOPES, account="sandbox_streamer")
    page.wait_for_url("**/oauth/accounts/")
    assert sorted(listed_handles(page)) == ["@sandbox_streamer", "@sandbox_viewer"]
    assert page.content().count("Your TikTok account @sandbox_streamer is connected.") == 1
    avatar = account_row(page, "sandbox_streamer").locator("img")
    assert avatar.evaluate("img => img.complete && img.naturalWidth") > 0  # it loaded
    assert "working as @sandbox_streamer" in header(page)
    assert account_row(page, "sandbox_streamer").locator("em").inner_text() == "current"
    shot(page, "accounts-06-two-accounts")

    # Switching, and the choice holds on other pages of the session.
    account_row(page, "sandbox_viewer").get_by_role(
        "button", name="Switch to this account").click()
    page.wait_for_url("**/oauth/accounts/")
    assert "You are now working with @sandbox_viewer." in page.content()
    assert account_row(page, "sandbox_viewer").locator("em").inner_text() == "current"
    page.goto("/")
    assert page.locator("#connected-as").inner_text() == "@sandbox_viewer"
    assert "working as @sandbox_viewer" in header(page)
    shot(page, "accounts-07-switched")

    # Disconnecting one account is fine; the last one is this user's only way in: refused.
    page.goto("/oauth/accounts/")
    account_row(page, "sandbox_streamer").get_by_role("button", name="Disconnect").click()
    page.wait_for_url("**/oauth/accounts/")
    assert listed_handles(page) == ["@sandbox_viewer"]
    account_row(page, "sandbox_viewer").get_by_role("button", name="Disconnect").click()
    page.wait_for_url("**/oauth/accounts/")
    refusal = page.locator(".messages").inner_text()
    assert "only way to sign in" in refusal, refusal
    assert listed_handles(page) == ["@sandbox_viewer"]  # nothing changed
    shot(page, "accounts-08-last-way-in-refused")

    # The password user "demo" tries to connect the account sandbox_viewer holds: refused.
    sign_out(page)
    page.goto("/accounts/login/")
    page.fill("#id_username", "demo")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_selector("#connect")
    page.locator("#connect").click()
    authorize_on_sandbox(page, "accounts-09", DEMO_SCOPES, account="sandbox_viewer")
    page.wait_for_selector("h1:has-text('This TikTok account belongs to another user')")
    notice = page.locator("[role=alert]").inner_text()
    assert "@sandbox_viewer is already connected to another account" in notice
    assert "nothing changed" in notice
    shot(page, "accounts-10-takeover-refused")
    page.goto("/")
    assert page.locator("#connect").count() == 1  # demo still has no connection
    assert "Signed in as demo" in header(page) and "working as" not in header(page)
    page.goto("/oauth/accounts/")
    assert listed_handles(page) == []
