"""The exception tree: every error code Euler Stream documents, plus RFC 6749's.

Each provider error is a class with its OAuth ``code`` as a class attribute, a
``category`` saying what to do about it, the HTTP ``status`` the provider uses,
and a friendly, translatable ``message`` (the table in the provider's error
reference). :func:`error_for_code` turns a code from a redirect, a token answer
or an API answer into the right instance.

Our own configuration problems (no or bad encryption keys) raise
:class:`EncryptionKeyError`/:class:`ConfigurationError`, which derive from
``ImproperlyConfigured`` and *not* from :class:`EulerOAuthError`, so a broad
``except EulerOAuthError`` cannot hide a broken deployment.

The categories (:class:`Category`) say what to do about a provider error: ``user`` (the
user cancelled), ``configuration`` (fix the site or the client at Euler), ``request``
(a malformed request: a bug or a crafted link), ``reauthorize`` (the grant is gone: the
user connects again), ``refresh`` (refresh the access token and retry), ``scope`` (ask
the user for a scope), ``retry`` (try again later, honouring ``retry_after``).

Refusals of the app's own rules are here too, outside :class:`EulerOAuthError` because
the provider said nothing: :class:`NotDelegated` (a delegate's call, a 403), the
sign-in and account refusals (:class:`AccountHeldElsewhere`, :class:`SignupClosed`,
:class:`SignInRefused`, :class:`LastWayIn`), :class:`InvitationRefused`, and the
transport's :class:`BodyError` and the middleware's
:class:`SyncAttributeInAsyncContext`. Each changes nothing and says why.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.core.exceptions import (
    ImproperlyConfigured,
    PermissionDenied,
    SynchronousOnlyOperation,
    ValidationError,
)
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    import requests
    from django.utils.functional import _StrPromise


class Category:
    """What the caller should do about an error (the provider's grouping)."""

    USER_ACTION = "user_action"  # the user chose this (cancel): not a fault
    CONFIGURATION = "configuration"  # fix the OAuth client in the dashboard or settings
    REQUEST = "request"  # fix the code or the request
    REAUTHORIZE = "reauthorize"  # the grant is dead: the user must connect again
    REFRESH = "refresh"  # refresh the access token and retry
    SCOPE = "scope"  # re-authorize with more scopes
    RETRY = "retry"  # transient: try again later

    ALL = (USER_ACTION, CONFIGURATION, REQUEST, REAUTHORIZE, REFRESH, SCOPE, RETRY)


class Stage:
    AUTHORIZE = "authorize"  # on the redirect back to the callback
    TOKEN = "token"  # from the token (or revoke) endpoint
    API = "api"  # from an API call made with an access token
    LOCAL = "local"  # raised here, before or without asking the provider


_E = TypeVar("_E", bound=BaseException)
_MAX_DESCRIPTION = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each of ``secrets`` masked and its length bounded."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    # Anything shaped like a bearer token or long opaque credential.
    text = re.sub(r"(?i)(bearer\s+)\S+", r"\1[redacted]", text)
    # Control characters (newlines, NUL) would let a provider forge log lines.
    text = _CONTROL.sub(" ", text)
    if len(text) > _MAX_DESCRIPTION:
        text = text[:_MAX_DESCRIPTION] + "…"
    return text


class ConfigurationError(ImproperlyConfigured):
    """This site's configuration of django-euler-oauth is wrong."""


class EncryptionKeyError(ConfigurationError):
    """Encryption keys are missing or invalid, or none decrypts a stored value."""


class EulerOAuthError(Exception):
    """Base of every error the provider reports or the OAuth flow meets.

    Attributes: ``code`` (OAuth error code or ``""``), ``category``, ``status``
    (HTTP status, when there was one), ``description`` (the provider's
    ``error_description``, redacted and bounded), ``stage``, ``response`` (the
    ``requests.Response``, when there was one) and ``message``, the text to
    show a user.
    """

    code: ClassVar[str] = ""
    category: ClassVar[str] = Category.RETRY
    default_status: ClassVar[int | None] = None
    message: ClassVar[str | _StrPromise] = _("Something went wrong. Please try again.")

    def __init__(
        self,
        description: str = "",
        *,
        status: int | None = None,
        stage: str = Stage.LOCAL,
        response: requests.Response | None = None,
        code: str | None = None,
    ) -> None:
        self.description = redact(description or "")
        # Raised here, before any request (a scope refused locally): no HTTP status to claim.
        self.status = status if status is not None else (
            None if stage == Stage.LOCAL else self.default_status)
        self.stage = stage
        self.response = response
        if code is not None and code != self.code:
            self.code = code  # type: ignore[misc]  # unknown provider code kept verbatim
        super().__init__(self._text())

    def _text(self) -> str:
        head = self.code or type(self).__name__
        parts = [head]
        if self.status:
            parts.append(f"(HTTP {self.status})")
        if self.description:
            parts.append(f": {self.description}")
        return " ".join(parts).replace(" :", ":")

    @property
    def friendly_message(self) -> str:
        return str(self.message)

    @property
    def needs_reauthorization(self) -> bool:
        return self.category in (Category.REAUTHORIZE, Category.SCOPE)

    @property
    def is_retryable(self) -> bool:
        return self.category == Category.RETRY

    def __reduce__(self) -> tuple[Any, ...]:  # picklable for Celery and multiprocessing
        extra = {"retry_after": self.retry_after} if isinstance(self, RetryableError) else {}
        return (_rebuild, (type(self), self.description, self.status, self.stage, self.code,
                           extra))


def detached(error: _E) -> _E:
    """``error`` without its traceback and chained exceptions, for storing and raising later.

    The frames of a traceback keep their local variables alive, and Django's error
    reports show them: an error kept for another caller (a refresh that failed) must
    not carry the frames that held the tokens and the client secret.
    """
    error.__traceback__ = None
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


def _rebuild(cls: type[EulerOAuthError], description: str, status: int | None, stage: str,
             code: str, extra: dict[str, Any] | None = None) -> EulerOAuthError:
    return cls(description, status=status, stage=stage, code=code, **(extra or {}))


# --- categories --------------------------------------------------------------

class AuthorizationCancelled(EulerOAuthError):
    category = Category.USER_ACTION


class ProviderConfigurationError(EulerOAuthError, ImproperlyConfigured):
    """The provider rejected this OAuth client's configuration (fix it in the dashboard)."""

    category = Category.CONFIGURATION
    message = _("Application configuration error. Please contact support.")


class InvalidRequestError(EulerOAuthError):
    category = Category.REQUEST


class ReauthorizationRequired(EulerOAuthError):
    """The grant behind a connection is dead: the user must authorize again."""

    category = Category.REAUTHORIZE


class TokenExpiredError(EulerOAuthError):
    category = Category.REFRESH


class InsufficientScopeError(EulerOAuthError):
    """The access token lacks a scope the endpoint needs."""

    category = Category.SCOPE

    @property
    def missing_scope(self) -> str | None:
        match = re.search(r"scope:?\s*([A-Za-z0-9_.:\-]+)\s*$", self.description)
        return match.group(1) if match else None


class RetryableError(EulerOAuthError):
    """Transient trouble at the provider or on the way there; nothing was changed."""

    category = Category.RETRY
    message = _("Server error. Please try again later.")

    def __init__(self, description: str = "", *, retry_after: float | None = None,
                 **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(description, **kwargs)


# --- one class per documented code ------------------------------------------

class AccessDenied(AuthorizationCancelled):
    code = "access_denied"
    message = _("You cancelled the connection. No worries!")


class InvalidClient(ProviderConfigurationError):
    code = "invalid_client"
    default_status = 401


class InvalidRedirectURI(ProviderConfigurationError):
    code = "invalid_redirect_uri"
    default_status = 400


class UnauthorizedClient(ProviderConfigurationError):
    code = "unauthorized_client"
    default_status = 400
    message = _("This application is not allowed to connect accounts. Please contact support.")


class InvalidRequest(InvalidRequestError):
    code = "invalid_request"
    default_status = 400
    message = _("Something went wrong. Please try again.")


class InvalidScope(InvalidRequestError):
    code = "invalid_scope"
    default_status = 400
    message = _("Invalid permissions requested.")


class UnsupportedResponseType(InvalidRequestError):
    code = "unsupported_response_type"
    default_status = 400
    message = _("Application configuration error. Please contact support.")


class UnsupportedGrantType(InvalidRequestError):
    code = "unsupported_grant_type"
    default_status = 400
    message = _("Application configuration error. Please contact support.")


class Unauthorized(InvalidRequestError):
    """401 without usable credentials (e.g. a missing Authorization header)."""

    code = "unauthorized"
    default_status = 401
    message = _("Connection error. Please reconnect your TikTok account.")


class InvalidGrant(ReauthorizationRequired):
    code = "invalid_grant"
    default_status = 400
    message = _("Authorization expired. Please try connecting again.")


class ExpiredToken(ReauthorizationRequired):
    code = "expired_token"
    default_status = 400
    message = _("Your connection expired. Please reconnect your TikTok account.")


class RevokedToken(ReauthorizationRequired):
    code = "revoked_token"
    default_status = 401
    message = _("Your connection was disconnected. Please reconnect.")


class InvalidToken(ReauthorizationRequired):
    code = "invalid_token"
    default_status = 401
    message = _("Connection error. Please reconnect your TikTok account.")


class SessionExpired(ReauthorizationRequired):
    """The TikTok session behind the grant died; refreshing cannot help."""

    code = "session_expired"
    default_status = 401
    message = _("Your TikTok session expired. Please reconnect your account.")


class TokenExpired(TokenExpiredError):
    code = "token_expired"
    default_status = 401
    message = _("Session expired. Please wait while we reconnect...")


class InsufficientScope(InsufficientScopeError):
    code = "insufficient_scope"
    default_status = 403
    message = _("Additional permissions required. Please reconnect.")
    #: The same, naming the permission when the provider said which one is missing.
    message_naming_scope = _(
        "Additional permission required: %(scope)s. Please reconnect and allow it.")

    @property
    def friendly_message(self) -> str:
        scope = self.missing_scope
        if scope:
            return str(self.message_naming_scope) % {"scope": scope}
        return str(self.message)


class ServerError(RetryableError):
    code = "server_error"
    default_status = 500


class TemporarilyUnavailable(RetryableError):
    code = "temporarily_unavailable"
    default_status = 503
    message = _("The service is temporarily unavailable. Please try again in a moment.")


# --- failures that carry no OAuth code --------------------------------------

class TransportError(RetryableError):
    """The provider could not be reached, or did not answer in time."""

    message = _("We could not reach Euler Stream. Please try again in a moment.")


class RateLimited(RetryableError):
    default_status = 429
    message = _("Too many requests right now. Please try again in a moment.")


class MalformedResponse(RetryableError):
    """The provider answered something that is not a valid answer (HTML, bad JSON, fields)."""

    message = _("Euler Stream sent an answer we could not understand. Please try again later.")


class ResponseTooLarge(MalformedResponse):
    """The provider's answer exceeds ``EULER_OAUTH_MAX_RESPONSE_BYTES`` (or, for binary API
    answers, ``EULER_OAUTH_MAX_BINARY_RESPONSE_BYTES``); it was not read whole."""


class StateError(EulerOAuthError):
    """The callback's ``state`` is missing, unknown, replayed, expired or someone else's."""

    category = Category.REQUEST
    default_status = 400
    message = _(
        "This connection attempt has expired or was started in another browser. "
        "Please start again."
    )


class UnknownClient(EulerOAuthError):
    """No active OAuthClient has the requested slug (or none is the default)."""

    category = Category.CONFIGURATION
    default_status = 404
    message = _("This TikTok connection is not available. Please contact support.")


class NotConnected(EulerOAuthError):
    """The user has no usable connection for this client."""

    category = Category.REAUTHORIZE
    default_status = 404
    message = _("Your TikTok account is not connected. Please connect it first.")


#: Every documented code (Euler's error reference plus RFC 6749's), by code.
ERRORS_BY_CODE: dict[str, type[EulerOAuthError]] = {
    cls.code: cls
    for cls in (
        AccessDenied, InvalidClient, InvalidRedirectURI, UnauthorizedClient, InvalidRequest,
        InvalidScope, UnsupportedResponseType, UnsupportedGrantType, Unauthorized,
        InvalidGrant, ExpiredToken, RevokedToken, InvalidToken, SessionExpired,
        TokenExpired, InsufficientScope, ServerError, TemporarilyUnavailable,
    )
}

#: Codes that mean the grant is gone for good (refreshing cannot help).
DEAD_GRANT_CODES = frozenset(
    {"invalid_grant", "expired_token", "revoked_token", "session_expired", "invalid_token"}
)


def error_for_code(
    code: str,
    description: str = "",
    *,
    status: int | None = None,
    stage: str = Stage.TOKEN,
    response: requests.Response | None = None,
    retry_after: float | None = None,
) -> EulerOAuthError:
    """The exception for an OAuth ``code``; unknown codes are treated as server errors."""
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        if status == 429:
            return RateLimited(description, status=status, stage=stage, response=response,
                               retry_after=retry_after)
        return ServerError(description, status=status, stage=stage, response=response,
                           code=code or None, retry_after=retry_after)
    if issubclass(cls, RetryableError):
        return cls(description, status=status, stage=stage, response=response,
                   retry_after=retry_after)
    return cls(description, status=status, stage=stage, response=response)


def parse_retry_after(headers: Any, now: datetime.datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After``, ``RateLimit-Reset`` or ``X-RateLimit-Reset``."""
    for name in ("Retry-After", "RateLimit-Reset", "X-RateLimit-Reset"):
        raw = headers.get(name) if headers is not None else None
        if not raw:
            continue
        raw = str(raw).strip()
        try:
            value = float(raw)
        except ValueError:
            from email.utils import parsedate_to_datetime

            try:
                when = parsedate_to_datetime(raw)
            except (TypeError, ValueError):
                continue
            now = now or datetime.datetime.now(datetime.timezone.utc)
            return max(0.0, (when - now).total_seconds())
        # X-RateLimit-Reset is often an epoch timestamp rather than a delay.
        if value > 10**9:
            now_ts = (now or datetime.datetime.now(datetime.timezone.utc)).timestamp()
            return max(0.0, value - now_ts)
        return max(0.0, value)
    return None


class NotDelegated(PermissionDenied):
    """The acting user may not use this endpoint on this connection.

    Not the connection's owner and no live delegation with the endpoint's scope, or
    the connection is not active. Raised before any request; a view answers 403.
    """

    code = "not_delegated"
    message = _("You may not do this on this account. Ask its owner for access.")

    def __init__(self, description: str = "", *, endpoint: str = "",
                 missing_scope: str = "") -> None:
        super().__init__(description or str(self.message))
        self.endpoint = endpoint
        self.missing_scope = missing_scope

    @property
    def friendly_message(self) -> str:
        return str(self.message)


# -- refusals of the app's own rules ------------------------------------------------------

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


class SignInRefused(Exception):
    """The user of a TikTok account may not sign in with it: nothing changed.

    ``reason``: ``inactive`` (the user is disabled), ``staff`` (staff and superusers sign
    in another way, ``EULER_OAUTH_STAFF_SIGN_IN``) or ``not_allowed`` (the adapter's
    :meth:`~django_euler_oauth.adapter.AccountAdapter.is_login_allowed` said no).
    """

    def __init__(self, handle: str, reason: str) -> None:
        super().__init__(f"The user of the TikTok account @{handle} may not sign in with "
                         f"it ({reason}).")
        self.handle = handle
        self.reason = reason


class LastWayIn(Exception):
    """Disconnecting would leave the user no way to sign in: nothing changed."""


class InvitationRefused(ValidationError):
    """An invitation link that is unknown, expired, revoked, used, or offers what the
    account no longer grants (``code`` says which)."""


class BodyError(Exception):
    """Why an answer's body was refused: ``kind`` is timeout, too_large, truncated or broken.

    ``status`` is the answer's HTTP status, when the reader knows it.
    """

    def __init__(self, kind: str, detail: str, status: int | None = None) -> None:
        self.kind = kind
        self.status = status
        super().__init__(detail)


class SyncAttributeInAsyncContext(SynchronousOnlyOperation):
    """``request.euler_token`` / ``euler_connection`` read (for the first time) in async code.

    Resolving them queries the database (and may call the provider), which
    Django forbids on the event loop; the async accessors do it in a thread.
    """
