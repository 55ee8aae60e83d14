"""Settings: read live from Django's settings, else from the environment, else defaults."""

from __future__ import annotations

import datetime

import pytest
from django.test import override_settings

from django_euler_oauth.conf import DEFAULT_KNOWN_SCOPES, app_settings

ALL = ("ENCRYPTION_KEYS", "DEFAULT_CLIENT", "HTTP_TIMEOUT", "STATE_LIFETIME",
       "MAX_PENDING_STATES", "REFRESH_LEEWAY", "REFRESH_TOKEN_LIFETIME", "SUCCESS_URL",
       "FAILURE_URL", "KNOWN_SCOPES", "API_KEY", "API_MAX_RETRIES", "API_MAX_RETRY_WAIT",
       "LOCK_TIMEOUT")


@pytest.fixture
def bare(settings, monkeypatch):
    """No EULER_OAUTH_* in Django's settings nor in the environment."""
    for name in ALL:
        full = "EULER_OAUTH_" + name
        if hasattr(settings, full):
            delattr(settings, full)
        monkeypatch.delenv(full, raising=False)
    return monkeypatch


def test_defaults(bare):
    assert app_settings.ENCRYPTION_KEYS == []
    assert app_settings.DEFAULT_CLIENT is None
    assert app_settings.HTTP_TIMEOUT == 10.0
    assert app_settings.STATE_LIFETIME == 600
    assert app_settings.MAX_PENDING_STATES == 10
    assert app_settings.REFRESH_LEEWAY == datetime.timedelta(seconds=300)
    assert app_settings.REFRESH_TOKEN_LIFETIME == datetime.timedelta(days=30)
    assert app_settings.SUCCESS_URL == "/"
    assert app_settings.FAILURE_URL is None
    assert app_settings.KNOWN_SCOPES == list(DEFAULT_KNOWN_SCOPES)
    assert app_settings.API_KEY is None
    assert app_settings.API_MAX_RETRIES == 2
    assert app_settings.API_MAX_RETRY_WAIT == 10.0
    assert app_settings.LOCK_TIMEOUT == 30.0


def test_default_scopes_include_the_documented_ones():
    for scope in ("webcast:fetch", "webcast:live_check", "webcast:rankings",
                  "webcast:earnings", "user:info", "webcast:sensitive_words"):
        assert scope in DEFAULT_KNOWN_SCOPES


# (setting, value in settings.py, expected property value)
LIVE = [
    ("ENCRYPTION_KEYS", ["k1", " k2 "], ["k1", "k2"]),
    ("DEFAULT_CLIENT", "main", "main"),
    ("HTTP_TIMEOUT", 2.5, 2.5),
    ("STATE_LIFETIME", 120, 120),
    ("MAX_PENDING_STATES", 3, 3),
    ("REFRESH_LEEWAY", 60, datetime.timedelta(seconds=60)),
    ("REFRESH_LEEWAY", datetime.timedelta(minutes=2), datetime.timedelta(minutes=2)),
    ("REFRESH_TOKEN_LIFETIME", 7 * 86400, datetime.timedelta(days=7)),
    ("SUCCESS_URL", "/done/", "/done/"),
    ("FAILURE_URL", "/failed/", "/failed/"),
    ("KNOWN_SCOPES", ["a:b", "c:d"], ["a:b", "c:d"]),
    ("KNOWN_SCOPES", "a:b c:d", ["a:b", "c:d"]),
    ("API_KEY", "api-key-1", "api-key-1"),
    ("API_MAX_RETRIES", 5, 5),
    ("API_MAX_RETRY_WAIT", 1.5, 1.5),
    ("LOCK_TIMEOUT", 4.0, 4.0),
]


@pytest.mark.parametrize(("name", "value", "expected"), LIVE)
def test_settings_are_read_live(bare, name, value, expected):
    with override_settings(**{"EULER_OAUTH_" + name: value}):
        assert getattr(app_settings, name) == expected
    # ...and the override is gone as soon as it ends.
    assert getattr(app_settings, name) != expected


# (setting, environment text, expected property value)
FROM_ENV = [
    ("ENCRYPTION_KEYS", "k1,k2", ["k1", "k2"]),
    ("DEFAULT_CLIENT", "main", "main"),
    ("HTTP_TIMEOUT", "2.5", 2.5),
    ("STATE_LIFETIME", "120", 120),
    ("MAX_PENDING_STATES", "3", 3),
    ("REFRESH_LEEWAY", "60", datetime.timedelta(seconds=60)),
    ("REFRESH_TOKEN_LIFETIME", "604800", datetime.timedelta(days=7)),
    ("SUCCESS_URL", "/done/", "/done/"),
    ("FAILURE_URL", "/failed/", "/failed/"),
    ("KNOWN_SCOPES", "a:b,c:d", ["a:b", "c:d"]),
    ("API_KEY", "api-key-1", "api-key-1"),
    ("API_MAX_RETRIES", "5", 5),
    ("API_MAX_RETRY_WAIT", "1.5", 1.5),
    ("LOCK_TIMEOUT", "4", 4.0),
]


@pytest.mark.parametrize(("name", "text", "expected"), FROM_ENV)
def test_settings_from_the_environment(bare, name, text, expected):
    bare.setenv("EULER_OAUTH_" + name, text)
    assert getattr(app_settings, name) == expected


def test_django_settings_win_over_the_environment(bare):
    bare.setenv("EULER_OAUTH_HTTP_TIMEOUT", "99")
    bare.setenv("EULER_OAUTH_DEFAULT_CLIENT", "from-env")
    with override_settings(EULER_OAUTH_HTTP_TIMEOUT=3, EULER_OAUTH_DEFAULT_CLIENT="from-settings"):
        assert app_settings.HTTP_TIMEOUT == 3.0
        assert app_settings.DEFAULT_CLIENT == "from-settings"
    assert app_settings.HTTP_TIMEOUT == 99.0
    assert app_settings.DEFAULT_CLIENT == "from-env"


def test_environment_is_read_live(bare):
    bare.setenv("EULER_OAUTH_STATE_LIFETIME", "100")
    assert app_settings.STATE_LIFETIME == 100
    bare.setenv("EULER_OAUTH_STATE_LIFETIME", "200")
    assert app_settings.STATE_LIFETIME == 200


def test_blank_optional_values_mean_unset(bare):
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT="", EULER_OAUTH_FAILURE_URL="",
                           EULER_OAUTH_API_KEY=""):
        assert app_settings.DEFAULT_CLIENT is None
        assert app_settings.FAILURE_URL is None
        assert app_settings.API_KEY is None


def test_encryption_keys_from_env_drive_encryption(bare, db):
    from cryptography.fernet import Fernet

    from django_euler_oauth import crypto

    key = Fernet.generate_key().decode()
    bare.setenv("EULER_OAUTH_ENCRYPTION_KEYS", key)
    token = crypto.encrypt("hello")
    assert Fernet(key).decrypt(token.encode()) == b"hello"


def test_http_timeout_reaches_the_client(make_client):
    from django_euler_oauth.client import ProviderClient

    provider_client = ProviderClient(make_client())
    with override_settings(EULER_OAUTH_HTTP_TIMEOUT=1.25):
        assert provider_client.timeout == (1.25, 1.25)
