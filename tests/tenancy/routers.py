"""A router that picks each tenant's database from the current context, as
multi-tenant SaaS sites do (one database per tenant; a request sets the tenant)."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

TENANT_APPS = {"django_euler_oauth", "auth", "contenttypes", "sessions", "admin", "tenancy"}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="default")


@contextlib.contextmanager
def tenant(alias: str) -> Iterator[None]:
    token = _current.set(alias)
    try:
        yield
    finally:
        _current.reset(token)


class TenantRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return str(instance._state.db)
        return _current.get() if model._meta.app_label in TENANT_APPS else None

    db_for_write = db_for_read

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return obj1._state.db == obj2._state.db

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None,
                      **hints: Any) -> bool | None:
        if db == "tenant_b":
            return app_label in TENANT_APPS
        return None
