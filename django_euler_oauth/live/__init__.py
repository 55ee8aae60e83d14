"""LIVE events: the site hears the rooms of the TikTok accounts it is connected to.

An opt-in app (``"django_euler_oauth.live"`` in ``INSTALLED_APPS``, the ``[live]`` extra).
The owner of a connection chooses to listen to its room (:func:`start`, :func:`stop`; the
accounts page's button, an admin action). Relay processes (``manage.py euler_oauth_live``,
:mod:`~django_euler_oauth.live.relay`) share the listened-to rooms through the database,
hold one socket to Euler's WebSocket service per room, and deliver each event as a
:class:`LiveEvent`: through the ``live_event`` signal and, with Django Channels, to the
channel layer group of its connection, which the browser consumer
(:mod:`~django_euler_oauth.live.routing`) forwards in Euler's own frame format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .events import LiveEvent

if TYPE_CHECKING:
    from django_euler_oauth.models import Connection

    from .models import Listening

__all__ = ["LiveEvent", "start", "stop"]


def start(connection: Connection) -> Listening:
    """Listen to ``connection``'s LIVE room from now on (a relay takes it within seconds).

    Raises ``ValueError`` when the connection is not active or its TikTok account is
    unknown (the client does not fetch userinfo): there is no room to name."""
    # Imported here: this package is imported while Django loads its apps, before models.
    from .listening import start as _start

    return _start(connection)


def stop(connection: Connection) -> bool:
    """Stop listening to ``connection``'s room; its relay closes the socket within
    seconds. False when it was not listened to."""
    from .listening import stop as _stop

    return _stop(connection)
