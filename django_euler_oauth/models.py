"""OAuth clients (apps registered at Euler Stream) and users' connections to them."""

from __future__ import annotations

import contextlib
import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .compiled import CompiledQuery, kept_cursor, per_connection
from .conf import app_settings
from .errors import UnknownClient
from .fields import EncryptedTextField

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

# Documented endpoints (the provider's OAuth overview).
DEFAULT_AUTHORIZE_URL = "https://www.eulerstream.com/tiktok/oauth/authorize"
DEFAULT_TOKEN_URL = "https://tiktok.eulerstream.com/tiktok/oauth/token"
DEFAULT_REVOKE_URL = "https://tiktok.eulerstream.com/tiktok/oauth/revoke"
DEFAULT_API_BASE_URL = "https://tiktok.eulerstream.com"


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


class ActiveClientCount(models.Expression):
    """``(SELECT COUNT(*) FROM oauthclient WHERE is_active)`` as a column.

    A hand-written expression rather than ``Subquery``: compiling a nested
    queryset costs about half of a whole token read on the per-request path.
    """

    output_field = models.IntegerField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        table = connection.ops.quote_name(OAuthClient._meta.db_table)
        column = connection.ops.quote_name("is_active")
        # Both names are ours, quoted by the backend: nothing user-supplied is interpolated.
        sql = f"(SELECT COUNT(*) FROM {table} WHERE {table}.{column} = %s)"  # noqa: S608
        return sql, (True,)


#: The columns a token read needs (``Connection.default_for``): the rest are deferred,
#: loaded on first access. The client row is not read: a refresh re-reads the whole
#: row, client included, under the row lock.
TOKEN_READ_FIELDS = ("id", "user_id", "client_id", "status", "access_token", "expires_at")

_USER_MARK = -7_428_519_903  # stands for the user's pk while the query is compiled once
_TIMEOUT_MARK = "-7428519903ms"  # stands for the lock_timeout in the row read
_SLUG_MARK = "euler-oauth-default-client-slug-placeholder"


class _RowRead:
    """``Connection.objects.select_related("client")[.select_for_update(of=self)].get(pk=..)``,
    compiled once per database connection (the refresh path reads this row every time).
    """

    __slots__ = ("client_attnames", "client_indexes", "conn_attnames", "conn_indexes",
                 "local_setter", "query", "remote_setter")

    def __init__(self, alias: str, for_update: bool, lock_timeout: bool = False,
                 begin: bool = False) -> None:
        from django.db import connections
        from django.db.models import BooleanField
        from django.db.models.expressions import RawSQL

        queryset = Connection.objects.using(alias).select_related("client").filter(
            pk=_USER_MARK).order_by()
        if lock_timeout:
            # PostgreSQL: the transaction's lock_timeout set by the statement that takes
            # the lock (a filter runs below the plan's LockRows node, so before the wait):
            # one round trip instead of a SET LOCAL of its own.
            queryset = queryset.filter(RawSQL("set_config('lock_timeout', %s, true) <> ''",
                                              [_TIMEOUT_MARK], output_field=BooleanField()))
        if for_update:
            features = connections[alias].features
            queryset = queryset.select_for_update(
                of=("self",) if features.has_select_for_update_of else ())
        # Django compiles FOR UPDATE only inside a transaction: one that sends nothing.
        with transaction.atomic(using=alias) if begin else contextlib.nullcontext():
            self.query = CompiledQuery(queryset[:2], alias, (_USER_MARK, _TIMEOUT_MARK), begin)
        info = self.query.compiler.klass_info
        assert info is not None
        related = info["related_klass_infos"][0]
        self.conn_indexes = list(info["select_fields"])
        self.client_indexes = list(related["select_fields"])
        self.conn_attnames = self.query.attnames(self.conn_indexes)
        self.client_attnames = self.query.attnames(self.client_indexes)
        self.local_setter = related["local_setter"]
        self.remote_setter = related["remote_setter"]

    def get(self, alias: str, connection: Any, pk: int,
            lock_timeout_ms: int | None = None) -> Connection:
        rows = self.query.rows(connection, {_USER_MARK: pk,
                                            _TIMEOUT_MARK: f"{int(lock_timeout_ms or 0)}ms"})
        if not rows:
            raise Connection.DoesNotExist(f"No connection with pk {pk}.")
        row = rows[0]
        instance = Connection.from_db(alias, self.conn_attnames,
                                      [row[i] for i in self.conn_indexes])
        client = OAuthClient.from_db(alias, self.client_attnames,
                                     [row[i] for i in self.client_indexes])
        self.local_setter(instance, client)
        self.remote_setter(client, instance)
        return instance


class ConnectionQuerySet(models.QuerySet["Connection"]):
    def get_with_client(self, pk: int, *, for_update: bool = False,
                        lock_timeout_ms: int | None = None, begin: bool = False) -> Connection:
        """Connection ``pk`` with its client, as ``select_related("client").get(pk=pk)``.

        ``for_update`` adds ``SELECT ... FOR UPDATE OF`` the connection's row (call it
        inside a transaction, on a backend that has row locks). ``lock_timeout_ms``
        (PostgreSQL, with ``for_update``): the same statement first sets the
        transaction's ``lock_timeout`` (as ``SET LOCAL`` would; it stays set until the
        transaction ends), so the wait for the row lock is bounded. The SQL is compiled
        once per database connection: this is the refresh path's read of the row.
        ``begin`` (PostgreSQL, with ``lock_timeout_ms``, Django in autocommit): the
        statement begins the transaction too (``locking.locked_connection(short=True)``).
        Raises ``Connection.DoesNotExist``.
        """
        from django.db import connections

        alias = self.db
        connection = connections[alias]
        if lock_timeout_ms is not None and (not for_update
                                            or connection.vendor != "postgresql"):
            raise ValueError("lock_timeout_ms needs for_update on PostgreSQL.")
        if begin and lock_timeout_ms is None:
            raise ValueError("begin needs lock_timeout_ms.")
        timed = lock_timeout_ms is not None
        read = per_connection(connection, "_euler_oauth_row_read", (for_update, timed, begin),
                              lambda: _RowRead(alias, for_update, timed, begin))
        return read.get(alias, connection, pk, lock_timeout_ms)

    def save_fields(self, row: Connection, fields: tuple[str, ...], *,
                    last: bool = False) -> None:
        """``row.save(update_fields=fields)`` without compiling an UPDATE each time.

        The refresh path stores every refresh this way. With a ``pre_save`` or
        ``post_save`` receiver for Connection it is exactly ``row.save(...)`` (so
        the receivers run); otherwise one UPDATE, its SQL built once per field
        list, with the values prepared by the fields as ``save()`` would. ``last``:
        nothing follows in the transaction, so a short transaction
        (``locking.locked_connection(short=True)``) commits with this statement.
        """
        from django.db import DatabaseError, connections
        from django.db.models.signals import post_save, pre_save

        from .locking import commit_suffix

        alias = row._state.db or self.db
        if (pre_save.has_listeners(Connection) or post_save.has_listeners(Connection)
                or row.pk is None):
            row.save(update_fields=list(fields), using=alias)
            return
        connection = connections[alias]

        def build() -> tuple[str, list[Any]]:
            meta = Connection._meta
            quote = connection.ops.quote_name
            targets: list[Any] = [meta.get_field(name) for name in fields]
            sets = ", ".join(f"{quote(str(field.column))} = %s" for field in targets)
            pk_column = quote(str(meta.pk.column) if meta.pk is not None else "id")
            sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {pk_column} = %s"  # noqa: S608
            return sql, targets

        sql, targets = per_connection(connection, "_euler_oauth_updates", fields, build)
        params = [field.get_db_prep_save(field.pre_save(row, False), connection)
                  for field in targets]
        params.append(row.pk)
        with kept_cursor(connection) as cursor:
            # The UPDATE's row count is the first result's, a COMMIT after it or not.
            cursor.execute(sql + commit_suffix(alias) if last else sql, params)
            if cursor.rowcount != 1:
                raise DatabaseError("Save with update_fields did not affect any rows.")

    @staticmethod
    def _default_lookup(alias: str, with_slug: bool) -> CompiledQuery:
        def build() -> CompiledQuery:
            queryset = (Connection.objects.using(alias)
                        .filter(status=Connection.Status.ACTIVE, user_id=_USER_MARK,
                                client__is_active=True)
                        .only(*TOKEN_READ_FIELDS).order_by())
            if with_slug:
                queryset = queryset.filter(client__slug=_SLUG_MARK)
            else:
                queryset = queryset.annotate(n_clients=ActiveClientCount())
            return CompiledQuery(queryset[:2], alias, (_USER_MARK, _SLUG_MARK))

        from django.db import connections

        return per_connection(connections[alias], "_euler_oauth_default_for", with_slug, build)

    def default_for(self, user: Any) -> Connection | None:
        """The user's active connection for the default client, in one query, or None.

        The default client is ``EULER_OAUTH_DEFAULT_CLIENT``, else the only
        active client (counted in the same query). Only the columns a token
        read needs are loaded (:data:`TOKEN_READ_FIELDS`); any other field is
        loaded when first read, like a field deferred with ``.only()``.
        """
        if not getattr(user, "is_authenticated", False):
            return None
        from django.db import connections

        alias = self.db
        slug = app_settings.DEFAULT_CLIENT
        lookup = self._default_lookup(alias, bool(slug))
        rows = lookup.rows(connections[alias], {_USER_MARK: user.pk, _SLUG_MARK: slug})
        if slug:
            if not rows:
                return None
            values = rows[0]
        else:
            if len(rows) != 1 or rows[0][-1] != 1:
                return None
            values = rows[0][:-1]
        attnames = lookup.names[:len(values)]
        return Connection.from_db(alias, attnames, values)

    def active(self) -> ConnectionQuerySet:
        return self.filter(status=Connection.Status.ACTIVE)

    def for_user(self, user: AbstractBaseUser | AnonymousUser | Any) -> ConnectionQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(user_id=user.pk)

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
    connected_at = models.DateTimeField(_("connected"), default=timezone.now)
    refreshed_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConnectionQuerySet.as_manager()

    class Meta:
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="euler_oauth_one_per_user"),
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
        return scope in self.scope_list

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
