"""Teams: a connection's owner lets other site users act with it, within limits.

:func:`create_invitation` makes a single-use, expiring link (only its SHA-256 is
stored); :func:`accept_invitation` turns it into a
:class:`~django_euler_oauth.models.Delegation` for the signed-in user;
:func:`grant` and :func:`revoke` do it directly (the admin, the owner's page).
Only the owner, or staff holding the model permission, grants and revokes.
:func:`may_use` is the check :class:`~django_euler_oauth.api.EulerAPI` makes
before any request. ``delegation_granted``/``delegation_revoked`` are sent after
commit.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Iterable
from functools import partial
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from .conf import app_settings
from .errors import InvitationRefused
from .locking import db_alias
from .models import Connection, Delegation, Invitation
from .scopes import allows_any, missing, within
from .signals import delegation_granted, delegation_revoked

__all__ = ["InvitationRefused", "accept_invitation", "can_manage", "check_grant",
           "create_invitation", "delegated_scopes", "end_delegations", "end_team", "grant",
           "hash_token", "may_use", "revoke", "revoke_invitation"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def can_manage(user: Any, connection: Connection) -> bool:
    """The owner, or staff with ``django_euler_oauth.change_delegation``."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.pk == connection.user_id:
        return True
    return bool(user.is_staff and user.has_perm("django_euler_oauth.change_delegation"))


def _check_manager(user: Any, connection: Connection) -> None:
    if not can_manage(user, connection):
        raise PermissionDenied(_("Only the account's owner may manage its team."))


def _checked_scopes(connection: Connection, scopes: str | Iterable[str]) -> str:
    """``scopes`` as a space-separated string, each one granted to ``connection``."""
    wanted = scopes.split() if isinstance(scopes, str) else list(scopes)
    outside = missing(connection.scope_list, wanted)
    if not wanted:
        raise ValidationError(_("Choose at least one permission."), code="no_scopes")
    if outside:
        raise ValidationError(
            _("The account has not granted: %(scopes)s.") % {"scopes": " ".join(outside)},
            code="scope_not_granted")
    return " ".join(dict.fromkeys(wanted))


def _check_usable(connection: Connection) -> None:
    if not connection.is_active:
        raise ValidationError(_("This account is not connected."), code="inactive")


def _check_end(expires_at: datetime.datetime | None) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError(_("The end of access must be in the future."),
                              code="ends_in_past")


def check_grant(connection: Connection, user: Any, scopes: str | Iterable[str],
                expires_at: datetime.datetime | None = None) -> str:
    """What :func:`grant` checks besides who grants: ``scopes`` as stored, else
    ``ValidationError`` (the connection not active, ``user`` its owner, a scope the
    connection lacks or none, an end of access not in the future)."""
    _check_usable(connection)
    if user.pk == connection.user_id:
        raise ValidationError(_("The owner already has every permission."), code="owner")
    _check_end(expires_at)
    return _checked_scopes(connection, scopes)


_NOBODY = object()


def grant(connection: Connection, user: Any, scopes: str | Iterable[str], *,
          by: Any = _NOBODY, expires_at: datetime.datetime | None = None) -> Delegation:
    """Give ``user`` the use of ``connection`` for ``scopes`` (replacing a live one).

    ``by`` is who grants (the owner, or staff with the permission): ``by=request.user``.
    """
    if by is _NOBODY:
        raise TypeError("grant() needs by=, the user granting (the connection's owner or "
                        "staff with django_euler_oauth.change_delegation): "
                        "grant(connection, user, scopes, by=request.user).")
    _check_manager(by, connection)
    scope_text = check_grant(connection, user, scopes, expires_at)
    with transaction.atomic():
        return _replace(connection, user, scope_text, expires_at,
                        by if getattr(by, "is_authenticated", False) else None)


def _replace(connection: Connection, user: Any, scopes: str,
             expires_at: datetime.datetime | None, by: Any) -> Delegation:
    """The new delegation, ending ``user``'s live one first (in the caller's transaction)."""
    for old in Delegation.objects.live().filter(connection=connection, user=user):
        _end(old)
    delegation = Delegation.objects.create(connection=connection, user=user, scopes=scopes,
                                           expires_at=expires_at, created_by=by)
    transaction.on_commit(partial(delegation_granted.send, sender=Delegation,
                                  delegation=delegation))
    return delegation


def _end(delegation: Delegation) -> bool:
    """Mark ``delegation`` revoked (inside the caller's transaction); False if it was."""
    now = timezone.now()
    if not Delegation.objects.filter(pk=delegation.pk, revoked_at__isnull=True).update(
            revoked_at=now):
        return False
    delegation.revoked_at = now
    transaction.on_commit(partial(delegation_revoked.send, sender=Delegation,
                                  delegation=delegation))
    return True


def revoke(delegation: Delegation, *, by: Any) -> bool:
    """End ``delegation`` now; False when it had already ended."""
    _check_manager(by, delegation.connection)
    with transaction.atomic():
        return _end(delegation)


def end_team(connection: Connection) -> int:
    """End every live delegation of ``connection`` and withdraw its pending invitations
    (it was disconnected, revoked, or given tokens of an account nobody can vouch for);
    how many delegations ended."""
    alias = db_alias(connection)
    with transaction.atomic(using=alias):
        Invitation.objects.using(alias).filter(
            connection_id=connection.pk, used_at__isnull=True, revoked_at__isnull=True,
        ).update(revoked_at=timezone.now())
        return sum(_end(d) for d in Delegation.objects.using(alias).filter(
            connection_id=connection.pk, revoked_at__isnull=True))


#: The former name of :func:`end_team`, which now also withdraws pending invitations.
end_delegations = end_team


def delegated_scopes(user: Any, connection: Connection) -> list[str] | None:
    """What ``user`` may use on ``connection``: every scope for the owner, the union of
    live delegations' scopes for a delegate (None on an inactive connection), None for
    anybody else."""
    if not getattr(user, "is_authenticated", False):
        return None
    if user.pk == connection.user_id:
        # The owner keeps every scope, whatever the connection's state: a call then meets
        # the real reason (reconnect your account), never "ask its owner".
        return connection.scope_list
    if not connection.is_active:
        return None
    rows = Delegation.objects.using(db_alias(connection)).live().filter(
        connection_id=connection.pk, user_id=user.pk).values_list("scopes", flat=True)
    scopes = [scope for row in rows for scope in row.split()]
    if not scopes:
        return None
    return within(connection.scope_list, scopes)


def may_use(user: Any, connection: Connection, scopes: Iterable[str]) -> bool:
    """True when ``user`` may make a call needing any one of ``scopes`` (none: any call)."""
    allowed = delegated_scopes(user, connection)
    return allowed is not None and allows_any(allowed, scopes)


@sensitive_variables("token")
def create_invitation(connection: Connection, scopes: str | Iterable[str], *, by: Any,
                      delegation_expires_at: datetime.datetime | None = None,
                      lifetime: int | None = None) -> tuple[Invitation, str]:
    """A new invitation and its link token (shown once; only its hash is stored)."""
    _check_manager(by, connection)
    _check_usable(connection)
    _check_end(delegation_expires_at)
    scope_text = _checked_scopes(connection, scopes)
    seconds = app_settings.INVITATION_LIFETIME if lifetime is None else lifetime
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        connection=connection, token_hash=hash_token(token), scopes=scope_text,
        delegation_expires_at=delegation_expires_at, created_by=by,
        expires_at=timezone.now() + datetime.timedelta(seconds=seconds))
    return invitation, token


def revoke_invitation(invitation: Invitation, *, by: Any) -> bool:
    """Withdraw a pending invitation; False if it was used or withdrawn already."""
    _check_manager(by, invitation.connection)
    return bool(Invitation.objects.filter(
        pk=invitation.pk, used_at__isnull=True, revoked_at__isnull=True).update(
            revoked_at=timezone.now()))


@sensitive_variables("token")
def find_invitation(token: str) -> Invitation:
    """The invitation for ``token`` if it can still be accepted, else InvitationRefused."""
    invitation = Invitation.objects.select_related("connection").filter(
        token_hash=hash_token(token or "")).first()
    if invitation is None:
        raise InvitationRefused(_("This invitation link is not valid."), code="unknown")
    if invitation.revoked_at is not None:
        raise InvitationRefused(_("This invitation was withdrawn by the account's owner."),
                                code="revoked")
    if invitation.used_at is not None:
        raise InvitationRefused(_("This invitation has already been used."), code="used")
    if invitation.expires_at <= timezone.now():
        raise InvitationRefused(_("This invitation has expired. Ask the owner for a new one."),
                                code="expired")
    if not invitation.connection.is_active:
        raise InvitationRefused(_("The account of this invitation is no longer connected."),
                                code="inactive")
    ends = invitation.delegation_expires_at
    if ends is not None and ends <= timezone.now():
        raise InvitationRefused(_("The access this invitation offers has already ended. "
                                  "Ask the owner for a new one."), code="access_ended")
    try:
        _checked_scopes(invitation.connection, invitation.scopes)
    except ValidationError:
        raise InvitationRefused(_("The account no longer grants what this invitation "
                                  "offers. Ask the owner for a new one."),
                                code="scopes_lost") from None
    return invitation


@sensitive_variables("token")
def accept_invitation(token: str, user: Any) -> Delegation:
    """Use the invitation for ``token`` as ``user``: a delegation, once and only once."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied(_("Sign in to accept an invitation."))
    invitation = find_invitation(token)
    connection = invitation.connection
    if user.pk == connection.user_id:
        raise InvitationRefused(_("This is your own account."), code="owner")
    with transaction.atomic():
        # Single use even under a double submit: only one UPDATE finds it unused.
        if not Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True,
                                         revoked_at__isnull=True).update(
                used_at=timezone.now(), used_by=user):
            raise InvitationRefused(_("This invitation has already been used."), code="used")
        return _replace(connection, user, _checked_scopes(connection, invitation.scopes),
                        invitation.delegation_expires_at, invitation.created_by)
