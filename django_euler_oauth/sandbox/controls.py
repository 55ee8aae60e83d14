"""Test and demo controls of the sandbox provider, and the fault machinery behind them.

Every control writes to the sandbox database, so it affects all processes
serving the sandbox at once. Endpoint names: the OAuth ones (``authorize``,
``token``, ``revoke``, ``introspect``, ``validate-refresh``, ``clients``) and
every API endpoint of :data:`django_euler_oauth.endpoints.ENDPOINTS` by its
name (``send_room_chat``, ...), and ``create_jwt`` (``accounts/<id>/jwt/create``); the
older names ``userinfo``, ``webcast/fetch``, ``webcast/bulk_live_check`` and
``webcast/rankings`` still work. ``*`` (or ``None``) means every endpoint.

The LIVE controls (:func:`go_live`, :func:`end_live`, :func:`viewer_event`,
:func:`drop_sockets`, from :mod:`.live`) change the fake accounts' LIVE and reach the
sandbox WebSocket's open sockets through the channel layer.
"""

from __future__ import annotations

import datetime
import time

from django.db import IntegrityError, router, transaction
from django.db.models import F
from django.utils import timezone

from django_euler_oauth.endpoints import ENDPOINTS as API_ENDPOINTS

from .live import drop_sockets as drop_sockets
from .live import end_live as end_live
from .live import go_live as go_live
from .live import viewer_event as viewer_event
from .models import AccessToken, CallCounter, FakeAccount, Fault, Grant, token_hash
from .responses import API_ERRORS
from .rooms import is_live

OAUTH_ENDPOINTS = ("authorize", "token", "revoke", "introspect", "validate-refresh",
                   "clients")
# Authenticated with the account's API key, not a user's token.
ACCOUNT_ENDPOINTS = ("create_jwt",)
ENDPOINTS: tuple[str, ...] = (OAUTH_ENDPOINTS + ACCOUNT_ENDPOINTS
                              + tuple(e.name for e in API_ENDPOINTS))
# The names these endpoints had before the table: scripts and tests still use them.
ALIASES: dict[str, str] = {
    "userinfo": "get_user_info",
    "webcast/fetch": "legacy_fetch",
    "webcast/bulk_live_check": "retrieve_bulk_live_check",
    "webcast/rankings": "retrieve_webcast_rankings",
}
ALL = "*"
MAX_LATENCY_MS = 30_000


class Injected:
    """What the faults say about one request."""

    def __init__(self, latency_ms: int = 0, fail_status: int | None = None,
                 rate_limit_reset: int | None = None, error_code: str = "") -> None:
        self.latency_ms = latency_ms
        self.fail_status = fail_status
        self.rate_limit_reset = rate_limit_reset
        self.error_code = error_code  # one of responses.API_ERRORS, or ""


def _key(endpoint: str | None) -> str:
    if endpoint in (None, "", ALL):
        return ALL
    endpoint = ALIASES.get(endpoint, endpoint)
    if endpoint not in ENDPOINTS:
        raise ValueError(f"Unknown sandbox endpoint {endpoint!r}; one of {', '.join(ENDPOINTS)}.")
    return endpoint


def _fault(endpoint: str | None) -> Fault:
    alias = router.db_for_write(Fault)
    key = _key(endpoint)
    try:
        with transaction.atomic(using=alias):
            return Fault.objects.get_or_create(endpoint=key)[0]
    except IntegrityError:  # created concurrently
        return Fault.objects.get(endpoint=key)


# -- call counting ----------------------------------------------------------------

def count_call(endpoint: str) -> None:
    """Add one to ``endpoint``'s counter with a single UPDATE (exact under concurrency)."""
    endpoint = _key(endpoint)
    if CallCounter.objects.filter(endpoint=endpoint).update(count=F("count") + 1):
        return
    try:
        with transaction.atomic(using=router.db_for_write(CallCounter)):
            CallCounter.objects.create(endpoint=endpoint, count=1)
    except IntegrityError:  # another process created it first
        CallCounter.objects.filter(endpoint=endpoint).update(count=F("count") + 1)


def call_count(endpoint: str) -> int:
    row = CallCounter.objects.filter(endpoint=_key(endpoint)).first()
    return row.count if row else 0


def call_counts() -> dict[str, int]:
    return dict(CallCounter.objects.values_list("endpoint", "count"))


def reset_counts() -> None:
    CallCounter.objects.all().delete()


# -- faults ---------------------------------------------------------------------

def set_latency(ms: int, endpoint: str | None = None) -> None:
    """Delay every answer of ``endpoint`` (or all) by ``ms`` milliseconds (0 to stop)."""
    if not 0 <= ms <= MAX_LATENCY_MS:
        raise ValueError(f"Latency must be between 0 and {MAX_LATENCY_MS} ms.")
    fault = _fault(endpoint)
    Fault.objects.filter(pk=fault.pk).update(latency_ms=ms)


def fail_next(count: int, status: int = 500, endpoint: str | None = None) -> None:
    """Answer the next ``count`` requests of ``endpoint`` (or any) with ``status`` (500/503)."""
    if status not in (500, 502, 503, 504):
        raise ValueError("Failures are answered with 500, 502, 503 or 504.")
    if not 0 <= count <= 10_000:
        raise ValueError("count must be between 0 and 10000.")
    fault = _fault(endpoint)
    Fault.objects.filter(pk=fault.pk).update(fail_next=count, fail_status=status)


def rate_limit(seconds: int, endpoint: str | None = None) -> None:
    """Answer ``endpoint`` (or all) with 429 for the next ``seconds`` (0 to stop)."""
    if not 0 <= seconds <= 3600:
        raise ValueError("seconds must be between 0 and 3600.")
    until = timezone.now() + datetime.timedelta(seconds=seconds) if seconds else None
    fault = _fault(endpoint)
    Fault.objects.filter(pk=fault.pk).update(rate_limited_until=until)


def inject_error(code: str, endpoint: str | None = None, count: int = 1) -> None:
    """Answer the next ``count`` requests of ``endpoint`` (or any) with the documented
    error ``code``: ``unauthorized``, ``token_expired``, ``invalid_token``,
    ``revoked_token``, ``insufficient_scope``, ``session_expired``, ``rate_limited``
    (429 with reset headers), ``server_error`` (500) or ``temporarily_unavailable`` (503).
    ``count`` 0 stops it."""
    if code not in API_ERRORS:
        raise ValueError(f"Unknown error {code!r}; one of {', '.join(API_ERRORS)}.")
    if not 0 <= count <= 10_000:
        raise ValueError("count must be between 0 and 10000.")
    fault = _fault(endpoint)
    Fault.objects.filter(pk=fault.pk).update(error_code=code, error_next=count)


def reset_faults() -> None:
    Fault.objects.all().delete()


def injected(endpoint: str) -> Injected:
    """Consume the faults that apply to one request of ``endpoint``."""
    endpoint = _key(endpoint)
    faults = list(Fault.objects.filter(endpoint__in=(endpoint, ALL)))
    if not faults:
        return Injected()
    now = timezone.now()
    result = Injected(latency_ms=max(f.latency_ms for f in faults))
    for fault in sorted(faults, key=lambda f: f.endpoint == ALL):  # specific first
        if fault.rate_limited_until and fault.rate_limited_until > now:
            left = (fault.rate_limited_until - now).total_seconds()
            result.rate_limit_reset = max(1, int(left + 0.999))
            return result
    for fault in sorted(faults, key=lambda f: f.endpoint == ALL):
        # A conditional decrement: exactly ``fail_next`` requests fail, however many race.
        if fault.fail_next and Fault.objects.filter(pk=fault.pk, fail_next__gt=0).update(
                fail_next=F("fail_next") - 1):
            result.fail_status = fault.fail_status
            return result
    for fault in sorted(faults, key=lambda f: f.endpoint == ALL):
        if fault.error_next and Fault.objects.filter(pk=fault.pk, error_next__gt=0).update(
                error_next=F("error_next") - 1):
            result.error_code = fault.error_code
            return result
    return result


def sleep_for(faults: Injected) -> None:
    if faults.latency_ms:
        time.sleep(min(faults.latency_ms, MAX_LATENCY_MS) / 1000)


# -- accounts and tokens --------------------------------------------------------------

def _account(unique_id: str) -> FakeAccount:
    return FakeAccount.objects.get(unique_id=unique_id.lstrip("@"))


def expire_session(unique_id: str) -> int:
    """Kill the TikTok session behind every grant of ``@unique_id``: its API calls now
    answer ``session_expired`` (a new authorization starts a new session).
    Returns the number of grants affected."""
    return Grant.objects.filter(account=_account(unique_id), session_alive=True).update(
        session_alive=False)


def expire_access_tokens(unique_id: str | None = None, client_id: str | None = None,
                         token: str | None = None) -> int:
    """Make access tokens expire now (one ``token``, or all of an account and/or client)."""
    queryset = AccessToken.objects.filter(expires_at__gt=timezone.now())
    if token is not None:
        queryset = queryset.filter(token_hash=token_hash(token))
    if unique_id is not None:
        queryset = queryset.filter(grant__account=_account(unique_id))
    if client_id is not None:
        queryset = queryset.filter(grant__client__client_id=client_id)
    past = timezone.now() - datetime.timedelta(seconds=1)
    return AccessToken.objects.filter(pk__in=list(queryset.values_list("pk", flat=True))
                                      ).update(expires_at=past)


def expire_refresh_tokens(unique_id: str | None = None, client_id: str | None = None) -> int:
    """Make grants' refresh tokens expire now (the 30 days are over)."""
    queryset = Grant.objects.filter(revoked_at__isnull=True)
    if unique_id is not None:
        queryset = queryset.filter(account=_account(unique_id))
    if client_id is not None:
        queryset = queryset.filter(client__client_id=client_id)
    return queryset.update(refresh_expires_at=timezone.now() - datetime.timedelta(seconds=1))


def reset() -> None:
    """Forget faults and counters (clients, accounts and grants stay)."""
    reset_faults()
    reset_counts()


def snapshot() -> dict[str, object]:
    """The controls' state, for the control page and its JSON (no tokens, no secrets)."""
    now = timezone.now()
    return {
        "counts": call_counts(),
        "faults": [
            {"endpoint": f.endpoint, "latency_ms": f.latency_ms, "fail_next": f.fail_next,
             "fail_status": f.fail_status, "error_code": f.error_code,
             "error_next": f.error_next,
             "rate_limited_for": max(0, int((f.rate_limited_until - now).total_seconds()))
             if f.rate_limited_until else 0}
            for f in Fault.objects.order_by("endpoint")
        ],
        "accounts": [
            {"uniqueId": a.unique_id, "nickName": a.nickname,
             "live_grants": a.grants.filter(revoked_at__isnull=True).count(),
             "dead_sessions": a.grants.filter(session_alive=False).count(),
             "is_live": is_live(a)}
            for a in FakeAccount.objects.all()
        ],
    }
