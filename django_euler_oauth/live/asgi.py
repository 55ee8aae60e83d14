"""Running a relay inside the ASGI server's process, for one-process sites.

With Channels' in-memory layer (development, the example project) the relay must run in
the same process as the consumers that forward its events to browsers: wrap the site's
ASGI application with :func:`with_relay` and the server's lifespan starts a
:class:`~django_euler_oauth.live.relay.Relay` on its event loop and stops it (releasing
its rooms) when the server shuts down. With a shared layer (Redis) run relays as their
own processes instead (``manage.py euler_oauth_live``): any number, on any hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .relay import Relay, Timing

logger = logging.getLogger("django_euler_oauth.live")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def with_relay(application: ASGIApp, *, timing: Timing | None = None) -> ASGIApp:
    """``application``, with a relay running on the server's loop between its lifespan's
    startup and shutdown (the server must send lifespan events: uvicorn does by default)."""
    state: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await application(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                relay = Relay(timing=timing)
                state["relay"] = relay
                state["task"] = asyncio.create_task(relay.run(), name="euler-live-relay")
                logger.info("LIVE relay %s runs inside the ASGI server.", relay.name)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                running, task = state.get("relay"), state.get("task")
                if running is not None and task is not None:
                    running.stop()
                    with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                        await asyncio.wait_for(task, timeout=15)
                await send({"type": "lifespan.shutdown.complete"})
                return

    return app
