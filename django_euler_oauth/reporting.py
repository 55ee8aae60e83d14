"""Django's error reports hide what this app marks sensitive, with ``DEBUG`` on too.

Frames that hold a token or a secret are marked with Django's
``sensitive_variables`` (and admin forms with ``sensitive_post_parameters``), but
Django applies those marks only while ``DEBUG`` is off: the technical 500 page of
a ``DEBUG=True`` site (a staging host, a developer sharing a screen) would show
every local. :func:`debug_safe_filter` is the site's own exception reporter
filter (``DEFAULT_EXCEPTION_REPORTER_FILTER``) made active under ``DEBUG`` as
well; :class:`~django_euler_oauth.middleware.EulerTokenMiddleware` sets it as
the request's ``exception_reporter_filter`` (Django's per-request hook) when
``DEBUG`` is on and the request has none. Only marked variables and parameters
are hidden; everything else on the page stays as Django shows it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

_cache: dict[str, Any] = {}
_lock = threading.Lock()


def _always_active(self: Any, request: Any) -> bool:
    return True


def debug_safe_filter() -> Any:
    """An instance of the site's reporter filter class whose ``is_active`` is always True."""
    path = settings.DEFAULT_EXCEPTION_REPORTER_FILTER
    found = _cache.get(path)
    if found is None:
        with _lock:
            base = import_string(path)
            cls = type(f"DebugSafe{base.__name__}", (base,), {"is_active": _always_active})
            found = _cache[path] = cls()
    return found
