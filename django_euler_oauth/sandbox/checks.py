"""System checks of the sandbox (ids ``euler_sandbox.W00x``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security)
def check_debug(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    if settings.DEBUG:
        return []
    return [Warning(
        "The Euler Stream sandbox (django_euler_oauth.sandbox) is installed with DEBUG off.",
        hint="The sandbox is a fake provider for development and tests: anyone who can reach "
             "it can mint tokens and change its faults. Remove it from INSTALLED_APPS (and its "
             "URLs) in production.",
        id="euler_sandbox.W001",
    )]
