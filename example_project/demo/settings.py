"""Settings of the example project, from the environment and example_project/.env.

Every value can be overridden by an environment variable; see .env.example.
"""

from __future__ import annotations

import os
from pathlib import Path

import django
import environ

PROJECT_DIR = Path(__file__).resolve().parent.parent  # example_project/
REPO_DIR = PROJECT_DIR.parent

env = environ.Env()
ENV_FILE = Path(os.environ.get("EXAMPLE_ENV_FILE", PROJECT_DIR / ".env"))
if ENV_FILE.exists():
    env.read_env(str(ENV_FILE))  # never overrides variables already set


def _sqlite_relative_to_repo(config: dict) -> dict:
    """sqlite:///example_project/db.sqlite3 means relative to the repository, not the cwd."""
    name = str(config.get("NAME", ""))
    if config.get("ENGINE", "").endswith("sqlite3"):
        if name and name != ":memory:" and not os.path.isabs(name):
            config["NAME"] = str(REPO_DIR / name)
        config.setdefault("OPTIONS", {}).setdefault("timeout", 20)
        if django.VERSION >= (5, 1):  # writers wait for the lock (check django_euler_oauth.W003)
            config["OPTIONS"].setdefault("transaction_mode", "IMMEDIATE")
    return config


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="example-only-insecure-key")
DEBUG = env.bool("DJANGO_DEBUG", default=True)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
SANDBOX = env.bool("EXAMPLE_SANDBOX", default=True)

INSTALLED_APPS = [
    # First: its templates/django_euler_oauth/base.html puts the app's pages in this layout.
    "demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_euler_oauth",
    "django_euler_oauth.live",
    *(["django_euler_oauth.sandbox"] if SANDBOX else []),
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_euler_oauth.middleware.EulerTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo.urls"
WSGI_APPLICATION = "demo.wsgi.application"
ASGI_APPLICATION = "demo.asgi.application"

# LIVE events reach browsers through Channels' layer: in memory (one process: the relay
# runs inside the server) unless EXAMPLE_REDIS_URL names a Redis (then run.py starts a
# relay process beside the server). redis-py 8 times out blocking reads after 5 s by
# default, which breaks the layer's receive: socket_timeout None.
REDIS_URL = env.str("EXAMPLE_REDIS_URL", default="")
CHANNEL_LAYERS = {"default": {
    "BACKEND": "channels_redis.core.RedisChannelLayer",
    "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
} if REDIS_URL else {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
RELAY_IN_PROCESS = not REDIS_URL
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
        "demo.faults.sandbox_faults",
    ]},
}]

# Two databases: the site's, and the sandbox provider's (see the docs' "Sandbox" page).
DATABASES = {
    "default": _sqlite_relative_to_repo(env.db(
        "DATABASE_URL", default="sqlite:///example_project/db.sqlite3")),
    "euler_sandbox": _sqlite_relative_to_repo(env.db(
        "SANDBOX_DATABASE_URL", default="sqlite:///example_project/sandbox.sqlite3")),
}
DATABASE_ROUTERS = ["django_euler_oauth.sandbox.routers.SandboxRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# EULER_OAUTH_ENCRYPTION_KEYS, EULER_OAUTH_DEFAULT_CLIENT and the other EULER_OAUTH_*
# settings are read by the app from the environment (loaded from .env above).

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_euler_oauth": {"handlers": ["console"], "level": "INFO"},
                "demo": {"handlers": ["console"], "level": "INFO"}},
}

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_euler_oauth.backends.EulerAccountBackend",  # "Sign in with TikTok"
]
