"""What the relays are doing, read-only: which rooms are listened to, by whom, how."""

from __future__ import annotations

from django.contrib import admin

from django_euler_oauth.admin import ViewOnlyAdmin

from .models import Listening


@admin.register(Listening)
class ListeningAdmin(ViewOnlyAdmin):
    """The listened-to rooms and their sockets' state. Read-only: the owner chooses (the
    accounts page), or staff with the Connection admin's actions."""

    list_display = ("connection", "enabled", "state", "holder", "lease_expires_at",
                    "close_code", "updated_at")
    list_filter = ("enabled", "state")
    search_fields = ("connection__external_username", "connection__user__username",
                     "holder")
    list_select_related = ("connection", "connection__client")
    readonly_fields = ("connection", "enabled", "state", "detail", "close_code", "holder",
                       "lease_expires_at", "started_at", "updated_at")
    fields = readonly_fields  # stopping is live.stop (the accounts page, the Connection admin)
