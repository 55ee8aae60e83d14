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


#: Why each app is needed (E003's hint).
_NEEDED_APPS = {
    "django.contrib.auth": (
        "Each connection belongs to a site user (Connection.user is a foreign key to "
        "AUTH_USER_MODEL) and the views read request.user."),
    "django.contrib.contenttypes": (
        "django.contrib.auth needs it: its permissions refer to content types."),
    "django.contrib.sessions": (
        "The pending authorization (state, PKCE verifier) is kept in the session, and "
        "SESSION_ENGINE {engine!r} stores sessions in this app's table. Add the app, or "
        "use a SESSION_ENGINE that needs no table ("
        "'django.contrib.sessions.backends.signed_cookies' or "
        "'django.contrib.sessions.backends.cache')."),
}


def _engine_needs_sessions_app(engine: str) -> bool:
    """Whether ``SESSION_ENGINE`` stores sessions in django.contrib.sessions' own model.

    Django's ``db`` and ``cached_db`` do (and engines built on them that keep its model);
    ``signed_cookies``, ``cache`` and ``file`` need no table. An engine that cannot be
    imported is given the benefit of the doubt: Django reports it on the first request.
    """
    from importlib import import_module

    from django.contrib.sessions.backends.db import SessionStore as DatabaseStore

    try:
        store = import_module(engine).SessionStore
    except (ImportError, AttributeError):
        return True
    if not (isinstance(store, type) and issubclass(store, DatabaseStore)):
        return False
    # A store with a model of its own (AbstractBaseSession) lives in its own app.
    own = getattr(store.get_model_class, "__func__", None)
    return own is getattr(DatabaseStore.get_model_class, "__func__", None)


@register()
def check_apps_and_middleware(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    for app, reason in _NEEDED_APPS.items():
        if app == "django.contrib.sessions":
            engine = str(getattr(settings, "SESSION_ENGINE", ""))
            if not _engine_needs_sessions_app(engine):
                continue  # signed cookies, cache, files: no table of the sessions app
            reason = reason.format(engine=engine)
        if not apps.is_installed(app):
            problems.append(Error(
                f"django_euler_oauth needs {app!r} in INSTALLED_APPS.",
                hint=reason, id="django_euler_oauth.E003",
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
    # Long enough to wait out a refresh, which holds the write lock for up to one call.
    try:
        timeout = max(20, int(float(options.get("timeout") or 0)),
                      int(app_settings.HTTP_TIMEOUT * 2))
    except (TypeError, ValueError):
        timeout = 20
    wanted = f'"OPTIONS": {{"transaction_mode": "IMMEDIATE", "timeout": {timeout}}}'
    if django.VERSION >= (5, 1):
        if str(options.get("transaction_mode", "")).upper() == "IMMEDIATE":
            return []
        return [Warning(
            f"DATABASES[{alias!r}] is a SQLite file where a write that starts while a token "
            "refresh is being saved fails at once with \"database is locked\" instead of "
            "waiting its turn (a callback, deleting a user, euler_oauth_rotate_keys).",
            hint=f"In DATABASES[{alias!r}] set {wanted} (keeping any other options): every "
                 f"write then waits up to {timeout} seconds for the one before it.",
            id="django_euler_oauth.W003")]
    return [Warning(
        f"DATABASES[{alias!r}] is a SQLite file on Django {django.get_version()}, which "
        "cannot make writes wait their turn: a write that starts while a token refresh is "
        "being saved (deleting a user, a view under ATOMIC_REQUESTS) can fail with "
        "\"database is locked\".",
        hint=f"Upgrade to Django 5.1 or later and in DATABASES[{alias!r}] set {wanted}; or "
             "use PostgreSQL, or run a single worker process.",
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


# --- the pieces a site built from the README can miss ---------------------------------

MESSAGES_APP = "django.contrib.messages"
MESSAGES_MIDDLEWARE = "django.contrib.messages.middleware.MessageMiddleware"


@register()
def check_token_middleware(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """Without the middleware, ``request.euler_connection`` does not exist: views reading it
    fail with an AttributeError (``@euler_scopes_required`` says so instead)."""
    if MIDDLEWARE_PATH in list(getattr(settings, "MIDDLEWARE", []) or []):
        return []
    return [Warning(
        f"{MIDDLEWARE_PATH} is not in MIDDLEWARE: request.euler_connection and "
        "request.euler_token do not exist, so views reading them (and "
        "@euler_scopes_required) fail.",
        hint=f'Add "{MIDDLEWARE_PATH}" to MIDDLEWARE, after '
             '"django.contrib.auth.middleware.AuthenticationMiddleware".',
        id="django_euler_oauth.W005")]


@register()
def check_messages(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The views tell users what happened ("connected", "disconnected", a refusal) with
    the messages framework; without it they still work, silently."""
    missing = [name for name, present in (
        (MESSAGES_APP, apps.is_installed(MESSAGES_APP)),
        (MESSAGES_MIDDLEWARE, MESSAGES_MIDDLEWARE in list(
            getattr(settings, "MIDDLEWARE", []) or [])),
    ) if not present]
    if not missing:
        return []
    return [Warning(
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing: users are "
        "not told that their TikTok account was connected or disconnected, or why a "
        "request was refused.",
        hint=f'Add "{MESSAGES_APP}" to INSTALLED_APPS and "{MESSAGES_MIDDLEWARE}" to '
             "MIDDLEWARE (after SessionMiddleware), and show {{ messages }} in the base "
             "template.",
        id="django_euler_oauth.W006")]


@register(Tags.urls)
def check_urls_included(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The app's templates and redirects reverse ``euler_oauth:...`` URLs."""
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("euler_oauth:callback")
    except NoReverseMatch:
        return [Error(
            "The app's URLs are not routed: reverse(\"euler_oauth:callback\") fails, so its "
            "pages and redirects raise NoReverseMatch.",
            hint='Add path("tiktok/", include("django_euler_oauth.urls")) to urlpatterns '
                 "in ROOT_URLCONF (without a namespace of your own: it is \"euler_oauth\"), "
                 "and register https://your.site/tiktok/callback/ at Euler Stream.",
            id="django_euler_oauth.E009")]
    return []


# --- the default client ------------------------------------------------------------------

def _slugs(slugs: list[str]) -> str:
    return ", ".join(repr(slug) for slug in slugs) or "none"


def client_setup_problems(named: str | None = None) -> list[Any]:
    """What keeps ``OAuthClient.objects.resolve(named)`` from finding a client, as check
    messages (E010, W007, W008 when ``named`` is None); empty when it finds one.

    Shared by the deployment check and, with ``DEBUG`` on, the "not available" page.
    Reads the clients: raises ``DatabaseError`` before the first migrate.
    """
    from .models import OAuthClient

    rows = list(OAuthClient.objects.order_by("slug").values_list("slug", "is_active"))
    active = [slug for slug, is_active in rows if is_active]
    inactive = [slug for slug, is_active in rows if not is_active]
    add_one = ("Add one in the admin (OAuth clients) with the client ID and secret from "
               "Euler Stream's Dashboard → OAuth")
    if named:
        if named in active:
            return []
        state = "is not active" if named in inactive else "does not exist"
        return [Error(
            f"The link names OAuth client {named!r}, which {state}.",
            hint=(f"Use one of the active clients' slugs in ?client= ({_slugs(active)})"
                  if active else add_one) + (
                f", or tick \"active\" on {named!r} in the admin." if named in inactive
                else "."))]  # no id: no system check sees a link
    default = app_settings.DEFAULT_CLIENT
    if default:
        if default in active:
            return []
        state = "is not active" if default in inactive else "names no OAuth client"
        return [Error(
            f"EULER_OAUTH_DEFAULT_CLIENT = {default!r} {state}: every user looks "
            "disconnected (request.euler_connection is empty) and links that name no "
            "client answer \"This TikTok connection is not available\".",
            hint=(f"Set EULER_OAUTH_DEFAULT_CLIENT to the slug of an active client: "
                  f"{_slugs(active)}" if active else add_one) + (
                f"; or tick \"active\" on {default!r} in the admin." if default in inactive
                else "."),
            id="django_euler_oauth.E010")]
    if len(active) > 1:
        return [Warning(
            f"{len(active)} OAuth clients are active ({_slugs(active)}) and "
            "EULER_OAUTH_DEFAULT_CLIENT is not set: every user looks disconnected "
            "(request.euler_connection is empty) and links that name no client (Connect, "
            "@euler_scopes_required) answer \"This TikTok connection is not available\".",
            hint=f'Set EULER_OAUTH_DEFAULT_CLIENT = "{active[0]}" (or another of '
                 f"{_slugs(active)}), or make only one client active.",
            id="django_euler_oauth.W007")]
    if not active:
        return [Warning(
            "No active OAuth client: nobody can connect a TikTok account (the Connect "
            "link answers \"This TikTok connection is not available\").",
            hint=add_one + (f', or tick "active" on one of {_slugs(inactive)}.'
                            if inactive else "."),
            id="django_euler_oauth.W008")]
    return []


@register(deploy=True)
def check_default_client(app_configs: Any = None, databases: Any = None,
                         **kwargs: Any) -> list[Any]:
    """No default client (several active and no ``EULER_OAUTH_DEFAULT_CLIENT``, none
    active, or a setting naming no active client).

    A deployment check, like E007 and E008: it reads the clients, and an error among the
    database checks would block ``migrate`` (a fresh database has no client yet).
    """
    try:
        return client_setup_problems()
    except DatabaseError:  # not migrated yet
        return []


# --- the keys and the stored rows ---------------------------------------------------------

#: Rows per model the check decrypts: the newest, the ones pages read first.
DECRYPTION_SAMPLE = 5


@register(Tags.security, deploy=True)
def check_stored_values_decrypt(app_configs: Any = None, databases: Any = None,
                                **kwargs: Any) -> list[Any]:
    """Valid keys that are not the ones that encrypted the rows (replaced, not added):
    E001/E002 pass, and every page reading a token or secret fails.

    A deployment check reading a sample (the newest rows of each model); ``manage.py
    euler_oauth_rotate_keys --check`` reads them all.
    """
    from .maintenance import check_decryption

    try:
        found = check_decryption(newest=DECRYPTION_SAMPLE)
    except ConfigurationError:  # no keys, or invalid ones: E001 / E002
        return []
    except DatabaseError:  # not migrated yet
        return []
    if not found.failures:
        return []
    return [Error(
        "Stored values cannot be decrypted with EULER_OAUTH_ENCRYPTION_KEYS: "
        f"{', '.join(found.failures)}. Every page or call that reads them fails.",
        hint="The keys were replaced rather than added to: put the key that encrypted them "
             "back in EULER_OAUTH_ENCRYPTION_KEYS (after the newest), then run manage.py "
             "euler_oauth_rotate_keys. manage.py euler_oauth_rotate_keys --check lists "
             "every value that fails (this check reads only the "
             f"{DECRYPTION_SAMPLE} newest rows of each model).",
        id="django_euler_oauth.E011")]


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
