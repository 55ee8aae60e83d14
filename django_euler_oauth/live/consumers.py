"""The browser's socket for one connection's LIVE events (``live/<connection pk>/``).

:class:`LiveEventsConsumer` sends each event the relay publishes to the connection's
channel layer group (``euler_oauth.live.<pk>``) as one text frame in Euler's own format
with ``bundleEvents`` (``{"messages": [{"type", "data"}, ...]}``), so front-end code
written for Euler's SDK reads it unchanged.

Who may listen: the owner of the connection while it is active, and the delegates whose
live delegation includes ``webcast:fetch`` (:func:`~django_euler_oauth.live.views.may_listen`).
Anyone else is refused before the handshake is accepted: the ASGI server answers the
upgrade with HTTP 403, which a browser reports as an ``error`` event and a ``close`` event
with code 1006 (the 4403 the consumer names never reaches it). Access is checked again
when the group is told to (``live.recheck``: a delegation revoked, the account
disconnected or needing re-authorization) and every few seconds (a delegation that ran
out, a session that ended, a lost recheck): an accepted socket that lost access is closed
with 4403, Euler's own code for "no access to this creator".

The browser sends nothing that matters: its frames are ignored, and a socket sending
large frames or many of them is closed (1009, 1008).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from importlib import import_module
from typing import Any

from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from .events import group_name
from .views import connection_pk as parse_pk
from .views import listenable

logger = logging.getLogger("django_euler_oauth.live")

#: Closes a socket whose user may not listen (or no longer): Euler's "no access to this
#: creator". Sent before the handshake, it becomes the server's HTTP 403.
NO_ACCESS = 4403
#: Closes a socket whose access could not be checked several times in a row (the
#: database is away): "internal error", try again later.
CHECK_FAILED = 1011
#: The browser sent a frame larger than :data:`MAX_INCOMING_FRAME` ("message too big").
TOO_BIG = 1009
#: The browser sent more than :data:`MAX_INCOMING_FRAMES` frames in
#: :data:`INCOMING_WINDOW` seconds ("policy violation").
TOO_MANY = 1008

MAX_INCOMING_FRAME = 4096
MAX_INCOMING_FRAMES = 30
INCOMING_WINDOW = 10.0


class LiveEventsConsumer(AsyncWebsocketConsumer):
    """One browser socket listening to one connection's LIVE events."""

    #: Seconds between two checks of access (each waits 80-120 % of it, so the sockets
    #: of a server do not all ask the database at once).
    recheck_interval: float = 5.0
    #: Failed checks in a row (the database is away) after which the socket is closed.
    max_check_failures: int = 3

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_pk: int | None = None
        self.closed = False
        self._check_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._failures = 0
        self._window_start = 0.0
        self._incoming = 0

    # -- opening -----------------------------------------------------------------------

    async def connect(self) -> None:
        raw = self.scope.get("url_route", {}).get("kwargs", {}).get("connection")
        pk = parse_pk(str(raw) if isinstance(raw, (int, str)) else None)
        if "user" not in self.scope:
            logger.warning("The LIVE socket has no user in its scope: wrap its routes in "
                           "Channels' AuthMiddlewareStack. Refused.")
        user = self.scope.get("user")
        if self.channel_layer is None:
            logger.error("The LIVE socket needs a channel layer (CHANNEL_LAYERS). Refused.")
            await self.close(code=CHECK_FAILED)
            return
        try:
            allowed = await database_sync_to_async(_may_listen)(user, pk)
        except Exception as err:  # the database is away: refuse now, the browser retries
            logger.warning("Could not check access to LIVE events of connection %s: %s",
                           pk, type(err).__name__)
            await self.close(code=CHECK_FAILED)
            return
        if not allowed:
            await self.close(code=NO_ACCESS)
            return
        assert pk is not None
        self.connection_pk = pk
        group = group_name(pk)
        await self.channel_layer.group_add(group, self.channel_name)
        self.groups = [group]  # discarded by websocket_disconnect
        await self.accept()
        self._window_start = time.monotonic()
        self._watcher = asyncio.create_task(self._watch(),
                                            name=f"euler-live-socket-{pk}")

    async def disconnect(self, code: int) -> None:
        self.closed = True
        watcher, self._watcher = self._watcher, None
        if watcher is not None and watcher is not asyncio.current_task():
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    # -- the group's messages ----------------------------------------------------------

    async def live_events(self, event: dict[str, Any]) -> None:
        """A frame of events from the relay: to the browser in Euler's format."""
        messages = event.get("messages")
        if self.closed or not isinstance(messages, list) or not messages:
            return
        text = json.dumps({"messages": messages}, separators=(",", ":"),
                          ensure_ascii=False)
        try:
            await self.send(text_data=text)
        except Exception as err:  # the browser went away meanwhile
            self.closed = True
            logger.debug("LIVE socket of connection %s could not send: %s",
                         self.connection_pk, type(err).__name__)

    async def live_recheck(self, event: dict[str, Any]) -> None:
        """``live.recheck`` (:data:`~django_euler_oauth.live.listening.RECHECK`): access
        may have ended (a delegation revoked, the account disconnected). Check now."""
        await self.check_access()

    # -- what the browser sends --------------------------------------------------------

    async def receive(self, text_data: str | None = None,
                      bytes_data: bytes | None = None) -> None:
        """Ignored; a socket sending large frames or many is closed."""
        if self.closed:
            return
        size = len(text_data) if text_data is not None else len(bytes_data or b"")
        now = time.monotonic()
        if now - self._window_start > INCOMING_WINDOW:
            self._window_start, self._incoming = now, 0
        self._incoming += 1
        if size > MAX_INCOMING_FRAME:
            await self._shut(TOO_BIG)
        elif self._incoming > MAX_INCOMING_FRAMES:
            await self._shut(TOO_MANY)

    # -- checking access again ---------------------------------------------------------

    async def check_access(self) -> None:
        """Close the socket (4403) when its user may no longer listen.

        The user is read again from the session (a logout or a password change ends
        access), the connection and the delegations from the database. A check that
        fails (the database is away) keeps the socket; :attr:`max_check_failures` in a
        row close it (1011)."""
        async with self._check_lock:
            if self.closed:
                return
            try:
                user = await self._current_user()
                allowed = await database_sync_to_async(_may_listen)(user, self.connection_pk)
            except Exception as err:
                self._failures += 1
                logger.warning("Could not check access to LIVE events of connection %s "
                               "(%d in a row): %s", self.connection_pk, self._failures,
                               type(err).__name__)
                if self._failures >= self.max_check_failures:
                    await self._shut(CHECK_FAILED)
                return
            self._failures = 0
            if not allowed:
                await self._shut(NO_ACCESS)

    async def _current_user(self) -> Any:
        session = self.scope.get("session")
        key = getattr(session, "session_key", None) if session is not None else None
        if not key:  # no session middleware (or none yet): the user the scope was given
            return self.scope.get("user")
        store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
        return await get_user({"session": store})

    async def _watch(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.recheck_interval * random.uniform(0.8, 1.2))  # noqa: S311
            await self.check_access()

    async def _shut(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):  # the browser may be gone already
            await self.close(code=code)


def _may_listen(user: Any, pk: int | None) -> bool:
    return listenable(user, pk) is not None
