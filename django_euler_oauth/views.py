"""Authorize (send the user to Euler Stream), callback (back from it), disconnect.

HTTP only: what each view reads from the request and answers. The flow itself (what to
ask for, the code exchange, connecting or signing in) is :mod:`django_euler_oauth.flow`;
the pages are :mod:`django_euler_oauth.pages`.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from . import accounts, flow
from . import state as state_store
from .conf import app_settings
from .errors import (
    AccessDenied,
    EulerOAuthError,
    InvalidRequest,
    LastWayIn,
    Stage,
    StateError,
    error_for_code,
)
from .models import Connection, OAuthClient
from .pages import account_notice, error_page
from .params import CLEANSED, MAX_PARAM_LENGTH, form_pk, hide, safe_next

# Their former home, kept importable.
start_authorization = flow.begin
redirect_uri_for = flow.redirect_uri_for
sign_in_back = flow.sign_in
__all__ = ["CLEANSED", "MAX_PARAM_LENGTH", "account_notice", "authorize", "callback",
           "disconnect", "error_page", "form_pk", "redirect_uri_for", "safe_next",
           "sign_in_back", "start_authorization"]

logger = logging.getLogger("django_euler_oauth.views")


@never_cache
@require_GET
@login_required
def authorize(request: HttpRequest) -> HttpResponse:
    """Check the client and scopes, remember a state, send the user to the provider."""
    try:
        client = OAuthClient.objects.resolve(request.GET.get("client") or None)
        scope = flow.scopes_to_request(client, request.GET.get("scope"), request.user)
    except EulerOAuthError as err:
        return error_page(request, err)
    return flow.begin(request, client, scope,
                      safe_next(request, request.GET.get("next")) or "")


def _session_lost_hint(request: HttpRequest) -> bool:
    return (settings.SESSION_COOKIE_NAME not in request.COOKIES
            or not request.user.is_authenticated)


@sensitive_variables("raw_state", "code")
def _already_connected(request: HttpRequest, raw_state: str | None,
                       code: str | None) -> HttpResponse | None:
    """A reload of a callback that connected the account (its state already used): say
    it is connected, with a link on; None when that is not what happened."""
    done = state_store.completed(request, raw_state, code)
    if done is None or not isinstance(done.get("connection"), int):
        return None
    since = timezone.now() - datetime.timedelta(seconds=app_settings.STATE_LIFETIME)
    connection = (Connection.objects.for_user(request.user).active()
                  .filter(pk=done["connection"], connected_at__gte=since).first())
    if connection is None:
        return None
    name = f"@{connection.external_username}" if connection.external_username else ""
    message = (_("Your TikTok account %(name)s is connected. This page was opened again "
                 "(reloaded?): there is nothing more to do here.") % {"name": name}
               if name else _("Your TikTok account is connected. This page was opened "
                              "again (reloaded?): there is nothing more to do here."))
    return account_notice(request, _("Your TikTok account is connected"), message, 200,
                          back_url=str(done.get("next_url") or "") or app_settings.SUCCESS_URL,
                          link_text=_("Continue"), done=True)


@sensitive_variables("raw_state")
def _state_refused(request: HttpRequest, err: StateError,
                   raw_state: str | None) -> HttpResponse:
    """The state error page, with the likeliest cause: a callback on another host than
    the one the authorization started on (its session cookie stays with that host), else
    a session cookie the browser did not send back (SameSite=Strict)."""
    started = state_store.started_on(raw_state)
    here = state_store.origin_of(request)
    if started and here and started != here:
        return error_page(request, err, started_on=started, returned_on=here)
    return error_page(request, err, session_lost=_session_lost_hint(request))


@sensitive_variables("code", "pending", "raw_state")
@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Check the state and the provider's answer, then complete the authorization
    (:func:`django_euler_oauth.flow.complete`: exchange the code, connect or sign in)."""
    raw_state, code = request.GET.get("state"), request.GET.get("code")
    hide(request, query=("code", "state"))
    try:
        pending = state_store.consume(request, raw_state)
    except StateError as err:
        return (_already_connected(request, raw_state, code)
                or _state_refused(request, err, raw_state))

    error_code = request.GET.get("error")
    if error_code:
        reported = error_for_code(error_code[:64],
                                  request.GET.get("error_description", "")[:500],
                                  stage=Stage.AUTHORIZE)
        if isinstance(reported, AccessDenied):  # a user's choice, not a fault
            messages.info(request, reported.friendly_message, fail_silently=True)
            target = app_settings.FAILURE_URL or pending.next_url or app_settings.SUCCESS_URL
            return HttpResponseRedirect(target)
        logger.warning("Authorization for client %s failed: %s", pending.client, reported)
        return flow.failure(request, reported, pending)

    if not code or len(code) > MAX_PARAM_LENGTH:
        return flow.failure(request, InvalidRequest("The callback has no authorization code."),
                            pending)
    return flow.complete(request, pending, code)


@never_cache
@require_POST
@login_required
def disconnect(request: HttpRequest) -> HttpResponse:
    """Revoke one of the user's own connections at the provider and here (POST, CSRF).

    ``connection`` (pk) names it; without it, the session's current connection if the
    user owns it. A delegate working on someone else's account disconnects nothing.
    """
    next_url = safe_next(request, request.POST.get("next")) or app_settings.SUCCESS_URL
    try:
        client = OAuthClient.objects.resolve(request.POST.get("client") or None)
    except EulerOAuthError as err:
        return error_page(request, err)
    owned = (Connection.objects.for_user(request.user).for_client(client)
             .exclude(status=Connection.Status.REVOKED))
    raw = request.POST.get("connection", "")
    if raw:  # one of several accounts: only ever one the user owns
        pk = form_pk(raw)
        if pk is None:
            return account_notice(request, _("We could not disconnect your TikTok account"),
                                  _("The form named no TikTok account. Nothing was changed."),
                                  400, back_url=next_url)
        connection = owned.filter(pk=pk).first()
    else:
        current = getattr(request, "euler_connection", None)
        if current and current.user_id != request.user.pk:
            name = f"@{current.external_username}" if current.external_username else ""
            messages.error(request, _(
                "You are working on %(name)s, a TikTok account delegated to you: only its "
                "owner can disconnect it. Nothing was changed.") % {
                    "name": name or _("a TikTok account")}, fail_silently=True)
            return HttpResponseRedirect(next_url)
        connection = (owned.filter(pk=current.pk).first() if current else None) or \
            owned.order_by("-connected_at", "-pk").first()
    if connection is None:
        messages.info(request, _("No TikTok account is connected."), fail_silently=True)
        return HttpResponseRedirect(next_url)
    try:
        confirmed = accounts.disconnect_account(connection, request=request)
    except LastWayIn:
        messages.error(request, _(
            "This TikTok account is your only way to sign in: set a password or connect "
            "another TikTok account first."), fail_silently=True)
        return HttpResponseRedirect(next_url)
    # The message names the account: with several, "your TikTok account" says not which.
    name = (f"@{connection.external_username}" if connection.external_username
            else _("your TikTok account"))
    if confirmed:
        messages.success(request, _("Disconnected %(name)s.") % {"name": name},
                         fail_silently=True)
    else:
        messages.warning(request, _(
            "Disconnected %(name)s here, but Euler Stream could not be reached to revoke "
            "access; it ends by itself when the tokens expire.") % {"name": name},
            fail_silently=True)
    return HttpResponseRedirect(next_url)
