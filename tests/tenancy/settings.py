"""The test settings with a UUID-keyed custom user model and a second tenant's database.

Run by ``tests/test_tenancy.py`` in a pytest process of its own (``AUTH_USER_MODEL``
cannot change inside one): ``pytest --ds=tests.tenancy.settings tests/tenancy/cases.py``.
"""

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, _pg

INSTALLED_APPS = [*INSTALLED_APPS, "tests.tenancy"]
AUTH_USER_MODEL = "tenancy.User"

if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["tenant_b"] = _pg("euler_tenant_b")
else:
    DATABASES["tenant_b"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:",
                             "OPTIONS": {"timeout": 30}}
DATABASE_ROUTERS = ["django_euler_oauth.sandbox.routers.SandboxRouter",
                    "tests.tenancy.routers.TenantRouter"]
