"""OAuth clients (apps registered at Euler Stream) and users' connections to them."""

from __future__ import annotations

import copy
import datetime
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .errors import UnknownClient
from .fields import EncryptedTextField
from .scopes import covers

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Documented endpoints (the provider's OAuth overview).
DEFAULT_AUTHORIZE_URL = "https://www.eulerstream.com/tiktok/oauth/authorize"
DEFAULT_TOKEN_URL = "https://tiktok.eulerstream.com/tiktok/oauth/token"
DEFAULT_REVOKE_URL = "https://tiktok.eulerstream.com/tiktok/oauth/revoke"
DEFAULT_API_BASE_URL = "https://tiktok.eulerstream.com"
#: Euler's WebSocket service for LIVE events (its SDK's default).
DEFAULT_WEBSOCKET_URL = "wss://ws.eulerstream.com"


class OAuthClientQuerySet(models.QuerySet["OAuthClient"]):
    def active(self) -> OAuthClientQuerySet:
        return self.filter(is_active=True)

    def resolve(self, slug: str | None = None) -> OAuthClient:
        """The active client named ``slug``, or the default client.

        The default is ``EULER_OAUTH_DEFAULT_CLIENT`` when set, else the only
        active client. Raises :class:`~django_euler_oauth.errors.UnknownClient`.
        """
        active = self.active()
        if slug:
            try:
                # A slug from a request is user input: PostgreSQL refuses NUL in a
                # query parameter (a 500), and no slug is longer than the column.
                if "\x00" in slug or len(slug) > 50:
                    raise OAuthClient.DoesNotExist
                return active.get(slug=slug)
            except OAuthClient.DoesNotExist:
                raise UnknownClient(f"No active OAuth client with slug {slug!r}.") from None
        default = app_settings.DEFAULT_CLIENT
        if default:
            try:
                return active.get(slug=default)
            except OAuthClient.DoesNotExist:
                raise UnknownClient(
                    f"EULER_OAUTH_DEFAULT_CLIENT={default!r} names no active OAuth client."
                ) from None
        clients = list(active[:2])
        if len(clients) == 1:
            return clients[0]
        raise UnknownClient(
            "No OAuth client was named and no default is configured: set "
            "EULER_OAUTH_DEFAULT_CLIENT or keep exactly one active OAuth client."
            if clients
            else "No active OAuth client is configured."
        )


class OAuthClient(models.Model):
    """An OAuth client registered at Euler Stream (Dashboard → OAuth)."""

    class RequestFormat(models.TextChoices):
        FORM = "form", _("Form-encoded (documented)")
        JSON = "json", _("JSON (OpenAPI spec)")

    class TokenTransport(models.TextChoices):
        BEARER = "bearer", _("Authorization: Bearer (documented)")
        X_OAUTH_TOKEN = "x-oauth-token", _("x-oauth-token + x-api-key (live API)")

    slug = models.SlugField(_("slug"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    client_id = models.CharField(_("client ID"), max_length=255)
    client_secret = EncryptedTextField(_("client secret"), blank=True)
    api_key = EncryptedTextField(
        _("API key"), blank=True,
        help_text=_("Euler account API key sent as X-Api-Key (blank: EULER_OAUTH_API_KEY)."),
    )
    scopes = models.CharField(
        _("default scopes"), max_length=1000, blank=True,
        help_text=_("Space-separated scopes requested when the authorize link names none."),
    )
    redirect_uri = models.URLField(
        _("redirect URI"), max_length=500, blank=True,
        help_text=_("Leave blank to build it from the request (…/callback/)."),
    )
    authorize_url = models.URLField(_("authorize URL"), max_length=500,
                                    default=DEFAULT_AUTHORIZE_URL)
    token_url = models.URLField(_("token URL"), max_length=500, default=DEFAULT_TOKEN_URL)
    revoke_url = models.URLField(_("revoke URL"), max_length=500, default=DEFAULT_REVOKE_URL)
    api_base_url = models.URLField(_("API base URL"), max_length=500,
                                   default=DEFAULT_API_BASE_URL)
    websocket_url = models.CharField(
        _("WebSocket URL"), max_length=500, default=DEFAULT_WEBSOCKET_URL,
        validators=[URLValidator(schemes=["ws", "wss"])],
        help_text=_("Euler's WebSocket service for LIVE events (wss://...)."))
    account_id = models.CharField(
        _("Euler account ID"), max_length=100, blank=True,
        help_text=_("Your Euler account's id, for short browser tokens (JWTs) of LIVE events; "
                    "blank: none are minted."))
    use_pkce = models.BooleanField(_("use PKCE (S256)"), default=False)
    request_format = models.CharField(
        _("token request format"), max_length=10, choices=RequestFormat.choices,
        default=RequestFormat.FORM,
    )
    token_transport = models.CharField(
        _("API token header"), max_length=20, choices=TokenTransport.choices,
        default=TokenTransport.BEARER,
    )
    fetch_userinfo = models.BooleanField(
        _("fetch user info after connecting"), default=False,
        help_text=_("Ask /tiktok/oauth/userinfo who connected (shown as @uniqueId)."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OAuthClientQuerySet.as_manager()

    class Meta:
        verbose_name = _("OAuth client")
        verbose_name_plural = _("OAuth clients")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name or self.slug

    def __repr__(self) -> str:
        return f"<OAuthClient slug={self.slug!r} client_id={self.client_id!r}>"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def url_for(self, path: str) -> str:
        """An endpoint on this client's API host (``/tiktok/oauth/userinfo``, ...)."""
        return self.api_base_url.rstrip("/") + "/" + path.lstrip("/")


#: The columns a token read needs (``Connection.default_for``): the rest are deferred,
#: loaded on first access. The client row is not read: a refresh re-reads the whole
#: row, client included, under the row lock.
TOKEN_READ_FIELDS = ("id", "user_id", "client_id", "status", "access_token", "expires_at",
                     "connected_at")

#: How long a process trusts what it read of the OAuth clients (seconds): which one is
#: the default, and each client's row for refreshes. Saving or deleting an OAuthClient
#: forgets it at once in this process; other processes notice within this time (a client
#: deactivated or edited elsewhere takes effect here within it too).
CLIENT_CACHE_SECONDS = 10.0

_default_client_ids: dict[tuple[str, str | None], tuple[int | None, float]] = {}
_clients: dict[tuple[str, int], tuple[OAuthClient, float]] = {}


def forget_cached_clients(**_kwargs: Any) -> None:
    """Drop what this process keeps of the clients (on OAuthClient's save and delete)."""
    _default_client_ids.clear()
    _clients.clear()


def cached_client(alias: str, pk: int) -> OAuthClient:
    """OAuth client ``pk`` of database ``alias``, read at most every few seconds.

    Each caller gets a copy of the row as it was read, its secrets still ciphertext: the
    kept instance is never decrypted, so the process keeps no plaintext secret.
    Raises ``OAuthClient.DoesNotExist``.
    """
    key = (alias, pk)
    now = time.monotonic()
    kept = _clients.get(key)
    if kept is None or kept[1] <= now:
        kept = _clients[key] = (OAuthClient.objects.using(alias).get(pk=pk),
                                now + CLIENT_CACHE_SECONDS)
    return copy.copy(kept[0])


def default_client_id(alias: str) -> int | None:
    """The pk of the default client on database ``alias``, or None when there is none.

    ``EULER_OAUTH_DEFAULT_CLIENT`` when set (if active), else the only active client.
    Kept per process for :data:`CLIENT_CACHE_SECONDS`: the token read runs on
    every request that reads the token, and the answer changes only when an admin
    edits the clients.
    """
    slug = app_settings.DEFAULT_CLIENT or None
    key = (alias, slug)
    now = time.monotonic()
    cached = _default_client_ids.get(key)
    if cached is not None and cached[1] > now:
        return cached[0]
    active = OAuthClient.objects.using(alias).active()
    if slug:
        ids = list(active.filter(slug=slug).values_list("pk", flat=True)[:1])
    else:
        ids = list(active.values_list("pk", flat=True)[:2])
    found = ids[0] if len(ids) == 1 else None
    _default_client_ids[key] = (found, now + CLIENT_CACHE_SECONDS)
    return found


def _most_recent(row: Connection) -> tuple[datetime.datetime, int]:
    return row.connected_at, row.pk


class ConnectionQuerySet(models.QuerySet["Connection"]):
    def locked_with_client(self, pk: int) -> Connection:
        """Connection ``pk``, its row locked (``SELECT ... FOR UPDATE``), with its client.

        Call it inside ``transaction.atomic``. On databases without row locks (SQLite)
        the read is plain. The client comes from :func:`cached_client` (the refresh path
        reads this on every refresh; the client's row changes only when an admin edits
        it). Raises ``Connection.DoesNotExist``.
        """
        from django.db import connections

        queryset = self.all()
        if connections[self.db].features.has_select_for_update:
            queryset = queryset.select_for_update()
        row = queryset.get(pk=pk)
        row.client = cached_client(self.db, row.client_id)
        return row

    def default_for(self, user: Any) -> Connection | None:
        """The user's most recently connected active connection for the default client.

        One query, or none for an anonymous user or when there is no default client
        (``EULER_OAUTH_DEFAULT_CLIENT``, else the only active client; see
        :func:`default_client_id`). Only the columns a token read needs are loaded
        (:data:`TOKEN_READ_FIELDS`); any other field is loaded when first read, as
        with ``.only()``.
        """
        if not getattr(user, "is_authenticated", False):
            return None
        client_id = default_client_id(self.db)
        if client_id is None:
            return None
        # A user holds a few connections (one per client and TikTok account): choosing
        # among them here costs less than the filters, ORDER BY and LIMIT cost the ORM
        # to build on every request (this runs on every request that reads the token).
        rows = self.filter(user_id=user.pk).only(*TOKEN_READ_FIELDS)
        active: list[Connection] = [
            row for row in rows
            if row.client_id == client_id and row.status == Connection.Status.ACTIVE]
        return max(active, key=_most_recent, default=None)

    def active(self) -> ConnectionQuerySet:
        return self.filter(status=Connection.Status.ACTIVE)

    def for_user(self, user: AbstractBaseUser | AnonymousUser | Any) -> ConnectionQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user_id=user.pk)

    def for_account(self, client: OAuthClient, external_id: str) -> ConnectionQuerySet:
        """The connection of TikTok account ``external_id`` (userinfo ``uid``) for ``client``.

        The only way an account is matched: never by handle or nickname (TikTok reuses them).
        A disconnected (revoked) connection is history, not a claim: it is never matched,
        so its former user is never signed in with the account, and the account can be
        connected again or sign up afresh.
        """
        if not external_id:
            return self.none()
        return self.filter(client=client, external_id=external_id).exclude(
            status=Connection.Status.REVOKED)

    def for_client(self, client: OAuthClient) -> ConnectionQuerySet:
        return self.filter(client=client)

    def expiring_within(self, delta: datetime.timedelta,
                        now: datetime.datetime | None = None) -> ConnectionQuerySet:
        """Active connections whose access token expires within ``delta`` (or has)."""
        now = now or timezone.now()
        return self.active().filter(expires_at__lte=now + delta).exclude(refresh_token="")

    def refresh_expired(self, now: datetime.datetime | None = None) -> ConnectionQuerySet:
        """Active connections whose refresh token is past its lifetime."""
        now = now or timezone.now()
        return self.active().filter(refresh_expires_at__lte=now)

    def needing_reauthorization(self) -> ConnectionQuerySet:
        return self.filter(status=Connection.Status.REAUTHORIZATION_REQUIRED)

    def usable(self) -> ConnectionQuerySet:
        now = timezone.now()
        return self.active().filter(
            Q(refresh_expires_at__isnull=True) | Q(refresh_expires_at__gt=now)
        )

    def usable_by(self, user: AbstractBaseUser | AnonymousUser | Any) -> ConnectionQuerySet:
        """The active connections ``user`` owns or holds a live delegation for."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        now = timezone.now()
        delegated = Q(delegations__user_id=user.pk, delegations__revoked_at__isnull=True) & (
            Q(delegations__expires_at__isnull=True) | Q(delegations__expires_at__gt=now))
        return self.active().filter(Q(user_id=user.pk) | delegated).distinct()


class Connection(models.Model):
    """One user's authorization of one OAuth client: the tokens and what they allow.

    ``access_token`` and ``refresh_token`` are plaintext in Python and Fernet
    ciphertext in the database. Change them only through
    :mod:`django_euler_oauth.refresh` and the views, which lock the row.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        REAUTHORIZATION_REQUIRED = "reauthorization_required", _("Re-authorization required")
        REVOKED = "revoked", _("Revoked")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="euler_connections", verbose_name=_("user"))
    client = models.ForeignKey(OAuthClient, on_delete=models.CASCADE,
                               related_name="connections", verbose_name=_("OAuth client"))
    access_token = EncryptedTextField(_("access token"), blank=True)
    refresh_token = EncryptedTextField(_("refresh token"), blank=True)
    scope = models.CharField(_("scope"), max_length=1000, blank=True)
    expires_at = models.DateTimeField(_("access token expires"), null=True, blank=True)
    refresh_expires_at = models.DateTimeField(_("refresh token expires"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=32, choices=Status.choices,
                              default=Status.ACTIVE, db_index=True)
    status_reason = models.CharField(_("reason"), max_length=300, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    external_id = models.CharField(_("TikTok user ID"), max_length=100, blank=True)
    external_username = models.CharField(_("TikTok username"), max_length=100, blank=True)
    external_nickname = models.CharField(_("TikTok nickname"), max_length=100, blank=True)
    external_avatar_url = models.URLField(_("TikTok avatar"), max_length=500, blank=True)
    connected_at = models.DateTimeField(_("connected"), default=timezone.now)
    refreshed_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConnectionQuerySet.as_manager()

    #: Not a column: the site user a connection handed out by the request acts for, when
    #: that is not its owner (a delegate; see ``accounts.current_connection``).
    #: :class:`~django_euler_oauth.api.EulerAPI` checks and audits its calls as that user.
    #: None on a connection the site loads itself: it acts as the owner.
    acting_user: Any = None

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            # One live connection per client and TikTok account, whoever holds it (a
            # disconnected row is history: it holds no claim on the account) ...
            models.UniqueConstraint(fields=["client", "external_id"],
                                    condition=~Q(external_id="") & ~Q(status="revoked"),
                                    name="euler_oauth_one_per_account"),
            # ... and, where the account is unknown (userinfo off), one per user and client.
            models.UniqueConstraint(fields=["user", "client"], condition=Q(external_id=""),
                                    name="euler_oauth_one_per_user"),
        ]
        indexes = [
            models.Index(fields=["status", "expires_at"], name="euler_oauth_expiring"),
        ]

    def __str__(self) -> str:
        who = f"@{self.external_username}" if self.external_username else f"user {self.user_id}"
        return f"{who} via {self.client_id and self.client.slug} ({self.status})"

    def __repr__(self) -> str:
        return (f"<Connection pk={self.pk} user_id={self.user_id} client_id={self.client_id} "
                f"status={self.status!r}>")

    @property
    def scope_list(self) -> list[str]:
        return self.scope.split()

    def has_scope(self, scope: str) -> bool:
        """Whether the connection was granted ``scope`` (under its name or an alias)."""
        return covers(self.scope_list, scope)

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def access_expired(self, leeway: datetime.timedelta | None = None,
                       now: datetime.datetime | None = None) -> bool:
        """True when the access token is past, or within ``leeway`` of, expiry."""
        if self.expires_at is None:
            return False
        now = now or timezone.now()
        return self.expires_at <= now + (leeway or datetime.timedelta(0))

    def refresh_expired(self, now: datetime.datetime | None = None) -> bool:
        """True when the refresh token is past its lifetime (known without asking)."""
        if self.refresh_expires_at is None:
            return False
        return self.refresh_expires_at <= (now or timezone.now())

    @property
    def access_time_left(self) -> datetime.timedelta | None:
        if self.expires_at is None:
            return None
        return self.expires_at - timezone.now()

    @property
    def refresh_time_left(self) -> datetime.timedelta | None:
        if self.refresh_expires_at is None:
            return None
        return self.refresh_expires_at - timezone.now()


# -- teams: delegations, invitations, the audit trail ------------------------------------

class DelegationQuerySet(models.QuerySet["Delegation"]):
    def live(self, now: datetime.datetime | None = None) -> DelegationQuerySet:
        """Not revoked and not past ``expires_at``."""
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class Delegation(models.Model):
    """One site user (the delegate) may use one connection, for a subset of its scopes."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE,
                                   related_name="delegations", verbose_name=_("connection"))
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="euler_delegations", verbose_name=_("delegate"))
    scopes = models.CharField(_("scopes"), max_length=1000)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+",
                                   verbose_name=_("granted by"))
    created_at = models.DateTimeField(_("granted"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = DelegationQuerySet.as_manager()

    class Meta:
        verbose_name = _("delegation")
        verbose_name_plural = _("delegations")
        indexes = [models.Index(fields=["user", "connection"], name="euler_oauth_delegate")]

    def __str__(self) -> str:
        return f"user {self.user_id} on connection {self.connection_id}: {self.scopes}"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def is_live(self, now: datetime.datetime | None = None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class InvitationQuerySet(models.QuerySet["Invitation"]):
    def pending(self, now: datetime.datetime | None = None) -> InvitationQuerySet:
        now = now or timezone.now()
        return self.filter(used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now)


class Invitation(models.Model):
    """A single-use, expiring link by which an owner offers a delegation.

    Only the SHA-256 of the link's token is stored (:mod:`django_euler_oauth.teams`).
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE,
                                   related_name="invitations", verbose_name=_("connection"))
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.CharField(_("scopes"), max_length=1000)
    delegation_expires_at = models.DateTimeField(_("delegation ends"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                   related_name="+", verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("link expires"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                null=True, blank=True, related_name="+",
                                verbose_name=_("used by"))
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"invitation {self.pk} to connection {self.connection_id}: {self.scopes}"

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


class AuditEntryQuerySet(models.QuerySet["AuditEntry"]):
    def older_than(self, cutoff: datetime.datetime) -> AuditEntryQuerySet:
        return self.filter(created_at__lt=cutoff)


class AuditEntry(models.Model):
    """One API call made with an acting user (refused ones included). Never a secret."""

    OK = "ok"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE,
                                   related_name="audit_entries", verbose_name=_("connection"))
    acting_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+",
                                    verbose_name=_("acting user"))
    endpoint = models.CharField(_("endpoint"), max_length=80, db_index=True)
    outcome = models.CharField(_("outcome"), max_length=60, db_index=True)
    target = models.CharField(_("target"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["connection", "created_at"], name="euler_oauth_audit")]

    def __str__(self) -> str:
        return f"{self.endpoint} by user {self.acting_user_id}: {self.outcome}"
