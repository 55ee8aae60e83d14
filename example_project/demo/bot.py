"""A chat-command bot in ten lines: ``!hello`` in a room the site listens to is answered in
chat, as the streamer. The ``live_event`` signal brings the comment; the awaitable API
answers it without blocking (an async receiver: Django runs it for the relay's thread).
"""

from __future__ import annotations

import logging
from typing import Any

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import EulerOAuthError

logger = logging.getLogger("demo.bot")


async def answer_commands(sender: Any, connection: Any, event: Any, **kwargs: Any) -> None:
    if event.type != "WebcastChatMessage" or not str(event.data.get("comment", "")).startswith(
            "!hello"):
        return
    room_id = str(event.data.get("common", {}).get("roomId", ""))
    viewer = event.user.get("uniqueId") or "there"
    try:  # the site's own bot, on a connection it loaded: it acts as the streamer
        await EulerAPI(connection).asend_room_chat(room_id, f"Hello @{viewer}!")
    except EulerOAuthError as err:  # e.g. the streamer has not granted webcast:chat
        logger.info("The bot could not answer in room %s: %s", room_id, err.friendly_message)
