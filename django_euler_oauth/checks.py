"""System checks (``manage.py check``): ids ``django_euler_oauth.E00x`` / ``W00x``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.db import DatabaseError

from .conf import app_settings
from .errors import ConfigurationError

MIDDLEWARE_PATH = "django_euler_oauth.middleware.EulerTokenMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


@register(Tags.security)
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    from . import crypto

    keys = app_settings.ENCRYPTION_KEYS
    if not keys:
        return [Error(
            "EULER_OAUTH_ENCRYPTION_KEYS is not set.",
            hint="Set it (settings or environment) to a list of Fernet keys, newest first; "
                 "make one with: python -c \"from cryptography.fernet import Fernet; "
                 "print(Fernet.generate_key().decode())\"",
            id="django_euler_oauth.E001",
        )]
    try:
        crypto._build(tuple(keys))
    except ConfigurationError as err:
        return [Error(str(err), hint="Each key must be 32 url-safe base64-encoded bytes.",
                      id="django_euler_oauth.E002")]
    if len(set(keys)) != len(keys):
        return [Warning("EULER_OAUTH_ENCRYPTION_KEYS lists a key twice.",
                        hint="Remove the duplicate.", id="django_euler_oauth.W001")]
    return []


@register()
def check_apps_and_middleware(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for app in ("django.contrib.auth", "django.contrib.sessions", "django.contrib.contenttypes"):
        if not apps.is_installed(app):
            problems.append(Error(
                f"django_euler_oauth needs {app!r} in INSTALLED_APPS.",
                hint="Users own connections and authorization state lives in the session.",
                id="django_euler_oauth.E003",
            ))
    middleware = list(getattr(settings, "MIDDLEWARE", []) or [])
    if MIDDLEWARE_PATH in middleware:
        if AUTH_MIDDLEWARE not in middleware:
            problems.append(Error(
                f"{MIDDLEWARE_PATH} needs {AUTH_MIDDLEWARE} in MIDDLEWARE.",
                hint="It reads request.user.", id="django_euler_oauth.E004"))
        elif middleware.index(MIDDLEWARE_PATH) < middleware.index(AUTH_MIDDLEWARE):
            problems.append(Error(
                f"{MIDDLEWARE_PATH} comes before {AUTH_MIDDLEWARE}.",
                hint="Move it after AuthenticationMiddleware: it reads request.user.",
                id="django_euler_oauth.E005"))
    if "django.contrib.sessions.middleware.SessionMiddleware" not in middleware:
        problems.append(Error(
            "SessionMiddleware is not in MIDDLEWARE: authorization state cannot be kept.",
            hint="Add django.contrib.sessions.middleware.SessionMiddleware.",
            id="django_euler_oauth.E006"))
    if str(getattr(settings, "SESSION_COOKIE_SAMESITE", "Lax")).lower() == "strict":
        problems.append(Warning(
            "SESSION_COOKIE_SAMESITE is 'Strict': browsers do not send the session cookie on "
            "the redirect back from Euler Stream, so every callback fails its state check.",
            hint="Use 'Lax' (Django's default).", id="django_euler_oauth.W002"))
    return problems


@register(Tags.database)
def check_sqlite_transactions(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """SQLite's deferred transactions fail writers at once instead of letting them wait."""
    import django
    from django.db import router

    from .models import Connection

    alias = router.db_for_write(Connection)
    settings_dict = settings.DATABASES.get(alias, {})
    name = str(settings_dict.get("NAME", ""))
    if "sqlite" not in str(settings_dict.get("ENGINE", "")) or name == ":memory:" \
            or "mode=memory" in name:
        return []  # an in-memory database is private to one process
    options = settings_dict.get("OPTIONS") or {}
    if django.VERSION >= (5, 1):
        if str(options.get("transaction_mode", "")).upper() == "IMMEDIATE":
            return []
        return [Warning(
            f"DATABASES[{alias!r}] is SQLite with deferred transactions: a transaction that "
            "reads before it writes fails at once with 'database is locked' while a refresh "
            "holds the write lock (a callback after the code exchange, deleting a user, "
            "euler_oauth_rotate_keys, token reads under ATOMIC_REQUESTS).",
            hint=f'Set DATABASES[{alias!r}]["OPTIONS"]["transaction_mode"] = "IMMEDIATE" '
                 '(and "timeout" above EULER_OAUTH_HTTP_TIMEOUT): every writer then waits.',
            id="django_euler_oauth.W003")]
    return [Warning(
        f"DATABASES[{alias!r}] is SQLite on Django {django.get_version()}, which cannot make "
        "transactions IMMEDIATE: this app's own writes wait for the write lock, but other "
        "transactions that read before writing (deleting a user, ATOMIC_REQUESTS) can fail "
        "with 'database is locked' while a refresh runs.",
        hint="Use Django 5.1+ with OPTIONS transaction_mode IMMEDIATE, PostgreSQL, or a "
             "single worker; keep OPTIONS timeout above EULER_OAUTH_HTTP_TIMEOUT.",
        id="django_euler_oauth.W003")]


def _login_routed() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("euler_oauth:login")
    except NoReverseMatch:
        return False
    return True


@register()
def check_sign_in_backend(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """"Sign in with TikTok" is routed but cannot log anyone in.

    A warning, not an error: the app's URLs always route ``login``, and a site that only
    connects accounts need not sign anyone in (it may silence the warning). The login view
    refuses to start, so nothing is created, until the backend is added.
    """
    from .accounts import BACKEND_PATH, sign_in_configured

    if sign_in_configured() or not _login_routed():
        return []
    return [Warning(
        f"The euler_oauth:login URL is routed but {BACKEND_PATH} is not in "
        "AUTHENTICATION_BACKENDS: \"Sign in with TikTok\" answers an error page until it is.",
        hint=f'AUTHENTICATION_BACKENDS = ["{BACKEND_PATH}", '
             '"django.contrib.auth.backends.ModelBackend"]; a site that only connects '
             'accounts may add "django_euler_oauth.W004" to SILENCED_SYSTEM_CHECKS.',
        id="django_euler_oauth.W004")]


@register(deploy=True)
def check_sign_in_clients(app_configs: Any = None, databases: Any = None,
                          **kwargs: Any) -> list[Any]:
    """Sign-in identifies the account by userinfo's uid: the client it uses (the default
    client, when the login link names none) must be able to ask.

    A deployment check (``check --deploy``), like E007: it reads the clients, and a
    database check's error would block ``migrate``. An error, and only for sites that set
    up sign-in (the backend is installed): a site that only connects accounts may use a
    client without userinfo. The login view refuses such a client too, before sending
    anyone to the provider.
    """
    from .accounts import sign_in_configured

    if not (sign_in_configured() and _login_routed()):
        return []
    from .endpoints import ENDPOINTS_BY_NAME
    from .errors import UnknownClient
    from .models import OAuthClient

    try:
        client = OAuthClient.objects.resolve(None)
    except (DatabaseError, UnknownClient):  # not migrated yet, or no default client
        return []
    if client.fetch_userinfo and ENDPOINTS_BY_NAME["get_user_info"].allowed_by(
            client.scope_list):
        return []
    return [Error(
        f"OAuth client {client.slug!r} (the default) cannot give userinfo, which \"Sign in "
        "with TikTok\" needs to know the account.",
        hint="Tick \"fetch user info after connecting\" and add user:info to its default "
             "scopes.", id="django_euler_oauth.E008")]


def _insecure(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme != "https" and (parts.hostname or "") not in LOCAL_HOSTS


@register(Tags.security, deploy=True)
def check_client_urls(app_configs: Any = None, databases: Any = None, **kwargs: Any
                      ) -> list[Any]:
    """Non-HTTPS redirect URIs or endpoints outside localhost, when DEBUG is off.

    A deployment check (``manage.py check --deploy``), not a database check: Django
    runs database checks before ``migrate``, and one client row with an http:// URL
    must not block the whole project's migrations. It reads the clients through the
    router whatever ``databases`` says, and finds nothing before the first migrate.
    """
    if settings.DEBUG:
        return []
    from .models import OAuthClient

    problems: list[Any] = []
    try:
        clients = list(OAuthClient.objects.filter(is_active=True))
    except DatabaseError:  # not migrated yet
        return []
    for client in clients:
        for field in ("redirect_uri", "authorize_url", "token_url", "revoke_url",
                      "api_base_url"):
            url = getattr(client, field)
            if url and _insecure(url):
                problems.append(Error(
                    f"OAuth client {client.slug!r} has a non-HTTPS {field}: {url}",
                    hint="HTTPS is required except for localhost (tokens and the client "
                         "secret travel over it).", id="django_euler_oauth.E007"))
    return problems


# --- Celery (only where Celery is installed and an app is configured) ---------------

#: Brokers that redeliver an unacknowledged message after a visibility timeout.
_REDELIVERING_TRANSPORTS = ("redis", "rediss", "sqs", "sentinel")


def _celery_app() -> Any:
    """The site's configured Celery app, or None (no Celery, or only the fallback app)."""
    try:
        from celery import _state
    except ImportError:
        return None
    app = _state.get_current_app()
    if app is _state.default_app or getattr(app, "main", None) in (None, "default"):
        return None
    return app


@register()
def check_celery(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The worker settings django_euler_oauth.tasks relies on (docs: "Celery")."""
    app = _celery_app()
    if app is None:
        return []
    conf = app.conf
    problems: list[Any] = []
    prefetch = conf.worker_prefetch_multiplier
    if prefetch != 1:
        problems.append(Warning(
            f"Celery worker_prefetch_multiplier is {prefetch}: each pool process reserves "
            f"{prefetch} refresh chunks ahead, which then wait behind a slow chunk, and "
            "wait for a redelivery when the worker dies.",
            hint="Set worker_prefetch_multiplier = 1 (CELERY_WORKER_PREFETCH_MULTIPLIER).",
            id="django_euler_oauth.W030"))
    time_limit = conf.task_time_limit
    if not time_limit:
        problems.append(Warning(
            "Celery task_time_limit is not set: a refresh chunk that hangs holds its pool "
            "process (and its connections' rows) for good.",
            hint="Set task_time_limit (and a lower task_soft_time_limit) above the time "
                 "a chunk takes, e.g. 600 s for chunks of 500.",
            id="django_euler_oauth.W031"))
    broker = str(conf.broker_url or "")
    scheme = broker.split(":", 1)[0].split("+", 1)[0].lower() if broker else ""
    if scheme in _REDELIVERING_TRANSPORTS:
        options = conf.broker_transport_options or {}
        visibility = options.get("visibility_timeout")
        if visibility is None:
            problems.append(Warning(
                f"Celery broker {scheme!r} has no visibility_timeout in "
                "broker_transport_options: the default is one hour, so the chunks of a "
                "worker that died are refreshed again only an hour later (past the "
                "tokens' expiry).",
                hint="Set broker_transport_options = {'visibility_timeout': ...} a little "
                     "above task_time_limit (e.g. 900 s).",
                id="django_euler_oauth.W032"))
        elif time_limit and float(visibility) <= float(time_limit):
            problems.append(Warning(
                f"Celery visibility_timeout ({visibility} s) is not above task_time_limit "
                f"({time_limit} s): the broker hands a chunk that is still running to "
                "another worker (harmless, but the work is done twice).",
                hint="Make visibility_timeout larger than task_time_limit.",
                id="django_euler_oauth.W033"))
    return problems
