"""A real browser through the example project against the sandbox, on loopback.

Sign in, connect (the sandbox's three screens and a simulated scan), back on the
site connected as @uniqueId, an API call, the admin listing the connection,
disconnect, and the cancel path. A screenshot of each screen goes to
``artifacts/screenshots/``. Uses Debian's chromium (``EULER_CHROMIUM``), never
a downloaded browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from .test_example_project import ROOT, RUN, example_env

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHOTS = ROOT / "artifacts" / "screenshots"
PASSWORD = "browser-test-password"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WAIT_MS = 15_000


def chromium_path() -> str | None:
    candidate = os.environ.get("EULER_CHROMIUM", "/usr/bin/chromium")
    found = candidate if os.path.isfile(candidate) else shutil.which(candidate)
    return found if found and os.access(found, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The example project served by ``run.py --noreload`` on a free loopback port."""
    tmp = tmp_path_factory.mktemp("example")
    port = free_port()
    env = {**example_env(tmp), "EXAMPLE_DEMO_PASSWORD": PASSWORD}
    log = (tmp / "server.log").open("w")
    server = subprocess.Popen([sys.executable, str(RUN), "--port", str(port), "--noreload"],
                              env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                pytest.fail(f"run.py exited: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                if requests.get(base + "/accounts/login/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the example site did not come up within 60 s")
            time.sleep(0.25)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


@pytest.fixture
def page(example_site: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no chromium found (set EULER_CHROMIUM or install Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    failed_before = request.session.testsfailed
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                             headless=True, timeout=WAIT_MS)
        try:
            context = browser.new_context(base_url=example_site,
                                          viewport={"width": 1280, "height": 800})
            tab = context.new_page()
            tab.set_default_timeout(WAIT_MS)
            tab.set_default_navigation_timeout(WAIT_MS)
            yield tab
            if request.session.testsfailed > failed_before:  # keep what the browser saw
                with contextlib.suppress(Exception):
                    tab.screenshot(path=str(SHOTS / f"failed-{request.node.name}.png"))
        finally:
            browser.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any) -> None:
    page.goto("/")
    shot(page, "01-welcome")
    page.get_by_role("link", name="Sign in").first.click()
    page.fill("#id_username", "demo")
    page.fill("#id_password", PASSWORD)
    shot(page, "02-sign-in")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")


DEMO_SCOPES = ["user:info", "webcast:fetch", "webcast:bulk_live_check", "webcast:rankings",
               "webcast:mute", "webcast:ban", "webcast:comments", "webcast:sensitive_words",
               "webcast:moderators", "webcast:live_analytics", "webcast:user_earnings"]


def authorize_on_sandbox(page: Any, name: str, scopes: list[str], account: str = "") -> None:
    """The sandbox's three screens: introduction, permissions, QR (a simulated scan), logging
    in as the TikTok ``account`` chosen on the QR screen (else the first one)."""
    page.wait_for_selector("#sandbox-introduction")
    assert "Example TikTok App" in page.locator("#sandbox-introduction").inner_text()
    shot(page, f"{name}-sandbox-introduction")
    page.get_by_role("link", name="Continue").click()
    page.wait_for_selector("#sandbox-permissions")
    assert page.locator("li.scope code").all_inner_texts() == scopes
    shot(page, f"{name}-sandbox-permissions")
    page.get_by_role("link", name="Allow and continue").click()
    page.wait_for_selector("#sandbox-qr")
    qr = page.locator("#qr-image")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.naturalWidth") > 0  # the browser could draw it
    shot(page, f"{name}-sandbox-qr")
    if account:
        page.select_option("select[name=account]", account)
    page.get_by_role("button", name="Simulate scan and confirm on phone").click()


def messages_text(page: Any) -> str:
    return page.locator(".messages").inner_text().strip()


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
    page.locator("#disconnect").click()
    page.wait_for_selector("#not-connected")
    assert "Your TikTok account was disconnected." in page.content()
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
