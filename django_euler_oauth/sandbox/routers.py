"""Keeps the sandbox provider's tables in their own database when one is configured."""

from __future__ import annotations

from typing import Any

from django.conf import settings

ALIAS = "euler_sandbox"
APP_LABEL = "euler_sandbox"


def sandbox_alias() -> str:
    return ALIAS if ALIAS in settings.DATABASES else "default"


class SandboxRouter:
    """Routes the ``euler_sandbox`` app to the ``euler_sandbox`` alias, if present."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return sandbox_alias() if model._meta.app_label == APP_LABEL else None

    db_for_write = db_for_read

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None,
                      **hints: Any) -> bool | None:
        if ALIAS not in settings.DATABASES:
            return None
        if app_label == APP_LABEL:
            return db == ALIAS
        return None if db != ALIAS else False
