"""A real browser on the example's LIVE console: a chat arrives as it happens, and the
streamer mutes its author from the feed.

The example runs as its README's command runs it (uvicorn, a relay inside the server,
the sandbox speaking Euler's WebSocket); the chat is a viewer event made through the
sandbox's control API, as a test script or a person on the control page makes it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .support.browser import DEMO_SCOPES, authorize_on_sandbox, messages_text, shot, sign_in_as

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHAT = """async () => {
  const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
  const answer = await fetch("/sandbox/control/api", {method: "POST",
    headers: {"Content-Type": "application/json", "X-CSRFToken": token},
    body: JSON.stringify({action: "viewer_event", unique_id: "sandbox_streamer",
                          kind: "chat", count: 1})});
  return answer.status;
}"""


def test_the_console_hears_a_chat_and_mutes_its_author(page: Any) -> None:
    sign_in_as(page, "demo")
    page.locator("#connect").click()
    authorize_on_sandbox(page, "live-01", DEMO_SCOPES)
    page.wait_for_selector("#connected-as")

    page.goto("/console/")
    page.locator("#live-on").click()
    page.wait_for_selector("#live-off")
    assert "Listening to the LIVE events of @sandbox_streamer" in messages_text(page)
    page.wait_for_function(
        "document.getElementById('live-status').textContent.startsWith('Connected')")
    shot(page, "live-02-listening")

    # The relay joins the room within a tick or two; a chat is then in the feed.
    deadline = time.monotonic() + 30
    while page.locator("#live-feed li form").count() == 0:
        assert time.monotonic() < deadline, "no chat reached the console within 30 s"
        assert page.evaluate(CHAT) == 200
        page.wait_for_timeout(1000)
    item = page.locator("#live-feed li").filter(has=page.locator("form")).first
    who = item.locator(".who").inner_text()
    assert who.startswith("@") and item.locator(".what").inner_text()
    shot(page, "live-03-chat-arrived")

    item.get_by_role("button", name="Mute").click()
    page.wait_for_selector(".messages")
    assert "is muted for 5 minutes." in messages_text(page)
    shot(page, "live-04-muted")
