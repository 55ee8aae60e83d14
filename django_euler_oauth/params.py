"""What the app reads from a request it did not build: local ``next`` URLs, primary keys
sent in forms, and hiding credentials a request carries once they are read.

Every view that takes a ``next``, a ``connection`` or a link token goes through here, so a
crafted value (``//evil.example``, ``²``, a key longer than any column) is refused the
same way everywhere.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

#: The longest parameter the app reads (a ``next`` URL, a scope list, a code).
MAX_PARAM_LENGTH = 2048
#: What Django's error reports show for a hidden value; hidden request values read the same.
CLEANSED = "********************"


def safe_next(request: HttpRequest, candidate: str | None) -> str | None:
    """``candidate`` if it is a local URL on this site, else None (no open redirect)."""
    if not candidate or len(candidate) > MAX_PARAM_LENGTH:
        return None
    candidate = candidate.strip()
    if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return None
    if url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return candidate
    return None


def form_pk(raw: str | None) -> int | None:
    """A primary key sent in a form, or None when it is not one (``"²"``, ``"abc"``,
    a value longer than any key): the caller answers 400/404 and changes nothing."""
    if not raw or len(raw) > 19 or not (raw.isascii() and raw.isdigit()):
        return None
    return int(raw)


def hide(request: HttpRequest, *, query: tuple[str, ...] = (), value: str = "") -> None:
    """Mask credentials in ``request`` from here on, once the view has read them.

    Django's error reports (admin mails, the technical 500 page) print ``request.GET``,
    the query string, the path, ``PATH_INFO`` (and the server's raw URI) and the
    resolver's arguments as they are. ``query``: parameters whose values are masked (the
    callback's ``code`` and ``state``); ``value``: a secret masked wherever it appears in
    the path and those places (an invitation link's token).
    """
    if query:
        params = request.GET.copy()
        for name in query:
            if name in params:
                params.setlist(name, [CLEANSED] * len(params.getlist(name)))
        params._mutable = False
        request.GET = params  # type: ignore[assignment]  # immutable again, as Django made it
        request.META["QUERY_STRING"] = params.urlencode(safe="*")
    if not value:
        return
    request.path = request.path.replace(value, CLEANSED)
    request.path_info = request.path_info.replace(value, CLEANSED)
    for key, item in list(request.META.items()):
        if isinstance(item, str) and value in item:
            request.META[key] = item.replace(value, CLEANSED)
    match = request.resolver_match
    if match is not None:
        for kwargs in (match.kwargs, getattr(match, "captured_kwargs", {})):
            for key, item in kwargs.items():
                if item == value:
                    kwargs[key] = CLEANSED
