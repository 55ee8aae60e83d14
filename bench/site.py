"""Building the site under test: databases, a user with a session, a connection."""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable
from typing import Any


def prepare_databases() -> None:
    """Create (PostgreSQL) and migrate both databases, emptying what a run left."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    for alias, config in settings.DATABASES.items():
        if config["ENGINE"].endswith("postgresql"):
            _create_pg_database(config)
        call_command("migrate", database=alias, verbosity=0, interactive=False)
        connections[alias].close()
    call_command("flush", database="default", verbosity=0, interactive=False)


def _create_pg_database(config: dict[str, Any]) -> None:
    import psycopg

    dsn = dict(host=config["HOST"], port=config["PORT"], user=config["USER"],
               dbname="postgres", autocommit=True)
    with psycopg.connect(**dsn) as conn:  # type: ignore[call-overload]
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                              [config["NAME"]]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{config["NAME"]}"')


def make_user_session(username: str = "bench") -> tuple[Any, str]:
    """A user and the session cookie of a logged-in browser."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.create_user(username, f"{username}@example.com", "pw")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return user, f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def make_client(base: str, slug: str = "bench", **fields: Any) -> Any:
    from django_euler_oauth.models import OAuthClient

    return OAuthClient.objects.create(
        slug=slug, name=slug, client_id=f"{slug}-id", client_secret=f"{slug}-secret",
        scopes="webcast:fetch", authorize_url=f"{base}/tiktok/oauth/authorize",
        token_url=f"{base}/tiktok/oauth/token", revoke_url=f"{base}/tiktok/oauth/revoke",
        api_base_url=base, **fields)


def make_connection(user: Any, client: Any, *, expires_in: float = 3600,
                    access: str = "bench-access-token", refresh: str = "bench-refresh-token",
                    ) -> Any:
    from django.utils import timezone

    from django_euler_oauth.models import Connection

    now = timezone.now()
    return Connection.objects.create(
        user=user, client=client, access_token=access, refresh_token=refresh,
        scope="webcast:fetch", expires_at=now + datetime.timedelta(seconds=expires_in),
        refresh_expires_at=now + datetime.timedelta(days=30))


def _environ(path: str, cookie: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "HTTP_HOST": "localhost",
        "HTTP_COOKIE": cookie, "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(), "SERVER_PROTOCOL": "HTTP/1.1",
    }


def wsgi_request(handler: Any, path: str, cookie: str) -> tuple[int, str]:
    """One GET through ``handler``: (status, body text)."""
    status = [0]

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
        status[0] = int(line.split()[0])
        return lambda data: None

    response = handler(_environ(path, cookie), start_response)
    try:
        body = b"".join(response).decode("utf-8", "replace")
    finally:
        response.close()
    return status[0], body


def wsgi_caller(handler: Any, path: str, cookie: str) -> Callable[[], int]:
    """A function that sends one GET for ``path`` through ``handler``; returns the status."""

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        holder[0] = int(status.split()[0])
        return lambda data: None

    holder = [0]

    def call() -> int:
        response = handler(_environ(path, cookie), start_response)
        b"".join(response)
        response.close()
        return holder[0]

    return call


def sandbox_grant(sandbox_client: Any, scope: str = "webcast:fetch") -> tuple[str, str]:
    """A live grant at the sandbox provider: (access token, refresh token)."""
    from django.utils import timezone

    from django_euler_oauth.sandbox.issuing import issue_tokens
    from django_euler_oauth.sandbox.models import Grant
    from django_euler_oauth.sandbox.setup import ensure_accounts

    account = ensure_accounts()[0]
    grant = Grant.objects.create(
        client=sandbox_client, account=account, scope=scope,
        refresh_expires_at=timezone.now() + datetime.timedelta(days=30))
    access, refresh, _row = issue_tokens(grant)
    return access, refresh


def sandbox_code(sandbox_client: Any, redirect_uri: str, scope: str = "webcast:fetch") -> str:
    """A fresh, unused authorization code at the sandbox for ``redirect_uri``."""
    from django.utils import timezone

    from django_euler_oauth.sandbox.issuing import CODE_PREFIX
    from django_euler_oauth.sandbox.models import AuthorizationCode, new_secret, token_hash
    from django_euler_oauth.sandbox.setup import ensure_accounts

    code = new_secret(CODE_PREFIX, 24)
    AuthorizationCode.objects.create(
        code_hash=token_hash(code), client=sandbox_client, account=ensure_accounts()[0],
        redirect_uri=redirect_uri, scope=scope,
        expires_at=timezone.now() + datetime.timedelta(minutes=10))
    return code
