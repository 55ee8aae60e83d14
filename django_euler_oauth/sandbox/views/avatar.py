"""A fake account's profile picture: an SVG drawn from its handle, served by the sandbox so
pages showing avatars (the accounts page, the admin) have a real image to load offline."""

from __future__ import annotations

import hashlib

from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import escape
from django.views.decorators.http import require_GET

from ..models import FakeAccount

COLOURS = ("#fe2c55", "#25f4ee", "#7b61ff", "#ff9f1c", "#2ec4b6", "#e71d36")


@require_GET
def avatar(request: HttpRequest, unique_id: str) -> HttpResponse:
    if not FakeAccount.objects.filter(unique_id=unique_id).exists():
        raise Http404("No such sandbox account.")
    colour = COLOURS[hashlib.sha256(unique_id.encode()).digest()[0] % len(COLOURS)]
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100" '
           'viewBox="0 0 100 100">'
           f'<circle cx="50" cy="50" r="50" fill="{colour}"/>'
           '<text x="50" y="50" dy=".35em" text-anchor="middle" font-family="sans-serif" '
           f'font-size="48" fill="#fff">{escape(unique_id[:1].upper())}</text></svg>')
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Cache-Control"] = "public, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response
