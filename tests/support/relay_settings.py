"""Settings for a relay process started by a test (``manage.py euler_oauth_live``): the
test settings, on the databases the test process uses (``EULER_RELAY_DATABASES``, JSON)."""

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = json.loads(os.environ["EULER_RELAY_DATABASES"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_euler_oauth": {"handlers": ["console"], "level": "INFO"}},
}
