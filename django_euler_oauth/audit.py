"""Writing the audit trail: one :class:`~django_euler_oauth.models.AuditEntry` per call.

A row holds the connection, the acting user, the endpoint's name, the outcome
(``ok`` or the error code) and, for moderation calls, the target (the viewer
muted, banned or made moderator, or the sensitive word) read from the call's
parameters. Nothing else from the call is kept: never a token, secret or API key.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from .endpoints import Endpoint

if TYPE_CHECKING:
    from .models import AuditEntry, Connection

#: Scopes whose calls act on someone or something in the room: their target is kept.
MODERATION_SCOPES = frozenset({"webcast:mute", "webcast:ban", "webcast:moderators",
                               "webcast:sensitive_words"})

#: Parameters naming a moderation call's target, in the order they are looked for.
TARGET_PARAMETERS = ("user_id", "tiktok_user_id", "to_user_id", "word", "word_id")

_MAX_TARGET = 100


def target_of(endpoint: Endpoint, params: Mapping[str, Any]) -> str:
    """The viewer (or word) a moderation call acts on; "" for any other call."""
    if not MODERATION_SCOPES.intersection(endpoint.scopes):
        return ""
    for name in TARGET_PARAMETERS:
        value = params.get(name)
        if value not in (None, ""):
            return str(value)[:_MAX_TARGET]
    return ""


def outcome_of(error: BaseException | None) -> str:
    """``ok``, or the error's code (its class name when it has none)."""
    if error is None:
        return "ok"
    code = getattr(error, "code", None)
    return str(code or type(error).__name__)[:60]


def record(connection: Connection, acting_user: Any, endpoint: Endpoint,
           params: Mapping[str, Any], error: BaseException | None = None) -> AuditEntry:
    """Write one audit row for a call ``acting_user`` made (or was refused) on ``connection``."""
    from .models import AuditEntry

    user_id = acting_user.pk if getattr(acting_user, "is_authenticated", False) else None
    return AuditEntry.objects.using(connection._state.db or "default").create(
        connection_id=connection.pk, acting_user_id=user_id, endpoint=endpoint.name,
        outcome=outcome_of(error), target=target_of(endpoint, params))


def prune(days: int, now: datetime.datetime | None = None) -> int:
    """Delete audit entries older than ``days`` days; how many went."""
    from .models import AuditEntry

    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    deleted, _by_model = AuditEntry.objects.older_than(cutoff).delete()
    return deleted


def record_scope_refusal(connection: Connection, acting_user: Any, scope: str) -> None:
    """A refused row for a view a delegate may not open (``euler_scopes_required``):
    the endpoint is the first one needing ``scope``, the outcome ``not_delegated``."""
    from .endpoints import endpoints_for_scope
    from .errors import NotDelegated

    needing = endpoints_for_scope(scope)
    if needing:
        record(connection, acting_user, needing[0], {}, NotDelegated())
