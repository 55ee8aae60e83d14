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
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_connect_use_admin_disconnect(page):
    sign_in(page)
    connect = page.locator("#connect")
    assert connect.inner_text() == "Connect your TikTok account"
    shot(page, "03-connect-your-tiktok-account")
    connect.click()

    page.wait_for_selector("#sandbox-introduction")
    assert "Example TikTok App" in page.locator("#sandbox-introduction").inner_text()
    shot(page, "04-sandbox-introduction")
    page.get_by_role("link", name="Continue").click()

    page.wait_for_selector("#sandbox-permissions")
    scopes = page.locator("li.scope code").all_inner_texts()
    assert scopes == ["webcast:fetch", "webcast:live_check", "webcast:rankings"]
    shot(page, "05-sandbox-permissions")
    page.get_by_role("link", name="Allow and continue").click()

    page.wait_for_selector("#sandbox-qr")
    qr = page.locator("#qr-image")
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert qr.evaluate("img => img.naturalWidth") > 0  # the browser could draw it
    shot(page, "06-sandbox-qr")
    page.get_by_role("button", name="Simulate scan and confirm on phone").click()

    page.wait_for_selector("#connected-as")
    assert page.locator("#connected-as").inner_text() == "@sandbox_streamer"
    assert page.locator("#connection-status").inner_text() == "Active"
    assert "Your TikTok account @sandbox_streamer is connected." in page.content()
    shot(page, "07-connected")

    page.locator("#call-api").click()
    page.wait_for_selector("#api-result")
    assert '"uniqueId": "sandbox_streamer"' in page.locator("#api-result pre").inner_text()
    shot(page, "08-api-call")

    page.goto("/admin/django_euler_oauth/connection/")
    listing = page.locator("#result_list").inner_text()
    assert "demo" in listing and "@sandbox_streamer" in listing and "Active" in listing
    shot(page, "09-admin-connections")

    page.goto("/")
    page.locator("#disconnect").click()
    page.wait_for_selector("#not-connected")
    assert "Your TikTok account was disconnected." in page.content()
    shot(page, "10-disconnected")


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
