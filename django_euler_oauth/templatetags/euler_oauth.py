"""Template filters: ``{% load euler_oauth %}``.

``{{ connection.access_time_left|time_left }}`` shows a remaining lifetime the
way the admin does: "29 days 23 h", "59 min", "expired", or "—" when unknown.
``{{ entry.created_at|when }}`` shows a moment the one way the app's pages do:
"2026-05-04 13:05 UTC" (in the current time zone, which it names).
``{{ scope|euler_scope_text }}`` says what a scope allows, in plain words.
"""

from __future__ import annotations

import datetime

from django import template
from django.utils.dateformat import format as date_format
from django.utils.timezone import is_aware, localtime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from ..scopes import describe_scope

register = template.Library()


@register.filter
def time_left(delta: datetime.timedelta | None) -> str:
    """A remaining lifetime, to the two largest units."""
    if delta is None:
        return "—"
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return _("expired")
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return ngettext("%(n)d day", "%(n)d days", days) % {"n": days} + f" {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


#: The one format of a moment on the app's pages (``when``); the time zone is named.
WHEN_FORMAT = "Y-m-d H:i T"


@register.filter
def when(moment: datetime.datetime | None) -> str:
    """A moment as "2026-05-04 13:05 UTC", in the current time zone; "" for None."""
    if moment is None:
        return ""
    return date_format(localtime(moment) if is_aware(moment) else moment, WHEN_FORMAT).strip()


@register.filter
def euler_scope_text(scope: str) -> str:
    """What ``scope`` allows, in plain words (``django_euler_oauth.scopes``)."""
    return describe_scope(scope)
