"""System checks: each id fires when it should, and only then."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_euler_oauth import checks

KEY = Fernet.generate_key().decode()
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
OURS = "django_euler_oauth.middleware.EulerTokenMiddleware"


def ids(messages):
    return sorted(m.id for m in messages if m.id and m.id.startswith("django_euler_oauth."))


def all_ids(deploy=False):
    return ids(run_checks(include_deployment_checks=deploy, databases=["default"]))


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("EULER_OAUTH_ENCRYPTION_KEYS", raising=False)


def test_test_settings_pass(db):
    assert all_ids() == []


# --- keys ----------------------------------------------------------------------

def test_e001_no_keys(db):
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[]):
        found = checks.check_encryption_keys()
        assert ids(found) == ["django_euler_oauth.E001"]
        assert "Fernet.generate_key" in found[0].hint
        assert "django_euler_oauth.E001" in all_ids()


def test_e001_from_the_environment(db, monkeypatch, settings):
    del settings.EULER_OAUTH_ENCRYPTION_KEYS
    assert ids(checks.check_encryption_keys()) == ["django_euler_oauth.E001"]
    monkeypatch.setenv("EULER_OAUTH_ENCRYPTION_KEYS", KEY)
    assert checks.check_encryption_keys() == []


@pytest.mark.parametrize("keys", [["not-a-key"], [KEY, "short"], [KEY[:-2]]])
def test_e002_invalid_key(db, keys):
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=keys):
        found = checks.check_encryption_keys()
        assert ids(found) == ["django_euler_oauth.E002"]
        for key in keys:
            if key != KEY:
                assert key not in found[0].msg  # never echo a key
        assert "django_euler_oauth.E002" in all_ids()


def test_w001_duplicate_key(db):
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[KEY, KEY]):
        assert ids(checks.check_encryption_keys()) == ["django_euler_oauth.W001"]
        assert KEY not in checks.check_encryption_keys()[0].msg


def test_valid_keys_pass(db):
    other = Fernet.generate_key().decode()
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[KEY, other]):
        assert checks.check_encryption_keys() == []


# --- apps and middleware ---------------------------------------------------------------

@pytest.mark.parametrize("missing", ["django.contrib.sessions"])
def test_e003_app_not_installed(db, missing):
    apps_left = [app for app in settings.INSTALLED_APPS if app != missing]
    with override_settings(INSTALLED_APPS=apps_left):
        found = checks.check_apps_and_middleware()
    assert "django_euler_oauth.E003" in ids(found)
    assert missing in " ".join(m.msg for m in found)


def test_e003_not_when_installed(db):
    assert "django_euler_oauth.E003" not in ids(checks.check_apps_and_middleware())


def test_e004_middleware_without_authentication(db):
    middleware = [m for m in settings.MIDDLEWARE if m != AUTH]
    with override_settings(MIDDLEWARE=middleware):
        assert ids(checks.check_apps_and_middleware()) == ["django_euler_oauth.E004"]


def test_e005_middleware_before_authentication(db):
    middleware = [m for m in settings.MIDDLEWARE if m != OURS]
    middleware.insert(middleware.index(AUTH), OURS)
    with override_settings(MIDDLEWARE=middleware):
        found = checks.check_apps_and_middleware()
    assert ids(found) == ["django_euler_oauth.E005"]
    assert "after AuthenticationMiddleware" in found[0].hint


def test_no_middleware_is_fine(db):
    middleware = [m for m in settings.MIDDLEWARE if m != OURS]
    with override_settings(MIDDLEWARE=middleware):
        assert checks.check_apps_and_middleware() == []


def test_e006_no_session_middleware(db):
    middleware = [m for m in settings.MIDDLEWARE if m != SESSION]
    with override_settings(MIDDLEWARE=middleware):
        assert "django_euler_oauth.E006" in ids(checks.check_apps_and_middleware())


@pytest.mark.parametrize(("samesite", "fires"), [("Strict", True), ("strict", True),
                                                 ("Lax", False), ("None", False),
                                                 (False, False)])
def test_w002_samesite_strict(db, samesite, fires):
    with override_settings(SESSION_COOKIE_SAMESITE=samesite):
        found = ids(checks.check_apps_and_middleware())
    assert ("django_euler_oauth.W002" in found) is fires


# --- client URLs -----------------------------------------------------------------

def url_ids(**kwargs):
    kwargs.setdefault("databases", ["default"])
    return ids(checks.check_client_urls(**kwargs))


@pytest.mark.parametrize("field", ["redirect_uri", "authorize_url", "token_url", "revoke_url",
                                   "api_base_url"])
def test_e007_insecure_url(make_client, field):
    client = make_client(**{field: "http://app.example/path/"})
    with override_settings(DEBUG=False):
        found = checks.check_client_urls(databases=["default"])
        assert ids(found) == ["django_euler_oauth.E007"]
        assert client.slug in found[0].msg and field in found[0].msg
        assert "django_euler_oauth.E007" in all_ids(deploy=True)


@pytest.mark.parametrize("url", ["https://app.example/cb/", "http://localhost:8000/cb/",
                                 "http://127.0.0.1:8000/cb/", "http://[::1]:8000/cb/"])
def test_e007_not_for_https_or_localhost(make_client, url):
    make_client(redirect_uri=url, base="https://tiktok.eulerstream.com")
    with override_settings(DEBUG=False):
        assert url_ids() == []


def test_e007_not_in_debug(make_client):
    make_client(redirect_uri="http://app.example/cb/")
    with override_settings(DEBUG=True):
        assert url_ids() == []


def test_e007_not_for_inactive_clients(make_client):
    make_client(redirect_uri="http://app.example/cb/", is_active=False)
    with override_settings(DEBUG=False):
        assert url_ids() == []


def test_e007_is_a_deploy_check(make_client):
    """Only ``check --deploy`` runs it: the checks before migrate/runserver do not."""
    make_client(redirect_uri="http://app.example/cb/")
    with override_settings(DEBUG=False):
        assert "django_euler_oauth.E007" not in all_ids()
        assert "django_euler_oauth.E007" in all_ids(deploy=True)
        # ``check --deploy`` passes no databases unless asked: the clients are read anyway.
        assert ids(run_checks(include_deployment_checks=True)).count(
            "django_euler_oauth.E007") == 1


def test_e007_shows_in_check_deploy(make_client):
    make_client(slug="plain-http", redirect_uri="http://app.example/cb/")
    with override_settings(DEBUG=False):
        call_command("check")  # the plain check passes
        with pytest.raises(SystemCheckError) as raised:
            call_command("check", deploy=True)
    assert "django_euler_oauth.E007" in str(raised.value)
    assert "plain-http" in str(raised.value)


def test_e007_does_not_block_migrate(make_client):
    """migrate runs the database checks first; an http:// client row must not stop it."""
    make_client(redirect_uri="http://app.example/cb/")
    with override_settings(DEBUG=False):
        call_command("migrate", skip_checks=False, verbosity=0, interactive=False)


def test_e007_hides_the_secret(make_client):
    make_client(redirect_uri="http://app.example/cb/", client_secret="check-secret-77")
    with override_settings(DEBUG=False):
        found = checks.check_client_urls(databases=["default"])
    assert all("check-secret-77" not in m.msg for m in found)
