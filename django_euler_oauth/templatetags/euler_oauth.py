"""Template filters: ``{% load euler_oauth %}``.

``{{ connection.access_time_left|time_left }}`` shows a remaining lifetime the
way the admin does: "29 days 23 h", "59 min", "expired", or "—" when unknown.
"""

from __future__ import annotations

import datetime

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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
