"""A fake account's profile picture: an SVG drawn from its handle, served by the sandbox so
pages showing avatars (the accounts page, the admin) have a real image to load offline.

Two letters and a colour per account, so the demo's accounts tell apart at a glance:
@sandbox_streamer is "St", @sandbox_viewer "Vi" (the last word of the handle), each in
the colour of its place among the accounts (the first six never share one)."""

from __future__ import annotations

import re

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import escape
from django.views.decorators.http import require_GET

from ..models import FakeAccount

#: Dark enough for white letters (contrast 4.5:1 or more).
COLOURS = ("#c2185b", "#00695c", "#5e35b1", "#b45309", "#1565c0", "#2e7d32")


def initials(unique_id: str) -> str:
    """Two letters for a handle: those of its last word ("sandbox_viewer": "Vi")."""
    words = [word for word in re.split(r"[^0-9A-Za-z]+", unique_id) if word]
    word = words[-1] if words else unique_id or "?"
    return word[:1].upper() + word[1:2].lower()


@require_GET
def avatar(request: HttpRequest, unique_id: str) -> HttpResponse:
    account = FakeAccount.objects.filter(unique_id=unique_id).only("pk").first()
    if account is None:
        raise Http404("No such sandbox account.")
    colour = COLOURS[(account.pk - 1) % len(COLOURS)]
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" '
           'viewBox="0 0 100 100">'
           f'<circle cx="50" cy="50" r="50" fill="{colour}"/>'
           '<text x="50" y="50" dy=".35em" text-anchor="middle" font-family="sans-serif" '
           f'font-size="42" font-weight="600" fill="#fff">{escape(initials(unique_id))}'
           '</text></svg>')
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
