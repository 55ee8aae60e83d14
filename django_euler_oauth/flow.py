"""The authorization flow: beginning it, and completing it when Euler sends the user back.

:func:`begin` checks what to ask for (:func:`scopes_to_request`), remembers a state bound
to the browser session (:mod:`~django_euler_oauth.state`, with PKCE where the client uses
it) and sends the user to Euler; it serves both purposes, connecting an account
(``authorize``) and signing in with one (``login``). :func:`complete` takes the code the
callback received, exchanges it, and dispatches on the purpose: :func:`connect` stores the
signed-in user's connection, :func:`sign_in` logs in (or signs up) the account's owner.
Both go through :mod:`~django_euler_oauth.accounts`, where identity is decided.

Every refusal after the exchange (the account held by another user, sign-up closed, a
user who may not sign in) stores nothing and revokes at Euler the tokens it just got.
The views (:mod:`~django_euler_oauth.views`, :mod:`~django_euler_oauth.account_views`)
keep HTTP only: parameters, CSRF, the callback's state and error parameters.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth import login as auth_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from . import accounts
from . import state as state_store
from .client import ProviderClient
from .conf import app_settings
from .errors import (
    AccountHeldElsewhere,
    EulerOAuthError,
    InvalidRequest,
    InvalidScope,
    ProviderConfigurationError,
    SignInRefused,
    SignupClosed,
)
from .models import Connection, OAuthClient
from .pages import account_notice, error_page
from .params import MAX_PARAM_LENGTH
from .revocation import revoke_tokens

logger = logging.getLogger("django_euler_oauth.flow")

CONNECT, LOGIN = "connect", "login"


def _granted_scopes(user: Any, client: OAuthClient) -> set[str]:
    """The scopes the provider granted to ``user``'s live connections for ``client``."""
    granted = (Connection.objects.for_user(user).for_client(client)
               .exclude(status=Connection.Status.REVOKED).values_list("scope", flat=True))
    return {scope for text in granted for scope in text.split()}


def scopes_to_request(client: OAuthClient, raw: str | None, user: Any = None) -> str:
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
    """The client's registered redirect URI, else this site's ``callback`` URL."""
    return client.redirect_uri or request.build_absolute_uri(reverse("euler_oauth:callback"))


def begin(request: HttpRequest, client: OAuthClient, scope: str, next_url: str,
          purpose: str = CONNECT) -> HttpResponse:
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


def failure(request: HttpRequest, err: EulerOAuthError,
            pending: state_store.PendingAuthorization | None = None) -> HttpResponse:
    """The answer to a failed authorization: ``EULER_OAUTH_FAILURE_URL`` with a message,
    else the error page whose "Try again" keeps the attempt's next, client and scope."""
    if app_settings.FAILURE_URL:
        messages.error(request, err.friendly_message, fail_silently=True)
        return HttpResponseRedirect(app_settings.FAILURE_URL)
    retry = None if pending is None else {
        "next": pending.next_url, "client": pending.client, "scope": pending.scope}
    return error_page(request, err, retry=retry)


@sensitive_variables("code", "tokens")
def complete(request: HttpRequest, pending: state_store.PendingAuthorization,
             code: str) -> HttpResponse:
    """Exchange ``code`` for tokens, then connect or sign in as ``pending`` asked."""
    try:
        client = OAuthClient.objects.resolve(pending.client)
        provider = ProviderClient(client)
        tokens = provider.exchange_code(
            code=code, redirect_uri=pending.redirect_uri,
            code_verifier=pending.code_verifier or None, requested_scope=pending.scope,
        )
    except EulerOAuthError as err:
        logger.warning("Code exchange for client %s failed: %s", pending.client, err)
        return failure(request, err, pending)
    if pending.purpose == LOGIN:
        return sign_in(request, client, provider, tokens, pending, code=code)
    return connect(request, client, provider, tokens, pending, code=code)


@sensitive_variables()
def _refuse(client: OAuthClient, tokens: Any, response: HttpResponse) -> HttpResponse:
    """``response``, after revoking at Euler the tokens a refused sign-in or connect just
    obtained: they are stored nowhere, so nothing else would ever end them."""
    if not revoke_tokens(client, tokens.access_token, tokens.refresh_token):
        logger.warning("Tokens of a refused authorization for client %s could not be "
                       "revoked; they end when they expire.", client.slug)
    return response


@sensitive_variables()
def connect(request: HttpRequest, client: OAuthClient, provider: ProviderClient,
            tokens: Any, pending: state_store.PendingAuthorization, *,
            code: str = "") -> HttpResponse:
    """Back from "connect": store the signed-in user's connection and make it current."""
    profile = None
    # Only when the granted scope allows it (else the provider would refuse: no request).
    if accounts.identifies(client, tokens.scope):
        try:
            profile = provider.userinfo(tokens.access_token)
        except EulerOAuthError as err:  # who connected is a nicety, not a requirement
            logger.info("userinfo after connecting failed: %s", err)
    try:
        connection, _created = accounts.store_connection(request, client, tokens, profile)
    except AccountHeldElsewhere as refused:
        return _refuse(client, tokens, account_notice(
            request, _("This TikTok account belongs to another user"),
            _("The TikTok account @%(handle)s is already connected to another account of this "
              "site, so it was not connected to yours and nothing changed. Sign out and sign "
              "in with TikTok as @%(handle)s to use it, or connect a different TikTok "
              "account.") % {"handle": refused.handle}, 409, back_url=pending.next_url))
    # The account just connected is the one the session works with, as after a sign-in.
    accounts.make_current(request, connection)
    if code:  # a reload of this callback then says the account is connected
        state_store.remember_completed(request, pending, code, connection.pk)
    name = f"@{connection.external_username}" if connection.external_username else ""
    messages.success(request, _("Your TikTok account %(name)s is connected.") % {"name": name}
                     if name else _("Your TikTok account is connected."), fail_silently=True)
    return HttpResponseRedirect(pending.next_url or app_settings.SUCCESS_URL)


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
def sign_in(request: HttpRequest, client: OAuthClient, provider: ProviderClient,
            tokens: Any, pending: state_store.PendingAuthorization, *,
            code: str = "") -> HttpResponse:
    """Back from "Sign in with TikTok": log in the owner of the account, or sign one up."""
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
        return _refuse(client, tokens, failure(request, err, pending))
    except SignupClosed as closed:
        return _refuse(client, tokens, account_notice(
            request, _("Sign-up is closed"),
            _("No account of this site is linked to the TikTok account @%(handle)s, and this "
              "site does not create new accounts. Sign in another way, then connect "
              "@%(handle)s from your account page.") % {"handle": closed.handle}, 403))
    except SignInRefused as refused:
        heading, message = _SIGN_IN_REFUSALS[refused.reason]
        return _refuse(client, tokens, account_notice(
            request, str(heading), str(message) % {"handle": refused.handle}, 403))
    user = authenticate(request, euler_connection=connection)
    if user is None:  # a custom backend said no after the checks above
        heading, message = _SIGN_IN_REFUSALS["inactive"]
        return account_notice(request, str(heading), str(message), 403)
    auth_login(request, user)
    accounts.make_current(request, connection)
    if code:  # a reload of this callback then says the account is connected
        state_store.remember_completed(request, pending, code, connection.pk)
    # "Signed in with", not "as": the site's user is who is signed in (a layout may say
    # "Signed in as <user>, working as @<account>"); the account is the one worked on.
    messages.success(request, _("Welcome, @%(name)s.") % {"name": connection.external_username}
                     if created else _("Signed in with @%(name)s, working as @%(name)s.") % {
                         "name": connection.external_username}, fail_silently=True)
    return HttpResponseRedirect(pending.next_url or app_settings.SUCCESS_URL)
