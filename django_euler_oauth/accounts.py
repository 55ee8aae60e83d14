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
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from .adapter import get_adapter
from .backends import EulerAccountBackend
from .errors import ProviderConfigurationError
from .locking import take_write_lock
from .models import TOKEN_READ_FIELDS, Connection, OAuthClient
from .signals import connected, signed_up

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


class AccountHeldElsewhere(Exception):
    """The TikTok account is connected to another user of this site: nothing changed."""

    def __init__(self, handle: str) -> None:
        super().__init__(f"The TikTok account @{handle} is connected to another user.")
        self.handle = handle


class SignupClosed(Exception):
    """An unknown TikTok account tried to sign in and sign-up is closed: nothing created."""

    def __init__(self, handle: str) -> None:
        super().__init__(f"No user has the TikTok account @{handle} and sign-up is closed.")
        self.handle = handle


def profile_text(value: Any, length: int = 100) -> str:
    """A userinfo field fit for a CharField: text, no control characters (no NUL)."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return ""
    return "".join(ch for ch in str(value) if ch.isprintable())[:length]


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


@sensitive_variables()
def sign_in(request: HttpRequest, client: OAuthClient, tokens: Any,
            profile: dict[str, Any]) -> tuple[Connection, bool]:
    """The connection of the TikTok account ``profile`` names, its tokens and display data
    stored, and whether its user was signed up just now. Raises :class:`SignupClosed`."""
    values = {**_token_values(tokens), **display_data(profile)}
    if not values.get("external_id"):
        raise ValueError("Sign-in needs the account's uid from userinfo.")
    adapter = get_adapter()
    for attempt in range(2):
        try:
            with transaction.atomic():
                owner = (Connection.objects.for_account(client, values["external_id"])
                         .values_list("user_id", flat=True).first())
                if owner is not None:
                    connection, _created = _upsert(owner, client, values, request)
                    return connection, False
                if not adapter.is_signup_allowed(request, profile):
                    raise SignupClosed(values.get("external_username", ""))
                user_model = get_user_model()
                user = user_model(**{user_model.USERNAME_FIELD: free_username(
                    values.get("external_username", ""))})
                user.set_unusable_password()
                adapter.populate_user(request, user, profile)
                user.save()
                connection, _created = _upsert(user.pk, client, values, request)
                transaction.on_commit(partial(signed_up.send, sender=Connection, user=user,
                                              connection=connection, request=request))
                return connection, True
        except IntegrityError:
            if attempt:  # a concurrent sign-up of the same account won twice
                raise
    raise AssertionError("unreachable")


def has_other_way_in(connection: Connection) -> bool:
    """Whether the owner can still sign in without ``connection``: a usable password or
    another active connection."""
    user = connection.user
    if user.has_usable_password():
        return True
    return (Connection.objects.usable_by(user).filter(user_id=user.pk)
            .exclude(pk=connection.pk).exists())


def current_connection(request: HttpRequest) -> Connection | None:
    """The connection the request works with: the one chosen with ``switch`` in this
    session while the user may still use it, else the user's most recently connected
    active one for the default client (:meth:`ConnectionQuerySet.default_for`)."""
    user = request.user
    session = getattr(request, "session", None)
    chosen = session.get(CURRENT_KEY) if session is not None else None
    if isinstance(chosen, int) and getattr(user, "is_authenticated", False):
        found = (Connection.objects.usable_by(user).filter(pk=chosen)
                 .only(*TOKEN_READ_FIELDS).first())
        if found is not None:
            return found
    return Connection.objects.default_for(user)
