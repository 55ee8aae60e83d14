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


_NUMBER_SETTINGS = {  # name: (lowest, highest)
    "EULER_SANDBOX_VIEWER_RATE": (0, 20),
    "EULER_SANDBOX_WS_MAX_LIFETIME": (0.1, 8 * 3600),
}


@register()
def check_live_settings(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """The sandbox WebSocket's numbers: a value it cannot use is replaced, and said so."""
    found = []
    for name, (low, high) in _NUMBER_SETTINGS.items():
        if not hasattr(settings, name):
            continue
        value = getattr(settings, name)
        try:
            usable = not isinstance(value, bool) and low <= float(value) <= high
        except (TypeError, ValueError):
            usable = False
        if not usable:
            found.append(Warning(
                f"{name} = {value!r} is not a number from {low} to {high}.",
                hint="The sandbox uses the nearest allowed value (or the default when it is "
                     "not a number).",
                id="euler_sandbox.W002",
            ))
    return found
