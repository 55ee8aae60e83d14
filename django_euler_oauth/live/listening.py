"""Choosing the rooms to listen to, and telling open browser sockets when access ends."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from django_euler_oauth.models import Connection, Delegation
from django_euler_oauth.signals import delegation_revoked, disconnected, reauthorization_required

from .events import group_name
from .models import Listening

logger = logging.getLogger("django_euler_oauth.live")

#: The channel layer message that makes the browser sockets of a connection check again
#: whether their users may still listen (sent when a delegation ends or the account goes).
RECHECK = "live.recheck"


def start(connection: Connection) -> Listening:
    if not connection.is_active:
        raise ValueError(_("This TikTok account is not connected: reconnect it first."))
    if not connection.external_username:
        raise ValueError(_("This TikTok account's handle is unknown, so its LIVE room cannot "
                           "be named."))
    listening, _created = Listening.objects.update_or_create(
        connection=connection,
        defaults={"enabled": True, "state": Listening.State.WAITING, "detail": "",
                  "close_code": None, "started_at": timezone.now()})
    return listening


def stop(connection: Connection) -> bool:
    return bool(Listening.objects.filter(connection=connection, enabled=True).update(
        enabled=False, state=Listening.State.STOPPED, detail=""))


def recheck_sockets(connection_pk: int) -> None:
    """Ask the open browser sockets of ``connection_pk`` to check their access again (after
    commit). Without a channel layer there are none to ask."""
    try:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer
    except ImportError:  # pragma: no cover - the [live] extra is not installed
        return
    layer = get_channel_layer()
    if layer is None:
        return

    def send() -> None:
        try:
            async_to_sync(layer.group_send)(group_name(connection_pk), {"type": RECHECK})
        except Exception as err:  # the channel layer is down: the sockets' own timer rechecks
            logger.warning("Could not ask the LIVE sockets of connection %s to recheck: %s",
                           connection_pk, type(err).__name__)

    transaction.on_commit(send)


def _on_connection_ended(sender: Any, connection: Connection, **kwargs: Any) -> None:
    recheck_sockets(connection.pk)


def _on_delegation_revoked(sender: Any, delegation: Delegation, **kwargs: Any) -> None:
    recheck_sockets(delegation.connection_id)


def connect_signals() -> None:
    disconnected.connect(_on_connection_ended, dispatch_uid="euler_oauth_live.disconnected")
    reauthorization_required.connect(_on_connection_ended,
                                     dispatch_uid="euler_oauth_live.reauthorization_required")
    delegation_revoked.connect(_on_delegation_revoked,
                               dispatch_uid="euler_oauth_live.delegation_revoked")
