"""Authorization state: unguessable, bound to the browser session, single use, short-lived.

Each authorize request stores an entry in the session; several tabs may have one
in flight at once (up to ``EULER_OAUTH_MAX_PENDING_STATES``, oldest dropped).
The callback compares the returned ``state`` with every pending entry in
constant time, removes the match (single use) and rejects it when it is
expired or was made for another user.

Two things help the callback explain a refusal. The state parameter ends with the
origin the authorization started on (base64url, after the 43 random characters): on
another host the browser sends another session, where no entry is found, and the origin
says why (it is not signed: it only chooses a hint, and only a host of ALLOWED_HOSTS is
shown). And a completed authorization is remembered (a digest of its state and code) for the
state's lifetime, so reloading the callback can say the account is connected.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import secrets
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host

from .conf import app_settings
from .errors import StateError

SESSION_KEY = "_euler_oauth_pending"
#: Authorizations completed in this session (digests of their states), for a reload.
COMPLETED_KEY = "_euler_oauth_completed"
MAX_COMPLETED = 5
MAX_STATE_LENGTH = 512
#: The random part of a state: ``secrets.token_urlsafe(32)``.
RANDOM_LENGTH = 43
#: Longest origin carried in the state (a longer one is left out: no hint then).
MAX_ORIGIN_LENGTH = 120


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
    origin: str = ""  # scheme://host the authorization started on

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


def origin_of(request: HttpRequest) -> str:
    """``scheme://host[:port]`` of ``request`` (the host validated by Django), or ""."""
    try:
        return f"{request.scheme}://{request.get_host()}"
    except DisallowedHost:
        return ""


def _encode_origin(origin: str) -> str:
    if len(origin) > MAX_ORIGIN_LENGTH:
        return ""
    return base64.urlsafe_b64encode(origin.encode("utf-8")).rstrip(b"=").decode("ascii")


def _served_here(origin: str) -> bool:
    """Whether ``origin`` is an http(s) origin on a host this site serves (ALLOWED_HOSTS,
    or Django's local defaults under DEBUG): never echo a host someone made up."""
    scheme, _sep, netloc = origin.partition("://")
    if scheme not in ("http", "https") or not netloc or "/" in netloc:
        return False
    domain, _port = split_domain_port(netloc)
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def started_on(state: str | None) -> str:
    """The origin the authorization ``state`` names started on, or "" (none, damaged,
    or a host this site does not serve). Unsigned: use it to choose a hint only."""
    if not state or len(state) > MAX_STATE_LENGTH or len(state) <= RANDOM_LENGTH:
        return ""
    encoded = state[RANDOM_LENGTH:]
    try:
        origin = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")
    except (ValueError, UnicodeError):
        return ""
    if not origin.isprintable() or len(origin) > MAX_ORIGIN_LENGTH:
        return ""
    return origin if _served_here(origin) else ""


def _digest(state: str, code: str) -> str:
    return hashlib.sha256(f"{state}\n{code}".encode("utf-8", "replace")).hexdigest()


def remember_completed(request: HttpRequest, pending: PendingAuthorization, code: str,
                       connection_pk: int) -> None:
    """Note that ``pending`` and ``code`` (the callback's URL) connected ``connection_pk``,
    for a reload of the callback. Only a digest of the two is kept."""
    now = time.time()
    lifetime = app_settings.STATE_LIFETIME
    kept = request.session.get(COMPLETED_KEY)
    entries = [e for e in (kept if isinstance(kept, list) else [])
               if isinstance(e, dict) and now - e.get("created", 0) <= lifetime]
    entries.append({"state": _digest(pending.state, code), "connection": connection_pk,
                    "next_url": pending.next_url, "created": now})
    request.session[COMPLETED_KEY] = entries[-MAX_COMPLETED:]


def completed(request: HttpRequest, state: str | None,
              code: str | None) -> dict[str, Any] | None:
    """The record :func:`remember_completed` kept for ``state`` and ``code`` (a reload of
    the same callback URL, within the state's lifetime): ``{"connection": pk,
    "next_url": ...}``; None when there is none (another code is a replay, not a reload)."""
    if not state or not code or len(state) > MAX_STATE_LENGTH:
        return None
    kept = request.session.get(COMPLETED_KEY)
    digest = _digest(state, code)
    now = time.time()
    for entry in kept if isinstance(kept, list) else []:
        if (isinstance(entry, dict) and now - entry.get("created", 0)
                <= app_settings.STATE_LIFETIME
                and hmac.compare_digest(str(entry.get("state", "")), digest)):
            return entry
    return None


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
    origin = origin_of(request)
    pending = PendingAuthorization(
        state=secrets.token_urlsafe(32) + _encode_origin(origin), client=client, scope=scope,
        redirect_uri=redirect_uri, next_url=next_url, user_pk=str(request.user.pk),
        created=time.time(), code_verifier=verifier, purpose=purpose, origin=origin,
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
