"""The LIVE events page's bot runs as printed: ``!hello`` in the room is answered in chat,
as the streamer, through the signal and the awaitable API (against the sandbox)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import django
import pytest

from django_euler_oauth.live import LiveEvent
from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox import controls
from django_euler_oauth.signals import live_event

from .support.sandbox_fixtures import SAMPLES, sandbox_db

PAGE = Path(__file__).resolve().parent.parent / "docs" / "live.md"


def bot_snippet() -> str:
    text = PAGE.read_text()
    section = text[text.index("## The signal: a bot in ten lines"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


@pytest.mark.skipif(django.VERSION < (5, 0), reason="async signal receivers need Django 5.0")
@sandbox_db
def test_the_bot_in_the_docs_answers_hello(streamer: Connection) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(bot_snippet(), str(PAGE), "exec"), namespace)
    try:
        before = controls.call_count("send_room_chat")
        chat = {"common": {"msgId": "m1", "roomId": SAMPLES["room_id"]},
                "user": {"userId": "7100", "uniqueId": "fan"}, "comment": "!hello"}
        live_event.send(sender=Connection, connection=streamer,
                        event=LiveEvent("WebcastChatMessage", chat, streamer.pk, "m1"))
        assert controls.call_count("send_room_chat") == before + 1
        # Anything else is left alone.
        live_event.send(sender=Connection, connection=streamer,
                        event=LiveEvent("WebcastChatMessage", {**chat, "comment": "hi"},
                                        streamer.pk, "m2"))
        assert controls.call_count("send_room_chat") == before + 1
    finally:
        live_event.disconnect(namespace["answer_commands"])
