"""A real browser through the example project against the sandbox, on loopback.

Sign in, connect (the sandbox's three screens and a simulated scan), back on the
site connected as @uniqueId, an API call, the admin listing the connection,
disconnect, and the cancel path. A screenshot of each screen goes to
``artifacts/screenshots/``. Uses Debian's chromium (``EULER_CHROMIUM``), never
a downloaded browser.
"""

from __future__ import annotations

from typing import Any

import pytest

from .support.browser import DEMO_SCOPES, PASSWORD, authorize_on_sandbox, messages_text, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def sign_in(page: Any) -> None:
    page.goto("/")
    shot(page, "01-welcome")
    page.get_by_role("link", name="Sign in").first.click()
    page.fill("#id_username", "demo")
    page.fill("#id_password", PASSWORD)
    shot(page, "02-sign-in")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")


def test_connect_use_admin_disconnect(page):
    favicon_misses: list[str] = []
    page.on("response", lambda r: favicon_misses.append(r.url)
            if "favicon" in r.url and r.status >= 400 else None)
    sign_in(page)
    connect = page.locator("#connect")
    assert connect.inner_text() == "Connect your TikTok account"
    shot(page, "03-connect-your-tiktok-account")
    connect.click()
    authorize_on_sandbox(page, "04", DEMO_SCOPES)

    page.wait_for_selector("#connected-as")
    assert page.locator("#connected-as").inner_text() == "@sandbox_streamer"
    assert page.locator("#connection-status").inner_text() == "Active"
    assert "Your TikTok account @sandbox_streamer is connected." in page.content()
    shot(page, "07-connected")

    page.locator("#call-api").click()
    page.wait_for_selector("#api-result")
    assert '"uniqueId": "sandbox_streamer"' in page.locator("#api-result pre").inner_text()
    assert page.url.endswith("/")  # POST/redirect/GET: the result came back on a GET
    shot(page, "08-api-call")
    page.reload()  # reloading sends nothing again and the shown result is gone
    page.wait_for_selector("#connection")
    assert page.locator("#api-result").count() == 0

    # The LIVE console; the chat box needs webcast:chat, which the connection lacks.
    page.get_by_role("link", name="LIVE console").first.click()
    page.wait_for_selector("#events")
    assert page.locator("#send-chat").count() == 0
    shot(page, "12-console-without-chat")
    page.locator("#enable-chat").click()
    authorize_on_sandbox(page, "13-chat", [*DEMO_SCOPES, "webcast:chat"])
    page.wait_for_selector("#send-chat")  # back on the console, the chat box ready
    assert "/console/" in page.url
    page.fill("#chat-content", "Hello from the browser test")
    page.locator("#send-chat").click()
    page.wait_for_selector("#events td")
    assert messages_text(page) == "Your message was sent to your LIVE room."
    assert "Hello from the browser test" in page.locator("#events").inner_text()

    page.locator("#moderation select[name=duration]").select_option("30")
    page.locator("#mute").click()
    page.wait_for_selector(".messages")
    assert messages_text(page) == "Viewer 7000000000000000002 is muted for 30 seconds."
    page.locator("#kick").click()
    page.wait_for_selector(".messages")
    assert messages_text(page) == \
        "Viewer 7000000000000000002 was removed from your LIVE and cannot come back."
    page.fill("#new-word", "spoiler")
    page.locator("#add-word").click()
    page.wait_for_selector("#word-list li")
    assert messages_text(page) == "Comments containing “spoiler” are now hidden."
    assert "spoiler" in page.locator("#word-list").inner_text()
    page.locator("#comments-off").click()
    page.wait_for_selector("#comments-on")
    assert page.locator("#comments-state").inner_text() == "off"
    assert page.locator("#diamonds").inner_text().strip().isdigit()
    assert page.locator("#analytics tbody tr").count() >= 1
    shot(page, "14-console")
    page.get_by_role("button", name="Remove spoiler").click()
    page.wait_for_selector(".messages")
    assert messages_text(page) == "“spoiler” is no longer filtered."
    page.locator("#comments-on").click()
    page.wait_for_selector("#comments-off")

    # Admin: narrow list, read-only detail without Save, revoke asks first.
    page.goto("/admin/django_euler_oauth/connection/")
    listing = page.locator("#result_list").inner_text()
    assert "demo" in listing and "@sandbox_streamer" in listing and "Active" in listing
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.locator("#changelist .results").evaluate("el => el.scrollWidth <= el.clientWidth")
    shot(page, "09-admin-connections")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector("#connection_form")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("input[name=_continue]").count() == 0
    shot(page, "15-admin-connection-detail")
    page.goto("/admin/django_euler_oauth/connection/")
    page.locator("#result_list tbody input.action-select").first.check()
    page.locator("select[name=action]").select_option("revoke")
    page.locator("button[name=index]").click()
    page.wait_for_selector("#revoke-list")
    assert "@sandbox_streamer" in page.locator("#revoke-list").inner_text()
    shot(page, "16-admin-revoke-confirmation")
    page.get_by_role("link", name="No, take me back").click()
    page.wait_for_selector("#result_list")
    assert "Active" in page.locator("#result_list").inner_text()  # nothing was revoked
    page.goto("/admin/django_euler_oauth/oauthclient/")
    page.locator("#result_list tbody tr th a").first.click()
    page.wait_for_selector("#oauthclient_form")
    assert "A secret is stored." in page.locator("#oauthclient_form").inner_text()
    shot(page, "17-admin-oauth-client")

    # The sandbox control page; a fault left there is announced on the site.
    page.goto("/")
    page.get_by_role("link", name="Sandbox controls").click()
    page.wait_for_selector("h1")
    shot(page, "18-sandbox-control")
    page.locator("form:has(input[value=set_latency]) select[name=endpoint]").select_option(
        "retrieve_webcast_user_earnings")
    page.locator("form:has(input[value=set_latency]) input[name=ms]").fill("100")
    page.get_by_role("button", name="Set latency").click()
    page.wait_for_selector(".notice")
    assert page.locator(".notice").inner_text() == \
        "The retrieve_webcast_user_earnings endpoint now answers 100 ms late."
    page.get_by_role("link", name="Back to the site").click()
    page.wait_for_selector("#sandbox-faults")
    assert "“retrieve_webcast_user_earnings” answers 100 ms late" in \
        page.locator("#sandbox-faults").inner_text()
    shot(page, "19-fault-banner")
    page.goto("/sandbox/control/")
    page.get_by_role("button", name="Reset faults and counters").click()
    page.wait_for_selector(".notice")
    page.goto("/")
    assert page.locator("#sandbox-faults").count() == 0

    # The error page, in the site's layout, with a way home.
    page.goto("/oauth/callback/?state=forged&code=x")
    page.wait_for_selector(".euler-oauth-error")
    text = page.locator("main").inner_text()
    assert "This connection attempt has expired" in text and "forged" not in text
    assert page.locator("nav .brand").count() == 1  # the site's navigation
    background = page.locator(".euler-oauth-error").evaluate(
        "el => getComputedStyle(el).borderTopStyle")
    assert background == "solid"  # the static stylesheet applied
    shot(page, "20-error-page")
    page.get_by_role("link", name="Back to the site").click()

    page.goto("/")
    asked: list[str] = []

    def answer(dialog: Any) -> None:  # Disconnect names the account and asks first
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", answer)
    page.locator("#disconnect").click()
    page.wait_for_selector("#not-connected")
    assert asked and "Disconnect @sandbox_streamer?" in asked[0]
    assert "Disconnected @sandbox_streamer." in page.content()
    shot(page, "10-disconnected")
    assert favicon_misses == []


def test_cancel_shows_the_friendly_message(page):
    sign_in(page)
    page.locator("#connect").click()
    page.wait_for_selector("#sandbox-introduction")
    page.get_by_role("link", name="Continue").click()
    page.wait_for_selector("#sandbox-permissions")
    page.get_by_role("button", name="Cancel").click()
    page.wait_for_selector("#not-connected")
    assert page.locator(".messages").inner_text().strip() == \
        "You cancelled the connection. No worries!"
    shot(page, "11-cancelled")
