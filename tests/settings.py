"""Settings for the test suite. EULER_TEST_DB=postgres runs it on the throwaway cluster."""

import os
from typing import Any

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"  # the live server's static handler needs one

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_euler_oauth",
    "django_euler_oauth.sandbox",
    "django_euler_oauth.live",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_euler_oauth.middleware.EulerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]

# The sandbox provider keeps its state in a database of its own ("euler_sandbox"),
# as the real provider would: on SQLite a refresh holds the write lock of the
# site's database while it calls the provider, so the two must not share a file.
def _pg(name: str) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.postgresql",
        # A prefix keeps side-by-side runs on one cluster apart (their test databases).
        "NAME": os.environ.get("EULER_TEST_PG_PREFIX", "") + name,
        "USER": os.environ.get("EULER_TEST_PG_USER", "postgres"),
        "HOST": os.environ.get("EULER_TEST_PG_HOST", "127.0.0.1"),
        "PORT": os.environ.get("EULER_TEST_PG_PORT", "54329"),
        "PASSWORD": os.environ.get("EULER_TEST_PG_PASSWORD", ""),
    }


DATABASES: dict[str, dict[str, Any]]
if os.environ.get("EULER_TEST_DB") == "postgres":
    DATABASES = {"default": _pg("euler_oauth"), "euler_sandbox": _pg("euler_sandbox")}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:",
                    "OPTIONS": {"timeout": 30}},
        "euler_sandbox": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:",
                          "OPTIONS": {"timeout": 30}},
    }
DATABASE_ROUTERS = ["django_euler_oauth.sandbox.routers.SandboxRouter"]

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Fixed test keys (never use these anywhere else).
EULER_OAUTH_ENCRYPTION_KEYS = [
    "qZ4P0wq5lH2rL0h7pZ6gq0m2cZ9Q3Yx8v1b2n3m4k5A=",
]
EULER_OAUTH_HTTP_TIMEOUT = 5.0
EULER_OAUTH_LOCK_TIMEOUT = 20.0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_euler_oauth": {"handlers": ["null"], "level": "DEBUG"}},
}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_euler_oauth.backends.EulerAccountBackend",  # "Sign in with TikTok"
]

# LIVE events: one process, so the in-memory channel layer (a real deployment uses Redis).
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# The sandbox's WebSocket: no simulated viewers unless a test turns them on (its frames are
# then exactly what the test caused).
EULER_SANDBOX_VIEWER_RATE = 0
