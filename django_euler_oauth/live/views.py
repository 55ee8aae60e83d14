"""The browser's side of LIVE events: a short token for Euler's own WebSocket
(:func:`live_token`), and the owner's switch on the accounts page (:func:`live_start`,
:func:`live_stop`).

Routed always (``django_euler_oauth.urls``), so ``{% url %}`` and ``reverse()`` work on
every site; without ``django_euler_oauth.live`` in ``INSTALLED_APPS`` each answers 404
and says so. Nothing here imports the app's models at module level, nor Channels.

Who may listen to a connection's events, here and on the browser socket
(:mod:`~django_euler_oauth.live.consumers`): its owner while it is active, and the
delegates whose live delegation includes ``webcast:fetch`` (:func:`may_listen`).
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_POST

from django_euler_oauth import teams
from django_euler_oauth.client import ProviderClient
from django_euler_oauth.conf import app_settings
from django_euler_oauth.errors import (
    EulerOAuthError,
    MalformedResponse,
    RetryableError,
    Stage,
    TransportError,
)
from django_euler_oauth.models import Connection
from django_euler_oauth.pages import account_notice
from django_euler_oauth.params import form_pk, safe_next

logger = logging.getLogger("django_euler_oauth.live")

#: The app these views belong to (``INSTALLED_APPS``).
LIVE_APP = "django_euler_oauth.live"
#: The scope a delegate's live delegation must include to hear the room.
LISTEN_SCOPE = "webcast:fetch"
#: Seconds a browser token is good for (Euler advises 60 at most), one socket each.
TOKEN_LIFETIME = 60
#: The features the browser's socket asks for: Euler's bundled frames, schema v2 (the
#: frames the site's own socket sends too).
FEATURES = {"features.bundleEvents": "true", "features.schemaVersion": "v2"}
#: The largest primary key a form or a URL may name (a bigint).
MAX_PK = 2**63 - 1


def connection_pk(raw: str | None) -> int | None:
    """The connection id a form or a URL names, or None when it is no key at all."""
    pk = form_pk(raw)
    return pk if pk is not None and 0 < pk <= MAX_PK else None


def installed() -> bool:
    """Whether ``django_euler_oauth.live`` is in ``INSTALLED_APPS``."""
    return apps.is_installed(LIVE_APP)


def may_listen(user: Any, connection: Connection) -> bool:
    """Whether ``user`` may hear ``connection``'s LIVE events: its owner while it is
    active, or a delegate whose live delegation includes ``webcast:fetch``."""
    if not getattr(user, "is_authenticated", False) or not connection.is_active:
        return False
    if user.pk == connection.user_id:
        return True
    return teams.may_use(user, connection, [LISTEN_SCOPE])


def listenable(user: Any, pk: int | None, *, with_client: bool = False) -> Connection | None:
    """The connection ``pk`` if ``user`` may hear its events (:func:`may_listen`), else
    None: unknown, inactive, not theirs, or an id that is no key at all."""
    if pk is None or not 0 < pk <= MAX_PK or not getattr(user, "is_authenticated", False):
        return None
    rows = Connection.objects.filter(pk=pk)
    if with_client:
        rows = rows.select_related("client")
    else:  # the socket's recheck: no tokens decrypted, no client read
        rows = rows.only("id", "user_id", "client_id", "status", "scope")
    connection = rows.first()
    if connection is None or not may_listen(user, connection):
        return None
    return connection


def _refusal(status: int, code: str, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": code, "message": message}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _not_installed() -> JsonResponse:
    return _refusal(404, "live_not_installed",
                    _("LIVE events are not enabled on this site."))


def _wait_for_token(user: Any) -> int:
    """Seconds ``user`` must wait before the next token (0: go ahead), counting this one.

    ``EULER_OAUTH_LIVE_TOKEN_RATE`` tokens a minute per user, in Django's cache (one
    counter per user and minute: shared by every process when the cache is)."""
    now = time.time()
    window = int(now // 60)
    key = f"euler_oauth:live_token:{user.pk}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    if count <= app_settings.LIVE_TOKEN_RATE:
        return 0
    return max(1, math.ceil((window + 1) * 60 - now))


def _provider_words(error: EulerOAuthError) -> str:
    """Euler's own description of a refusal (redacted), or "" when the text is ours."""
    if error.stage == Stage.LOCAL or isinstance(error, (TransportError, MalformedResponse)):
        return ""
    return error.description


@sensitive_variables()
def socket_url(websocket_url: str, handle: str, token: str) -> str:
    """Euler's WebSocket URL for ``handle``'s room with the browser token ``token``."""
    parts = urlsplit(websocket_url)
    query = [*parse_qsl(parts.query, keep_blank_values=True),
             ("uniqueId", handle), ("jwtKey", token), *FEATURES.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


@sensitive_variables("token", "url", "provider")
@never_cache
@csrf_protect
@require_POST
def live_token(request: HttpRequest) -> JsonResponse:
    """POST (CSRF), ``connection``: ``{"url", "expires_in"}``, Euler's WebSocket URL with a
    JWT good for ``expires_in`` seconds, one socket, this account's room only.

    For the owner of the connection and delegates holding ``webcast:fetch``. Never the
    API key nor the OAuth token. Refusals are JSON ``{"error", "message"}``: 404 the live
    app is not installed, 403 no access (anonymous, not theirs, unknown), 400 a malformed
    ``connection``, 429 too many tokens (``Retry-After``), 409 the site cannot mint
    tokens for this account (no Euler account ID or API key, an unknown handle), 502
    Euler refused or could not be reached.
    """
    if not installed():
        return _not_installed()
    user = request.user
    if not getattr(user, "is_authenticated", False):
        return _refusal(403, "forbidden", _("Sign in to listen to LIVE events."))
    wait = _wait_for_token(user)
    if wait:
        return _refusal(429, "rate_limited",
                        _("Too many LIVE tokens asked for. Please wait a minute."),
                        **{"Retry-After": str(wait)})
    pk = connection_pk(request.POST.get("connection"))
    if pk is None:
        return _refusal(400, "bad_request", _("The request named no TikTok account."))
    connection = listenable(user, pk, with_client=True)
    if connection is None:
        return _refusal(403, "forbidden",
                        _("You may not listen to this TikTok account's LIVE events."))
    client = connection.client
    if not client.account_id.strip():
        return _refusal(409, "no_account_id", _(
            "This site cannot open LIVE events in the browser: its OAuth client has no "
            "Euler account ID."))
    provider = ProviderClient(client)
    if not provider.api_key:
        return _refusal(409, "no_api_key", _(
            "This site cannot open LIVE events in the browser: its OAuth client has no "
            "API key."))
    handle = connection.external_username
    if not handle:
        return _refusal(409, "no_handle", _(
            "This TikTok account's handle is unknown, so its LIVE room cannot be named."))
    try:
        token = provider.create_websocket_jwt(handle, expire_after=TOKEN_LIFETIME,
                                              max_web_sockets=1)
    except EulerOAuthError as err:
        logger.warning("Euler refused a LIVE token for connection %s: %s", connection.pk,
                       err)
        if err.status in (401, 403):
            message = _("Euler Stream refused to create a LIVE token: check the site's API "
                        "key and Euler account ID.")
        else:
            message = err.friendly_message
        response = JsonResponse({"error": err.code or "provider_error", "message": message,
                                 "detail": _provider_words(err)}, status=502)
        if isinstance(err, RetryableError) and err.retry_after:
            response["Retry-After"] = str(max(1, math.ceil(err.retry_after)))
        return response
    url = socket_url(client.websocket_url, handle, token)
    return JsonResponse({"url": url, "expires_in": TOKEN_LIFETIME})


# -- the owner's switch ----------------------------------------------------------------

def _name(connection: Connection) -> str:
    if connection.external_username:
        return f"@{connection.external_username}"
    return _("your TikTok account")


def _switch(request: HttpRequest, *, on: bool) -> HttpResponse:
    next_url = safe_next(request, request.POST.get("next")) or reverse("euler_oauth:accounts")
    heading = _("We could not change listening to LIVE events")
    if not installed():
        return account_notice(request, heading,
                              _("LIVE events are not enabled on this site. Nothing was "
                                "changed."), 404, back_url=next_url)
    pk = connection_pk(request.POST.get("connection"))
    if pk is None:
        return account_notice(request, heading,
                              _("The form named no TikTok account. Nothing was changed."),
                              400, back_url=next_url)
    owner = request.user.pk
    connection = (Connection.objects.filter(pk=pk, user_id=owner).first()
                  if owner is not None else None)
    if connection is None:
        messages.error(request, _("Only the owner of a TikTok account may start or stop "
                                  "listening to its LIVE events. Nothing was changed."),
                       fail_silently=True)
        return HttpResponseRedirect(next_url)
    from django_euler_oauth import live

    name = _name(connection)
    if not on:
        if live.stop(connection):
            messages.success(request, _("Stopped listening to the LIVE events of %(name)s.")
                             % {"name": name}, fail_silently=True)
        else:
            messages.info(request, _("The LIVE events of %(name)s were not being listened "
                                     "to. Nothing was changed.") % {"name": name},
                          fail_silently=True)
        return HttpResponseRedirect(next_url)
    if not connection.is_active:
        reason = _("This TikTok account is not connected: reconnect it first.")
    elif not connection.external_username:
        reason = _("This TikTok account's handle is unknown, so its LIVE room cannot be "
                   "named.")
    else:
        try:
            live.start(connection)
        except ValueError as err:
            reason = str(err)
        else:
            messages.success(request, _("Listening to the LIVE events of %(name)s: a relay "
                                        "joins the room within seconds.") % {"name": name},
                             fail_silently=True)
            return HttpResponseRedirect(next_url)
    messages.error(request, _("Not listening to the LIVE events of %(name)s: %(reason)s "
                              "Nothing was changed.") % {"name": name, "reason": reason},
                   fail_silently=True)
    return HttpResponseRedirect(next_url)


@never_cache
@require_POST
@login_required
@csrf_protect
def live_start(request: HttpRequest) -> HttpResponse:
    """POST (CSRF), ``connection`` (one the user owns), ``next``: listen to its LIVE
    events (:func:`django_euler_oauth.live.start`), then back to ``next`` (or the
    accounts page) with a message naming the account."""
    return _switch(request, on=True)


@never_cache
@require_POST
@login_required
@csrf_protect
def live_stop(request: HttpRequest) -> HttpResponse:
    """POST (CSRF), ``connection`` (one the user owns), ``next``: stop listening
    (:func:`django_euler_oauth.live.stop`)."""
    return _switch(request, on=False)
