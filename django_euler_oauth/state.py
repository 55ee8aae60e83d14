"""Authorization state: unguessable, bound to the browser session, single use, short-lived.

Each authorize request stores an entry in the session; several tabs may have one
in flight at once (up to ``EULER_OAUTH_MAX_PENDING_STATES``, oldest dropped).
The callback compares the returned ``state`` with every pending entry in
constant time, removes the match (single use) and rejects it when it is
expired or was made for another user.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import time
from typing import Any

from django.http import HttpRequest

from .conf import app_settings
from .errors import StateError

SESSION_KEY = "_euler_oauth_pending"
MAX_STATE_LENGTH = 512


@dataclasses.dataclass
class PendingAuthorization:
    state: str
    client: str
    scope: str
    redirect_uri: str
    next_url: str
    user_pk: str
    created: float
    code_verifier: str = ""
    purpose: str = "connect"  # or "login": "Sign in with TikTok"

    def __repr__(self) -> str:
        return f"<PendingAuthorization client={self.client!r} scope={self.scope!r}>"

    @property
    def age(self) -> float:
        return time.time() - self.created


def make_pkce_pair() -> tuple[str, str]:
    """``(verifier, S256 challenge)``: a 64-character base64url verifier (RFC 7636)."""
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(48)).rstrip(b"=").decode()
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, challenge


def _pending(request: HttpRequest) -> list[dict[str, Any]]:
    value = request.session.get(SESSION_KEY)
    return list(value) if isinstance(value, list) else []


def _fresh(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lifetime = app_settings.STATE_LIFETIME
    now = time.time()
    return [e for e in entries if isinstance(e, dict) and now - e.get("created", 0) <= lifetime]


def begin(request: HttpRequest, *, client: str, scope: str, redirect_uri: str, next_url: str,
          use_pkce: bool, purpose: str = "connect") -> tuple[PendingAuthorization, str | None]:
    """Store a new pending authorization; returns it and the PKCE challenge, if any."""
    verifier, challenge = make_pkce_pair() if use_pkce else ("", None)
    pending = PendingAuthorization(
        state=secrets.token_urlsafe(32), client=client, scope=scope,
        redirect_uri=redirect_uri, next_url=next_url, user_pk=str(request.user.pk),
        created=time.time(), code_verifier=verifier, purpose=purpose,
    )
    entries = _fresh(_pending(request))
    entries.append(dataclasses.asdict(pending))
    request.session[SESSION_KEY] = entries[-app_settings.MAX_PENDING_STATES:]
    return pending, challenge


def consume(request: HttpRequest, state: str | None) -> PendingAuthorization:
    """Take the pending authorization ``state`` names, or raise :class:`StateError`.

    The entry is removed whatever happens next, so a state works once.
    """
    if not state:
        raise StateError("The callback has no state parameter.")
    if len(state) > MAX_STATE_LENGTH:
        raise StateError("The state parameter is too long.")
    entries = _pending(request)
    match: dict[str, Any] | None = None
    given = state.encode("utf-8", "replace")
    for entry in entries:
        # Compare against every entry so timing reveals nothing about which matched.
        stored = str(entry.get("state", "")).encode("utf-8") if isinstance(entry, dict) else b""
        if hmac.compare_digest(stored, given) and match is None:
            match = entry
    if match is None:
        raise StateError("The state is unknown to this browser session (replayed, forged, "
                         "or the session was lost on the way back).")
    entries.remove(match)
    request.session[SESSION_KEY] = _fresh(entries)
    try:
        pending = PendingAuthorization(**match)
    except TypeError:
        raise StateError("The stored state is damaged.") from None
    if pending.age > app_settings.STATE_LIFETIME:
        raise StateError("The state has expired (it lives "
                         f"{app_settings.STATE_LIFETIME} seconds).")
    if pending.user_pk != str(getattr(request.user, "pk", None)):
        raise StateError("The state was made for another user.")
    return pending


def purge_expired(request: HttpRequest) -> None:
    """Drop expired pending authorizations from the session."""
    if SESSION_KEY in request.session:
        request.session[SESSION_KEY] = _fresh(_pending(request))
