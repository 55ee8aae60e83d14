"""Settings of django-euler-oauth, read live.

Each setting is a property of :data:`app_settings`, so ``override_settings`` in
tests takes effect at once. A value in Django's settings wins; otherwise the
environment variable of the same name is read through django-environ, so a
twelve-factor deployment can configure the app without touching settings.py.
"""

from __future__ import annotations

import datetime
from typing import Any

import environ
from django.conf import settings

from .scopes import SCOPE_ALIASES, SPEC_SCOPES

PREFIX = "EULER_OAUTH_"

_env = environ.Env()
_MISSING = object()

# Scopes the provider documents (the OpenAPI enum plus the guide's names for two of
# them). The provider adds scopes over time, so this is a default, never a hard list.
DEFAULT_KNOWN_SCOPES: tuple[str, ...] = (*SPEC_SCOPES, *SCOPE_ALIASES)


class AppSettings:
    """One typed property per setting; see the docs' "Settings" page."""

    def _get(self, name: str, kind: str, default: Any) -> Any:
        full = PREFIX + name
        value = getattr(settings, full, _MISSING)
        if value is not _MISSING:
            return value
        reader = getattr(_env, kind)
        return reader(full, default=default)

    @property
    def ENCRYPTION_KEYS(self) -> list[str]:
        """Fernet keys, newest first. The first encrypts; all of them decrypt."""
        value = self._get("ENCRYPTION_KEYS", "list", [])
        if isinstance(value, str):
            value = [part for part in value.split(",")]
        return [str(key).strip() for key in value if str(key).strip()]

    @property
    def DEFAULT_CLIENT(self) -> str | None:
        """Slug of the OAuthClient used when a request names none."""
        return self._get("DEFAULT_CLIENT", "str", None) or None

    @property
    def HTTP_TIMEOUT(self) -> float:
        """Seconds one call to the provider may take in all (connect, wait, whole answer)."""
        return float(self._get("HTTP_TIMEOUT", "float", 10.0))

    @property
    def HTTP_POOL_SIZE(self) -> int:
        """Kept-alive connections per provider host (the threads calling it at once)."""
        return max(1, int(self._get("HTTP_POOL_SIZE", "int", 10)))

    @property
    def MAX_RESPONSE_BYTES(self) -> int:
        """Largest answer (bytes) read from the provider; a larger one is refused unread."""
        return int(self._get("MAX_RESPONSE_BYTES", "int", 1024 * 1024))

    @property
    def MAX_BINARY_RESPONSE_BYTES(self) -> int:
        """Largest binary API answer (bytes), e.g. the connect endpoints' protobuf."""
        return int(self._get("MAX_BINARY_RESPONSE_BYTES", "int", 16 * 1024 * 1024))

    @property
    def STATE_LIFETIME(self) -> int:
        """Seconds an authorization state stays valid (the provider's code lives ~10 min)."""
        return int(self._get("STATE_LIFETIME", "int", 600))

    @property
    def AUDIT_RETENTION_DAYS(self) -> int:
        """Days ``euler_oauth_prune_audit`` keeps audit entries (the teams' audit trail)."""
        return int(self._get("AUDIT_RETENTION_DAYS", "int", 90))

    @property
    def INVITATION_LIFETIME(self) -> int:
        """Seconds a team invitation link stays valid."""
        return int(self._get("INVITATION_LIFETIME", "int", 7 * 24 * 3600))

    @property
    def LIVE_LEASE_SECONDS(self) -> float:
        """How long a relay's hold on a room lasts without renewal: a dead relay's rooms
        are taken over by another within this time (``euler_oauth_live``)."""
        return max(3.0, float(self._get("LIVE_LEASE_SECONDS", "float", 30.0)))

    @property
    def LIVE_QUEUE_SIZE(self) -> int:
        """Events a relay process holds for delivery at most; past it the oldest are
        dropped (and counted in the log), so a stalled receiver never grows memory."""
        return max(100, int(self._get("LIVE_QUEUE_SIZE", "int", 10_000)))

    @property
    def LIVE_TOKEN_RATE(self) -> int:
        """Browser tokens (``live_token``) one user may mint per minute."""
        return max(1, int(self._get("LIVE_TOKEN_RATE", "int", 10)))

    @property
    def MAX_PENDING_STATES(self) -> int:
        """How many authorizations one browser session may have in flight (tabs)."""
        return int(self._get("MAX_PENDING_STATES", "int", 10))

    @property
    def REFRESH_LEEWAY(self) -> datetime.timedelta:
        """Refresh an access token this long before it expires."""
        value = self._get("REFRESH_LEEWAY", "int", 300)
        if isinstance(value, datetime.timedelta):
            return value
        return datetime.timedelta(seconds=int(value))

    @property
    def REFRESH_TOKEN_LIFETIME(self) -> datetime.timedelta:
        """Refresh-token lifetime when the provider does not say (documented: 30 days)."""
        value = self._get("REFRESH_TOKEN_LIFETIME", "int", 30 * 24 * 3600)
        if isinstance(value, datetime.timedelta):
            return value
        return datetime.timedelta(seconds=int(value))

    @property
    def SIGNUP(self) -> bool:
        """Whether "Sign in with TikTok" makes a new user for an unknown TikTok account."""
        return bool(self._get("SIGNUP", "bool", True))

    @property
    def STAFF_SIGN_IN(self) -> bool:
        """Whether staff and superusers may sign in with TikTok (default: no; they use
        their password and whatever second factor the site has)."""
        return bool(self._get("STAFF_SIGN_IN", "bool", False))

    @property
    def ACCOUNT_ADAPTER(self) -> str:
        """Dotted path of the account adapter class (sign-up policy, user fields)."""
        return str(self._get("ACCOUNT_ADAPTER", "str", "django_euler_oauth.adapter.AccountAdapter"))

    @property
    def SUCCESS_URL(self) -> str:
        """Where the callback sends the user after connecting, when no ``next`` was given."""
        return str(self._get("SUCCESS_URL", "str", "/"))

    @property
    def FAILURE_URL(self) -> str | None:
        """Where to send the user after a cancelled or failed authorization.

        ``None`` (the default) renders the error page instead; a cancel then
        returns to ``next`` or the success URL.
        """
        return self._get("FAILURE_URL", "str", None) or None

    @property
    def KNOWN_SCOPES(self) -> list[str]:
        """Scopes accepted by the authorize view; others never leave the site."""
        value = self._get("KNOWN_SCOPES", "list", list(DEFAULT_KNOWN_SCOPES))
        if isinstance(value, str):
            value = value.replace(",", " ").split()
        return [str(scope) for scope in value]

    @property
    def API_KEY(self) -> str | None:
        """Euler account API key, sent as ``x-api-key`` by clients using ``x-oauth-token``."""
        return self._get("API_KEY", "str", None) or None

    @property
    def API_MAX_RETRIES(self) -> int:
        """Retries of an API call answered 429 or 503 (bounded, honouring reset headers)."""
        return int(self._get("API_MAX_RETRIES", "int", 2))

    @property
    def API_MAX_RETRY_WAIT(self) -> float:
        """Longest wait, in seconds, for one retry of a rate-limited API call."""
        return float(self._get("API_MAX_RETRY_WAIT", "float", 10.0))

    @property
    def LOCK_TIMEOUT(self) -> float:
        """Seconds a refresh waits for another refresh of the same connection."""
        return float(self._get("LOCK_TIMEOUT", "float", 30.0))


app_settings = AppSettings()
