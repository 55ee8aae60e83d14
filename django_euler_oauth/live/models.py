"""Which rooms the site listens to, and which relay process holds each one."""

from __future__ import annotations

import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from django_euler_oauth.models import Connection


class ListeningQuerySet(models.QuerySet["Listening"]):
    def wanted(self) -> ListeningQuerySet:
        """Rooms that should have a socket: chosen, and the connection still active."""
        return self.filter(enabled=True, connection__status=Connection.Status.ACTIVE)

    def free(self, now: datetime.datetime | None = None) -> ListeningQuerySet:
        """Wanted rooms nobody holds, or whose holder's lease ran out (a dead relay)."""
        now = now or timezone.now()
        return self.wanted().filter(Q(holder="") | Q(lease_expires_at__lte=now))

    def held_by(self, relay: str) -> ListeningQuerySet:
        return self.filter(holder=relay)


class Listening(models.Model):
    """The owner's choice to hear one connection's LIVE room, and the relay holding it.

    ``holder`` is the relay process holding the room's socket (``host:pid:nonce``) until
    ``lease_expires_at``; each relay renews its leases, so a dead relay's rooms are free
    again within ``EULER_OAUTH_LIVE_LEASE_SECONDS``. ``state`` and ``detail`` say what the
    socket is doing, for the accounts page and the admin (never a key or token).
    """

    class State(models.TextChoices):
        WAITING = "waiting", _("Waiting for a relay")
        CONNECTING = "connecting", _("Connecting")
        LISTENING = "listening", _("Listening")
        NOT_LIVE = "not_live", _("Not LIVE (checking again)")
        BACKING_OFF = "backing_off", _("Too many sockets (backing off)")
        REFUSED = "refused", _("Refused by Euler (check the API key)")
        STOPPED = "stopped", _("Stopped")

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE,
                                      related_name="live_listening",
                                      verbose_name=_("connection"))
    enabled = models.BooleanField(_("listening"), default=True)
    holder = models.CharField(_("relay"), max_length=120, blank=True, db_index=True)
    lease_expires_at = models.DateTimeField(_("lease ends"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=20, choices=State.choices,
                             default=State.WAITING)
    close_code = models.PositiveIntegerField(_("last close code"), null=True, blank=True)
    detail = models.CharField(_("detail"), max_length=300, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ListeningQuerySet.as_manager()

    class Meta:
        verbose_name = _("LIVE listening")
        verbose_name_plural = _("LIVE listening")

    def __str__(self) -> str:
        return f"connection {self.connection_id}: {self.state}"


class Relay(models.Model):
    """A running relay process, seen alive at ``seen_at`` (its heartbeat): the relays
    alive share the wanted rooms evenly."""

    name = models.CharField(max_length=120, unique=True)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("LIVE relay")
        verbose_name_plural = _("LIVE relays")

    def __str__(self) -> str:
        return self.name
