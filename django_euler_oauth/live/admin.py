"""What the relays are doing, read-only: which rooms are listened to, by whom, how."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Listening


@admin.register(Listening)
class ListeningAdmin(admin.ModelAdmin):
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
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # stopping is live.stop (the accounts page, the Connection admin)
