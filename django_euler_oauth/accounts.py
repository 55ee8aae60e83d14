"""TikTok accounts and the site's users: storing a connection, signing in, signing up,
and which connection a request works with.

A TikTok account is matched by userinfo's ``uid`` alone (handles and nicknames are reused
on TikTok), and a connection never moves from one user to another: connecting an account
that another user holds is refused, and nothing changes.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from django.contrib.auth import get_backends, get_user_model
from django.db import IntegrityError, router, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .adapter import get_adapter, profile_text
from .backends import EulerAccountBackend
from .endpoints import ENDPOINTS_BY_NAME
from .errors import (
    AccountHeldElsewhere,
    LastWayIn,
    MalformedResponse,
    ProviderConfigurationError,
    SignInRefused,
    SignupClosed,
    Stage,
)
from .locking import take_write_lock
from .models import TOKEN_READ_FIELDS, Connection, OAuthClient
from .revocation import disconnect
from .signals import connected, signed_up
from .teams import end_team

__all__ = ["BACKEND_PATH", "CURRENT_KEY", "AccountHeldElsewhere", "LastWayIn", "SignInRefused",
           "SignupClosed", "current_connection", "disconnect_account", "display_data",
           "free_username", "has_other_way_in", "identifies", "make_current", "profile_text",
           "require_sign_in", "sign_in", "sign_in_configured", "store_connection"]

#: The session key holding the pk of the connection chosen with ``switch``.
CURRENT_KEY = "_euler_oauth_current"

#: The authentication backend "Sign in with TikTok" logs users in with.
BACKEND_PATH = "django_euler_oauth.backends.EulerAccountBackend"


def sign_in_configured() -> bool:
    """Whether :data:`BACKEND_PATH` is in ``AUTHENTICATION_BACKENDS`` (a subclass counts)."""
    return any(isinstance(backend, EulerAccountBackend) for backend in get_backends())


def require_sign_in() -> None:
    """Raise :class:`ProviderConfigurationError` unless sign-in can log users in: checked
    before an authorization starts and again before anyone is signed up."""
    if not sign_in_configured():
        raise ProviderConfigurationError(
            f"Sign-in with TikTok is not set up: add {BACKEND_PATH} to "
            "AUTHENTICATION_BACKENDS (check django_euler_oauth.W004).")


def identifies(client: OAuthClient, scope: str | None = None) -> bool:
    """Whether ``client`` can tell which TikTok account signed in: it fetches userinfo,
    and ``scope`` (default: the client's default scopes) allows the userinfo endpoint."""
    granted = (client.scopes if scope is None else scope).split()
    return client.fetch_userinfo and ENDPOINTS_BY_NAME["get_user_info"].allowed_by(granted)


def make_current(request: HttpRequest, connection: Connection) -> None:
    """Make ``connection`` the one this session works with (:func:`current_connection`)."""
    request.session[CURRENT_KEY] = connection.pk


def display_data(profile: dict[str, Any] | None) -> dict[str, str]:
    """The connection's account fields from a userinfo ``user`` object."""
    if not profile:
        return {}
    avatar = profile_text(profile.get("avatarUrl") or profile.get("avatar_url"), 500)
    return {
        "external_id": profile_text(profile.get("uid")),
        "external_username": profile_text(profile.get("uniqueId")),
        "external_nickname": profile_text(profile.get("nickName") or profile.get("nickname")),
        "external_avatar_url": avatar if avatar.startswith(("https://", "http://")) else "",
    }


def _token_values(tokens: Any) -> dict[str, Any]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "scope": tokens.scope,
        "expires_at": tokens.expires_at,
        "refresh_expires_at": tokens.refresh_expires_at,
        "status": Connection.Status.ACTIVE,
        "status_reason": "",
        "last_error": "",
        "connected_at": timezone.now(),
        "refreshed_at": None,
    }


@sensitive_variables()  # the tokens, and the ORM frames below that write them
def _upsert(user_pk: Any, client: OAuthClient, values: dict[str, Any],
            request: HttpRequest | None) -> tuple[Connection, bool]:
    """Create or update the connection of ``values``' account (or, unknown, of the user)
    for ``client``, inside the caller's transaction. Raises :class:`AccountHeldElsewhere`."""
    external_id = values.get("external_id", "")
    if external_id:
        take_write_lock(Connection, client=client, external_id=external_id)
        existing = (Connection.objects.select_for_update()
                    .for_account(client, external_id).first())
        if existing is not None and existing.user_id != user_pk:
            raise AccountHeldElsewhere(existing.external_username or
                                       values.get("external_username", ""))
    else:
        take_write_lock(Connection, user_id=user_pk, client=client)
        existing = (Connection.objects.select_for_update()
                    .filter(user_id=user_pk, client=client, external_id="").first())
        if existing is not None:
            # Nothing tells whether these tokens are the same TikTok account's: a
            # moderator given @main must not go on acting as whichever account came back.
            end_team(existing)
    if existing is None:
        connection = Connection.objects.create(user_id=user_pk, client=client, **values)
        created = True
    else:
        for key, value in values.items():
            setattr(existing, key, value)
        existing.save()
        connection, created = existing, False
    transaction.on_commit(partial(connected.send, sender=Connection, connection=connection,
                                  request=request, created=created))
    return connection, created


@sensitive_variables()
def store_connection(request: HttpRequest, client: OAuthClient, tokens: Any,
                     profile: dict[str, Any] | None) -> tuple[Connection, bool]:
    """Store the signed-in user's connection of the account ``profile`` names, in one
    transaction; ``(connection, created)``. Raises :class:`AccountHeldElsewhere`."""
    values = {**_token_values(tokens), **display_data(profile)}
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert(request.user.pk, client, values, request)
        except IntegrityError:
            if attempt:  # the concurrent create won twice: give up loudly
                raise
    raise AssertionError("unreachable")


def free_username(unique_id: str) -> str:
    """A username no user has, derived from the TikTok handle."""
    user_model = get_user_model()
    field = user_model._meta.get_field(user_model.USERNAME_FIELD)
    limit = getattr(field, "max_length", None) or 150
    base = re.sub(r"[^\w.@+-]", "", unique_id)[:limit - 4] or "tiktok"
    manager = user_model._default_manager
    for number in range(1, 1000):
        candidate = base if number == 1 else f"{base[:limit - len(str(number)) - 1]}-{number}"
        if not manager.filter(**{user_model.USERNAME_FIELD: candidate}).exists():
            return candidate
    raise IntegrityError("No free username derived from this TikTok handle.")


def _login_refusal(request: HttpRequest, user: Any, profile: dict[str, Any]) -> str:
    """Why ``user`` may not sign in with the account ``profile`` names; "" when they may."""
    if not EulerAccountBackend().user_can_authenticate(user):
        return "inactive"
    if not get_adapter().is_login_allowed(request, user, profile):
        return "staff" if (user.is_staff or user.is_superuser) else "not_allowed"
    return ""


@sensitive_variables()
def sign_in(request: HttpRequest, client: OAuthClient, tokens: Any,
            profile: dict[str, Any]) -> tuple[Connection, bool]:
    """The connection of the TikTok account ``profile`` names, its tokens and display data
    stored, and whether its user was signed up just now.

    Raises :class:`~django_euler_oauth.errors.MalformedResponse` when userinfo names no
    account, :class:`SignupClosed` and :class:`SignInRefused`, each before anything is
    stored: a refused sign-in leaves every row as it was (a disabled user's connection is
    not made active again). Two sign-ups of one new account at once end as one user.
    """
    values = {**_token_values(tokens), **display_data(profile)}
    external_id = values.get("external_id", "")
    handle = values.get("external_username", "")
    if not external_id:  # never a user without identity
        raise MalformedResponse("userinfo has no uid.", stage=Stage.API)
    adapter = get_adapter()
    user_model = get_user_model()
    for attempt in range(2):
        try:
            with transaction.atomic():
                # Sign-ins and connects of one account queue here (SQLite; PostgreSQL
                # queues on the unique index and the retry below).
                take_write_lock(Connection, client=client, external_id=external_id)
                owner = (Connection.objects.for_account(client, external_id)
                         .values_list("user_id", flat=True).first())
                if owner is not None:
                    user = user_model._default_manager.get(pk=owner)
                    refusal = _login_refusal(request, user, profile)
                    if refusal:
                        raise SignInRefused(handle, refusal)
                    connection, _created = _upsert(owner, client, values, request)
                    return connection, False
                if not adapter.is_signup_allowed(request, profile):
                    raise SignupClosed(handle)
                user = user_model(**{user_model.USERNAME_FIELD: free_username(handle)})
                user.set_unusable_password()
                adapter.populate_user(request, user, profile)
                refusal = _login_refusal(request, user, profile)
                if refusal:
                    raise SignInRefused(handle, refusal)
                user.save()
                connection, _created = _upsert(user.pk, client, values, request)
                transaction.on_commit(partial(signed_up.send, sender=Connection, user=user,
                                              connection=connection, request=request))
                return connection, True
        except (IntegrityError, AccountHeldElsewhere):
            # A concurrent sign-up of the same account won: the next round signs in as
            # the user it made. Twice is not a race any more: give up loudly.
            if attempt:
                raise
    raise AssertionError("unreachable")


def has_other_way_in(connection: Connection) -> bool:
    """Whether the owner can still sign in without ``connection``: a usable password or
    another active connection that can sign in (its TikTok account known, its client
    active and able to identify the account, see :func:`identifies`)."""
    user = connection.user
    if user.has_usable_password():
        return True
    others = (Connection.objects.usable_by(user).filter(user_id=user.pk, client__is_active=True)
              .exclude(pk=connection.pk).exclude(external_id="").select_related("client"))
    return any(identifies(other.client) for other in others)


def disconnect_account(connection: Connection, *, request: HttpRequest | None = None) -> bool:
    """Disconnect ``connection`` (:func:`~django_euler_oauth.revocation.disconnect`) unless
    it is its owner's last way in (:class:`LastWayIn`, nothing changed).

    The check and the disconnect hold one lock per user, so two disconnects at once
    (two tabs, two devices) cannot each see the other's account as the remaining way in.
    Returns whether the provider confirmed the revocation.
    """
    user_model = get_user_model()
    alias = router.db_for_write(user_model)
    with transaction.atomic(using=alias):
        take_write_lock(user_model, using=alias, pk=connection.user_id)  # SQLite
        user_model._default_manager.using(alias).select_for_update().filter(
            pk=connection.user_id).first()  # PostgreSQL: the user's row
        if not has_other_way_in(connection):
            raise LastWayIn()
        return disconnect(connection, request=request)


def current_connection(request: HttpRequest) -> Connection | None:
    """The connection the request works with: the one chosen with ``switch`` in this
    session while the user may still use it, else the user's most recently connected
    active one for the default client (:meth:`ConnectionQuerySet.default_for`).

    A connection delegated to the user carries them as its ``acting_user``, so
    ``EulerAPI(connection)`` is checked against the delegation and audited as them,
    exactly as ``EulerAPI.for_request(request)``; only a connection the site loads itself
    acts as its owner.
    """
    user = request.user
    session = getattr(request, "session", None)
    chosen = session.get(CURRENT_KEY) if session is not None else None
    if isinstance(chosen, int) and getattr(user, "is_authenticated", False):
        found = (Connection.objects.usable_by(user).filter(pk=chosen)
                 .only(*TOKEN_READ_FIELDS).first())
        if found is not None:
            if found.user_id != user.pk:
                found.acting_user = user
            return found
    return Connection.objects.default_for(user)
