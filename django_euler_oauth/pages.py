"""The pages that say why something did not happen: the error page (with a way to try
again), a notice that nothing changed, and the 403 a delegate meets for a scope the owner
did not give. Views, decorators and the team views share them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from .errors import (
    Category,
    EulerOAuthError,
    InvalidScope,
    MalformedResponse,
    Stage,
    TransportError,
    UnknownClient,
)
from .models import Connection
from .params import MAX_PARAM_LENGTH, safe_next
from .scopes import describe


def _provider_description(error: EulerOAuthError) -> str:
    """The provider's own words about ``error``, or "" when the text is ours.

    Errors raised here (state, unknown client, scope refused before asking) and
    failures to reach or understand the provider carry our own wording, which
    is for logs, not for users.
    """
    if error.stage == Stage.LOCAL or isinstance(error, (TransportError, MalformedResponse)):
        return ""
    return error.description


def _sent(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else request.GET


def _retry_url(request: HttpRequest, error: EulerOAuthError,
               retry: dict[str, str] | None) -> str:
    """The authorize URL again, keeping the user's next, client and scope."""
    params = retry if retry is not None else {
        key: _sent(request).get(key, "") for key in ("next", "client", "scope")}
    kept = {key: str(params.get(key) or "")[:MAX_PARAM_LENGTH]
            for key in ("next", "client", "scope")}
    kept["next"] = safe_next(request, kept["next"]) or ""
    if isinstance(error, InvalidScope):
        kept["scope"] = ""  # the same scope would be refused again: ask for the defaults
    query = urlencode({key: value for key, value in kept.items() if value})
    return reverse("euler_oauth:authorize") + (f"?{query}" if query else "")


def _setup_problems(request: HttpRequest, error: EulerOAuthError,
                    retry: dict[str, str] | None) -> list[Any]:
    """With ``DEBUG`` on, what the developer must configure for an unknown client (the
    system checks' own messages); never shown to visitors of a production site."""
    if not settings.DEBUG or not isinstance(error, UnknownClient):
        return []
    from .checks import client_setup_problems

    named = str((retry if retry is not None else _sent(request)).get("client") or "")
    try:
        return client_setup_problems(named[:MAX_PARAM_LENGTH] or None)
    except DatabaseError:
        return []


def error_page(request: HttpRequest, error: EulerOAuthError, *, status: int | None = None,
               retry: dict[str, str] | None = None, **extra: Any) -> HttpResponse:
    """The error page: friendly message, the provider's own words (escaped), a way back.

    ``retry``: the ``next``, ``client`` and ``scope`` of the attempt that failed
    (default: those of the request), kept in the "Try again" link.
    """
    if status is None:
        status = 502 if error.category == Category.RETRY else 400
        if error.category == Category.CONFIGURATION and error.default_status == 404:
            status = 404
    session = getattr(request, "session", None)
    if status >= 500 and session is not None and session.modified:
        # SessionMiddleware does not save on a 5xx: save here, or a consumed state
        # would stay usable (single use) after a provider failure.
        session.save()
    retry_url = _retry_url(request, error, retry)
    home_url = "/"
    next_url = safe_next(request, (retry or _sent(request)).get("next"))
    if error.category == Category.CONFIGURATION:
        heading = _("This TikTok connection is not available")
        retry_url = ""  # trying again cannot help until the site is fixed
    elif request.resolver_match is not None and \
            request.resolver_match.url_name == "disconnect":
        heading = _("We could not disconnect your TikTok account")
        retry_url = ""
    else:
        heading = _("We could not connect your TikTok account")
    context = {
        "error": error,
        "heading": heading,
        "message": error.friendly_message,
        "code": error.code,
        "provider_description": _provider_description(error),
        "category": error.category,
        "retry_url": retry_url,
        "home_url": home_url,
        "back_url": next_url or home_url,
        "setup_problems": _setup_problems(request, error, retry),
        **extra,
    }
    return render(request, "django_euler_oauth/error.html", context, status=status)


def account_notice(request: HttpRequest, heading: str, message: str, status: int, *,
                   back_url: str = "", link_text: str = "", done: bool = False
                   ) -> HttpResponse:
    """A page that says why nothing changed (a refused takeover, sign-up closed, ...), or
    with ``done`` that all is well already; its link (``link_text``, default "Back") goes
    to ``back_url``."""
    return render(request, "django_euler_oauth/notice.html", {
        "heading": heading, "message": message, "back_url": back_url or "/",
        "link_text": link_text, "done": done}, status=status)


def _came_from(request: HttpRequest) -> str | None:
    """The page of this site the request came from (its ``Referer``), else None."""
    parts = urlsplit(request.META.get("HTTP_REFERER", "")[:MAX_PARAM_LENGTH])
    if parts.netloc != request.get_host() or parts.path == request.path:
        return None
    return safe_next(request, urlunsplit(("", "", parts.path, parts.query, "")))


def not_delegated_page(request: HttpRequest, connection: Connection,
                       missing: list[str]) -> HttpResponse:
    """403: the delegate lacks ``missing`` on ``connection`` and must ask its owner; a
    link back to the page they came from (else the site's home)."""
    came_from = _came_from(request)
    context = {"connection": connection, "missing": describe(missing),
               "back_url": came_from or "/", "back_home": came_from is None}
    return render(request, "django_euler_oauth/not_delegated.html", context, status=403)
