"""Sign in with TikTok, the accounts page, and switching the current account."""

from __future__ import annotations

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from . import accounts, flow, teams
from .conf import app_settings
from .errors import EulerOAuthError, ProviderConfigurationError
from .models import Connection, OAuthClient
from .pages import account_notice, error_page
from .params import MAX_PARAM_LENGTH, form_pk, safe_next


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login(request: HttpRequest) -> HttpResponse:
    """GET: a page with a "Sign in with TikTok" button (it never redirects by itself, so a
    forged link cannot log a victim into the attacker's account). POST (CSRF): start the
    authorization; back at the callback the account's owner is logged in or signed up."""
    params = request.POST if request.method == "POST" else request.GET
    slug = (params.get("client") or "")[:MAX_PARAM_LENGTH]
    next_url = safe_next(request, params.get("next")) or ""
    try:
        accounts.require_sign_in()
    except EulerOAuthError as err:
        return error_page(request, err)
    if request.method == "GET":
        return render(request, "django_euler_oauth/login.html",
                      {"client": slug, "next": next_url})
    try:
        client = OAuthClient.objects.resolve(slug or None)
        scope = flow.scopes_to_request(client, None)
        if not accounts.identifies(client, scope):
            raise ProviderConfigurationError(
                f"Sign-in needs userinfo: client {client.slug!r} does not fetch it or does "
                "not ask for user:info (check django_euler_oauth.E008).")
    except EulerOAuthError as err:
        return error_page(request, err)
    return flow.begin(request, client, scope, next_url, purpose=flow.LOGIN)


@never_cache
@login_required
def account_list(request: HttpRequest) -> HttpResponse:
    """The user's TikTok accounts (and those delegated to them): switch, disconnect, add."""
    user = request.user
    rows = (Connection.objects.select_related("client", "user")
            .filter(Q(user_id=user.pk) | Q(pk__in=Connection.objects.usable_by(user)
                                               .values("pk")))
            .exclude(status=Connection.Status.REVOKED).order_by("-connected_at", "-pk"))
    live_enabled = apps.is_installed("django_euler_oauth.live")
    if live_enabled:  # each row's listening state (connection.live_listening), one query
        rows = rows.prefetch_related("live_listening")
    connections = list(rows)
    for connection in connections:  # who delegated each of the others, and what
        if connection.user_id != user.pk:
            connection.delegated_scopes = (  # type: ignore[attr-defined]
                teams.delegated_scopes(user, connection) or [])
    current = request.euler_connection if hasattr(request, "euler_connection") \
        else accounts.current_connection(request)
    return render(request, "django_euler_oauth/accounts.html", {
        "connections": connections, "current_pk": current.pk if current else None,
        "live_enabled": live_enabled})


@never_cache
@require_POST
@login_required
def switch(request: HttpRequest) -> HttpResponse:
    """Make ``connection`` (one the user may use) this session's current connection."""
    next_url = safe_next(request, request.POST.get("next")) or app_settings.SUCCESS_URL
    pk = form_pk(request.POST.get("connection"))
    if pk is None:
        return account_notice(request, _("We could not switch accounts"),
                              _("The form named no TikTok account. Nothing was changed."),
                              400, back_url=next_url)
    chosen = Connection.objects.usable_by(request.user).filter(pk=pk).first()
    if chosen is None:
        messages.error(request, _("That TikTok account is not one you can use."),
                       fail_silently=True)
        return HttpResponseRedirect(next_url)
    accounts.make_current(request, chosen)
    name = f"@{chosen.external_username}" if chosen.external_username else ""
    messages.success(request, _("You are now working with %(name)s.") % {
        "name": name or _("that TikTok account")}, fail_silently=True)
    return HttpResponseRedirect(next_url)
