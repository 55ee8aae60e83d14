"""Authorize (send the user to Euler Stream), callback (code exchange), disconnect."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_POST

from . import accounts
from . import state as state_store
from .client import ProviderClient
from .conf import app_settings
from .errors import (
    AccessDenied,
    Category,
    EulerOAuthError,
    InvalidRequest,
    InvalidScope,
    MalformedResponse,
    ProviderConfigurationError,
    Stage,
    StateError,
    TransportError,
    error_for_code,
)
from .models import Connection, OAuthClient
from .revocation import revoke_tokens

logger = logging.getLogger("django_euler_oauth.views")

MAX_PARAM_LENGTH = 2048
CLEANSED = "********************"  # what Django's reports show for a hidden value


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
        **extra,
    }
    return render(request, "django_euler_oauth/error.html", context, status=status)


def _granted_scopes(user: Any, client: OAuthClient) -> set[str]:
    """The scopes the provider granted to ``user``'s live connections for ``client``."""
    granted = (Connection.objects.for_user(user).for_client(client)
               .exclude(status=Connection.Status.REVOKED).values_list("scope", flat=True))
    return {scope for text in granted for scope in text.split()}


def _scopes_to_request(client: OAuthClient, raw: str | None, user: Any = None) -> str:
    """The scope to ask for: ``raw`` (or the client's defaults), each scope known.

    Known: named by ``EULER_OAUTH_KNOWN_SCOPES``, or already granted to ``user``'s
    connection(s) for ``client`` (a re-authorize link asks again for every granted
    scope, those the site's list does not name included).
    """
    if raw is not None and not raw.strip():
        raw = None  # "scope=" (an empty form field) asks for nothing special: the defaults
    requested = (raw if raw is not None else client.scopes).split()
    if raw is not None and len(raw) > MAX_PARAM_LENGTH:
        raise InvalidRequest("The scope parameter is too long.")
    if not requested:
        raise InvalidScope("No scope was requested and the client has no default scopes.")
    known = set(app_settings.KNOWN_SCOPES)
    unknown = [scope for scope in requested if scope not in known]
    if unknown and user is not None:
        granted = _granted_scopes(user, client)
        unknown = [scope for scope in unknown if scope not in granted]
    if unknown:
        shown = ", ".join(sorted(set(unknown)))[:200]
        raise InvalidScope(f"Invalid scope: {shown}")
    return " ".join(dict.fromkeys(requested))  # dedupe, keep order


def redirect_uri_for(request: HttpRequest, client: OAuthClient) -> str:
    return client.redirect_uri or request.build_absolute_uri(reverse("euler_oauth:callback"))


@never_cache
@require_GET
@login_required
def authorize(request: HttpRequest) -> HttpResponse:
    """Check the client and scopes, remember a state, send the user to the provider."""
    try:
        client = OAuthClient.objects.resolve(request.GET.get("client") or None)
        scope = _scopes_to_request(client, request.GET.get("scope"), request.user)
    except EulerOAuthError as err:
        return error_page(request, err)
    return start_authorization(request, client, scope,
                               safe_next(request, request.GET.get("next")) or "")


def start_authorization(request: HttpRequest, client: OAuthClient, scope: str, next_url: str,
                        purpose: str = "connect") -> HttpResponse:
    """Remember a state bound to this browser session, send the user to the provider."""
    redirect_uri = redirect_uri_for(request, client)
    pending, challenge = state_store.begin(
        request, client=client.slug, scope=scope, redirect_uri=redirect_uri,
        next_url=next_url, use_pkce=client.use_pkce, purpose=purpose,
    )
    url = ProviderClient(client).authorization_url(
        redirect_uri=redirect_uri, scope=scope, state=pending.state, code_challenge=challenge,
    )
    return HttpResponseRedirect(url)


def _session_lost_hint(request: HttpRequest) -> bool:
    from django.conf import settings

    return (settings.SESSION_COOKIE_NAME not in request.COOKIES
            or not request.user.is_authenticated)


def _hide_credentials(request: HttpRequest) -> None:
    """Mask the code and state in the request from here on.

    Django's error reports (admin mails, the technical 500 page) print the query
    string and ``request.GET`` as they are: once read, neither holds them any more.
    """
    query = request.GET.copy()
    for name in ("code", "state"):
        if name in query:
            query.setlist(name, [CLEANSED] * len(query.getlist(name)))
    query._mutable = False
    request.GET = query  # type: ignore[assignment]  # immutable again, as Django made it
    request.META["QUERY_STRING"] = query.urlencode(safe="*")


@sensitive_variables()
def _refuse(client: OAuthClient, tokens: Any, response: HttpResponse) -> HttpResponse:
    """``response``, after revoking at Euler the tokens a refused sign-in or connect just
    obtained: they are stored nowhere, so nothing else would ever end them."""
    if not revoke_tokens(client, tokens.access_token, tokens.refresh_token):
        logger.warning("Tokens of a refused authorization for client %s could not be "
                       "revoked; they end when they expire.", client.slug)
    return response


_SIGN_IN_REFUSALS = {
    "inactive": (gettext_lazy("This account cannot sign in"), gettext_lazy(
        "The account linked to this TikTok account is disabled. Contact the site's "
        "support.")),
    "staff": (gettext_lazy("Sign in with your password"), gettext_lazy(
        "Staff accounts of this site do not sign in with TikTok: sign in with your "
        "password. Nothing was changed.")),
    "not_allowed": (gettext_lazy("This account cannot sign in with TikTok"), gettext_lazy(
        "This site does not let the account linked to @%(handle)s sign in with TikTok. "
        "Sign in another way. Nothing was changed.")),
}


@sensitive_variables()  # the tokens; and the user's session is about to change
def sign_in_back(request: HttpRequest, client: OAuthClient, provider: ProviderClient,
                 tokens: Any, pending: state_store.PendingAuthorization) -> HttpResponse:
    """Back from "Sign in with TikTok": log in the owner of the account, or sign one up.

    Every refusal stores nothing and revokes the tokens just obtained."""
    try:  # the backend may have gone since the authorization started: create nothing
        accounts.require_sign_in()
        if not accounts.identifies(client, tokens.scope):
            raise ProviderConfigurationError(
                "Sign-in needs userinfo: this client does not fetch it or was not granted "
                "user:info.")
        profile = provider.userinfo(tokens.access_token)
        connection, created = accounts.sign_in(request, client, tokens, profile)
    except EulerOAuthError as err:
        logger.warning("Sign-in with client %s failed: %s", pending.client, err)
        return _refuse(client, tokens, _failure(request, err, pending))
    except accounts.SignupClosed as closed:
        return _refuse(client, tokens, account_notice(
            request, _("Sign-up is closed"),
            _("No account of this site is linked to the TikTok account @%(handle)s, and this "
              "site does not create new accounts. Sign in another way, then connect "
              "@%(handle)s from your account page.") % {"handle": closed.handle}, 403))
    except accounts.SignInRefused as refused:
        heading, message = _SIGN_IN_REFUSALS[refused.reason]
        return _refuse(client, tokens, account_notice(
            request, str(heading), str(message) % {"handle": refused.handle}, 403))
    user = authenticate(request, euler_connection=connection)
    if user is None:  # a custom backend said no after the checks above
        heading, message = _SIGN_IN_REFUSALS["inactive"]
        return account_notice(request, str(heading), str(message), 403)
    auth_login(request, user)
    accounts.make_current(request, connection)
    messages.success(request, _("Welcome, @%(name)s.") % {"name": connection.external_username}
                     if created else _("Signed in as @%(name)s.") % {
                         "name": connection.external_username})
    return HttpResponseRedirect(pending.next_url or app_settings.SUCCESS_URL)


@sensitive_variables("code", "tokens", "pending", "raw_state")
@never_cache
@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    """Check the state, handle the provider's answer, exchange the code, store tokens."""
    raw_state, code = request.GET.get("state"), request.GET.get("code")
    _hide_credentials(request)
    try:
        pending = state_store.consume(request, raw_state)
    except StateError as err:
        return error_page(request, err, session_lost=_session_lost_hint(request))

    error_code = request.GET.get("error")
    if error_code:
        reported = error_for_code(error_code[:64],
                                  request.GET.get("error_description", "")[:500],
                                  stage=Stage.AUTHORIZE)
        if isinstance(reported, AccessDenied):  # a user's choice, not a fault
            messages.info(request, reported.friendly_message)
            target = app_settings.FAILURE_URL or pending.next_url or app_settings.SUCCESS_URL
            return HttpResponseRedirect(target)
        logger.warning("Authorization for client %s failed: %s", pending.client, reported)
        return _failure(request, reported, pending)

    if not code or len(code) > MAX_PARAM_LENGTH:
        return _failure(request, InvalidRequest("The callback has no authorization code."),
                        pending)

    try:
        client = OAuthClient.objects.resolve(pending.client)
        provider = ProviderClient(client)
        tokens = provider.exchange_code(
            code=code, redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier or None, requested_scope=pending.scope,
        )
    except EulerOAuthError as err:
        logger.warning("Code exchange for client %s failed: %s", pending.client, err)
        return _failure(request, err, pending)

    if pending.purpose == "login":
        return sign_in_back(request, client, provider, tokens, pending)

    profile = None
    # Only when the granted scope allows it (else the provider would refuse: no request).
    if accounts.identifies(client, tokens.scope):
        try:
            profile = provider.userinfo(tokens.access_token)
        except EulerOAuthError as err:  # who connected is a nicety, not a requirement
            logger.info("userinfo after connecting failed: %s", err)

    try:
        connection, _created = accounts.store_connection(request, client, tokens, profile)
    except accounts.AccountHeldElsewhere as refused:
        return _refuse(client, tokens, account_notice(
            request, _("This TikTok account belongs to another user"),
            _("The TikTok account @%(handle)s is already connected to another account of this "
              "site, so it was not connected to yours and nothing changed. Sign out and sign "
              "in with TikTok as @%(handle)s to use it, or connect a different TikTok "
              "account.") % {"handle": refused.handle}, 409, back_url=pending.next_url))
    # The account just connected is the one the session works with, as after a sign-in.
    accounts.make_current(request, connection)
    name = f"@{connection.external_username}" if connection.external_username else ""
    messages.success(request, _("Your TikTok account %(name)s is connected.") % {"name": name}
                     if name else _("Your TikTok account is connected."))
    return HttpResponseRedirect(pending.next_url or app_settings.SUCCESS_URL)


def account_notice(request: HttpRequest, heading: str, message: str, status: int, *,
                   back_url: str = "") -> HttpResponse:
    """A page that says why nothing changed (a refused takeover, sign-up closed, ...)."""
    return render(request, "django_euler_oauth/notice.html", {
        "heading": heading, "message": message, "back_url": back_url or "/"}, status=status)


def _failure(request: HttpRequest, err: EulerOAuthError,
             pending: state_store.PendingAuthorization | None = None) -> HttpResponse:
    if app_settings.FAILURE_URL:
        messages.error(request, err.friendly_message)
        return HttpResponseRedirect(app_settings.FAILURE_URL)
    retry = None if pending is None else {
        "next": pending.next_url, "client": pending.client, "scope": pending.scope}
    return error_page(request, err, retry=retry)


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
                    "name": name or _("a TikTok account")})
            return HttpResponseRedirect(next_url)
        connection = (owned.filter(pk=current.pk).first() if current else None) or \
            owned.order_by("-connected_at", "-pk").first()
    if connection is None:
        messages.info(request, _("No TikTok account is connected."))
        return HttpResponseRedirect(next_url)
    try:
        confirmed = accounts.disconnect_account(connection, request=request)
    except accounts.LastWayIn:
        messages.error(request, _(
            "This TikTok account is your only way to sign in: set a password or connect "
            "another TikTok account first."))
        return HttpResponseRedirect(next_url)
    if confirmed:
        messages.success(request, _("Your TikTok account was disconnected."))
    else:
        messages.warning(request, _(
            "Your TikTok account was disconnected here, but Euler Stream could not be reached "
            "to revoke access; it ends by itself when the tokens expire."))
    return HttpResponseRedirect(next_url)
