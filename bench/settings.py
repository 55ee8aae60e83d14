"""Settings for the benchmarks: the test settings with on-disk databases.

``BENCH_DB=postgres`` uses the cluster named by EULER_TEST_PG_* (see runtests.py);
otherwise SQLite files under ``BENCH_DIR``.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import _pg

ROOT_URLCONF = "bench.urls"
DEBUG = False
_dir = os.environ.get("BENCH_DIR", "/tmp/euler-bench")

if os.environ.get("BENCH_DB") == "postgres":
    DATABASES = {"default": _pg("euler_bench"), "euler_sandbox": _pg("euler_bench_sandbox")}
else:
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3",
                    "NAME": os.path.join(_dir, "site.sqlite3"), "OPTIONS": {"timeout": 60}},
        "euler_sandbox": {"ENGINE": "django.db.backends.sqlite3",
                          "NAME": os.path.join(_dir, "sandbox.sqlite3"),
                          "OPTIONS": {"timeout": 60}},
    }
for _alias in DATABASES.values():
    _alias["CONN_MAX_AGE"] = None  # keep connections: measure our code, not reconnects

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "django_euler_oauth.backends.EulerAccountBackend",  # "Sign in with TikTok"
]

# The LIVE events figures (bench/bench_live_*.py): relay and ASGI server processes share a
# real Redis channel layer when BENCH_CHANNEL_REDIS names one (else the test settings'
# in-memory layer, for one process).
if os.environ.get("BENCH_CHANNEL_REDIS"):
    CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": os.environ["BENCH_CHANNEL_REDIS"],
                              "socket_timeout": None}]}}}
