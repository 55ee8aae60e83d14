"""A real browser (Debian's chromium, driven by Playwright) on the example project.

``example_site`` serves the example project with ``run.py --noreload`` on a free
loopback port (once per test module); ``page`` is a Playwright tab on it, skipped when
no chromium is found (``EULER_CHROMIUM``; never a downloaded browser). Both are
registered in ``tests/conftest.py``. :func:`shot` saves a screenshot to
``artifacts/screenshots/``; :func:`authorize_on_sandbox` walks the sandbox's screens.
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

from .example_project import ROOT, RUN, example_env

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


def sign_in_as(page: Any, username: str) -> None:
    """The example's login page, as ``username`` (the demo users share :data:`PASSWORD`)."""
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


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
