"""System checks for what a site built from the README can get wrong: a missing piece
(the middleware, messages, the URLs), no default OAuth client, keys that cannot decrypt
the stored rows, the sessions app a cookie-session site does not need, SQLite's options.
"""

from __future__ import annotations

import io

import django
import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import ERROR, WARNING, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection as db
from django.test import override_settings

from django_euler_oauth import checks

OURS = "django_euler_oauth.middleware.EulerTokenMiddleware"
MESSAGES_MIDDLEWARE = "django.contrib.messages.middleware.MessageMiddleware"

#: A URLconf without the app's URLs (ROOT_URLCONF for the E009 tests).
urlpatterns: list[object] = []


def found(deploy: bool = False) -> dict[str, list[object]]:
    """The app's check messages by id."""
    by_id: dict[str, list[object]] = {}
    for message in run_checks(include_deployment_checks=deploy, databases=["default"]):
        if message.id and message.id.startswith("django_euler_oauth."):
            by_id.setdefault(message.id, []).append(message)
    return by_id


def one(deploy: bool, check_id: str) -> object:
    messages = found(deploy).get(check_id, [])
    assert len(messages) == 1, (check_id, found(deploy))
    return messages[0]


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("EULER_OAUTH_ENCRYPTION_KEYS", raising=False)
    monkeypatch.delenv("EULER_OAUTH_DEFAULT_CLIENT", raising=False)


# --- missing pieces ------------------------------------------------------------------

def test_w005_token_middleware_missing(db):
    middleware = [m for m in settings.MIDDLEWARE if m != OURS]
    with override_settings(MIDDLEWARE=middleware):
        warning = one(False, "django_euler_oauth.W005")
    assert warning.level == WARNING
    assert "request.euler_connection" in warning.msg
    assert OURS in warning.hint and "AuthenticationMiddleware" in warning.hint
    assert "django_euler_oauth.W005" not in found()


@pytest.mark.parametrize("missing", ["app", "middleware"])
def test_w006_messages_missing(db, missing):
    changed = ({"INSTALLED_APPS": [a for a in settings.INSTALLED_APPS
                                   if a != "django.contrib.messages"]}
               if missing == "app" else
               {"MIDDLEWARE": [m for m in settings.MIDDLEWARE if m != MESSAGES_MIDDLEWARE]})
    with override_settings(**changed):
        warning = one(False, "django_euler_oauth.W006")
    assert warning.level == WARNING
    named = "django.contrib.messages" if missing == "app" else MESSAGES_MIDDLEWARE
    assert named in warning.msg
    assert MESSAGES_MIDDLEWARE in warning.hint and "django.contrib.messages" in warning.hint
    assert "django_euler_oauth.W006" not in found()


def test_e009_urls_not_included(db):
    with override_settings(ROOT_URLCONF=__name__):
        error = one(False, "django_euler_oauth.E009")
    assert error.level == ERROR
    assert "euler_oauth:callback" in error.msg
    assert 'include("django_euler_oauth.urls")' in error.hint
    assert "django_euler_oauth.E009" not in found()


# --- the default client (deployment checks: they read the clients) ---------------------

def test_w007_several_clients_and_no_default(make_client):
    make_client(slug="main")
    make_client(slug="backup")
    make_client(slug="old", is_active=False)
    warning = one(True, "django_euler_oauth.W007")
    assert warning.level == WARNING
    assert "'backup'" in warning.msg and "'main'" in warning.msg and "old" not in warning.msg
    assert "EULER_OAUTH_DEFAULT_CLIENT" in warning.hint and '"backup"' in warning.hint
    assert "django_euler_oauth.W007" not in found(deploy=False)  # never blocks migrate
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT="main"):
        assert not {"django_euler_oauth.W007", "django_euler_oauth.E010",
                    "django_euler_oauth.W008"} & set(found(True))


def test_w007_shows_in_check_deploy(make_client):
    make_client(slug="main")
    make_client(slug="backup")
    err = io.StringIO()
    call_command("check", deploy=True, stderr=err, stdout=io.StringIO())
    assert "django_euler_oauth.W007" in err.getvalue()


def test_e010_default_names_no_active_client(make_client):
    make_client(slug="main")
    make_client(slug="old", is_active=False)
    for default, named in (("nope", "no OAuth client"), ("old", "is not active")):
        with override_settings(EULER_OAUTH_DEFAULT_CLIENT=default):
            error = one(True, "django_euler_oauth.E010")
            assert error.level == ERROR
            assert f"EULER_OAUTH_DEFAULT_CLIENT = {default!r}" in error.msg
            assert named in error.msg
            assert "'main'" in error.hint
            with pytest.raises(SystemCheckError, match="E010"):
                call_command("check", deploy=True, stderr=io.StringIO())
            # A database check would block migrate: this one does not.
            call_command("migrate", database="default", skip_checks=False, verbosity=0,
                         interactive=False)


def test_w008_no_active_client(make_client):
    warning = one(True, "django_euler_oauth.W008")
    assert warning.level == WARNING
    assert "admin" in warning.hint and "client ID" in warning.hint
    make_client(slug="paused", is_active=False)
    assert "'paused'" in one(True, "django_euler_oauth.W008").hint


def test_one_active_client_is_the_default(make_client):
    make_client(slug="main")
    make_client(slug="old", is_active=False)
    assert not {"django_euler_oauth.W007", "django_euler_oauth.E010",
                "django_euler_oauth.W008"} & set(found(True))


# --- keys that cannot decrypt the stored rows -------------------------------------------

def test_e011_names_rows_the_keys_cannot_decrypt(make_client, make_connection, user):
    oauth = make_client(slug="main", api_key="api-key-value")
    conn = make_connection(user, oauth)
    assert "django_euler_oauth.E011" not in found(True)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"lost-token").decode()
    with db.cursor() as cursor:
        cursor.execute("UPDATE django_euler_oauth_connection SET refresh_token = %s "
                       "WHERE id = %s", [foreign, conn.pk])
        cursor.execute("UPDATE django_euler_oauth_oauthclient SET api_key = %s "
                       "WHERE id = %s", [foreign, oauth.pk])
    assert "django_euler_oauth.E011" not in found(False)  # not before migrate
    error = one(True, "django_euler_oauth.E011")
    assert error.level == ERROR
    assert f"Connection.refresh_token pk={conn.pk}" in error.msg
    assert f"OAuthClient.api_key pk={oauth.pk}" in error.msg
    assert "Connection.access_token" not in error.msg
    assert "lost-token" not in error.msg and foreign not in error.msg
    assert "euler_oauth_rotate_keys --check" in error.hint
    assert "EULER_OAUTH_ENCRYPTION_KEYS" in error.hint


def test_e011_after_the_keys_were_replaced(make_client, make_connection, user, settings):
    conn = make_connection(user, make_client(slug="main"))
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    error = one(True, "django_euler_oauth.E011")
    assert f"Connection.access_token pk={conn.pk}" in error.msg
    assert "OAuthClient.client_secret" in error.msg


# --- E003: the apps the app needs, and why --------------------------------------------

@pytest.mark.parametrize("engine", ["django.contrib.sessions.backends.signed_cookies",
                                    "django.contrib.sessions.backends.cache"])
def test_e003_not_for_sessions_that_need_no_table(db, engine):
    apps_left = [a for a in settings.INSTALLED_APPS if a != "django.contrib.sessions"]
    with override_settings(INSTALLED_APPS=apps_left, SESSION_ENGINE=engine):
        assert "django_euler_oauth.E003" not in found()


@pytest.mark.parametrize("engine", ["django.contrib.sessions.backends.db",
                                    "django.contrib.sessions.backends.cached_db"])
def test_e003_for_database_sessions_says_why(db, engine):
    apps_left = [a for a in settings.INSTALLED_APPS if a != "django.contrib.sessions"]
    with override_settings(INSTALLED_APPS=apps_left, SESSION_ENGINE=engine):
        error = one(False, "django_euler_oauth.E003")
    assert "'django.contrib.sessions'" in error.msg
    assert engine in error.hint and "signed_cookies" in error.hint


def test_e003_hint_gives_each_apps_reason(db):
    apps_left = [a for a in settings.INSTALLED_APPS if a != "django.contrib.auth"]
    with override_settings(INSTALLED_APPS=apps_left):  # Django's own auth checks would fail
        [error] = [m for m in checks.check_apps_and_middleware()
                   if m.id == "django_euler_oauth.E003"]
    assert "'django.contrib.auth'" in error.msg
    assert "Connection.user" in error.hint
    assert "session" not in error.hint


# --- W003 in plain words ----------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_w003_says_what_to_put_in_options(settings, tmp_path):
    site = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "site.db")}
    settings.DATABASES = {**settings.DATABASES, "default": site}
    [warning] = checks.check_sqlite_transactions()
    assert warning.id == "django_euler_oauth.W003"
    assert "database is locked" in warning.msg
    assert "deferred" not in warning.msg + warning.hint  # no jargon
    assert '"OPTIONS"' in warning.hint
    assert '"timeout": 20' in warning.hint
    if django.VERSION >= (5, 1):
        assert '"transaction_mode": "IMMEDIATE"' in warning.hint
    else:
        assert "Django 5.1" in warning.hint
    assert warning.hint.count(". ") <= 2  # one or two sentences
