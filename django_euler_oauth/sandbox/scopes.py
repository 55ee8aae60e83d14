"""Scopes the sandbox grants, each with the description its permissions screen shows."""

from __future__ import annotations

from django.utils.functional import Promise

from django_euler_oauth.endpoints import canonical_scope
from django_euler_oauth.scopes import SCOPE_DESCRIPTIONS as PACKAGE_DESCRIPTIONS

#: The scopes the sandbox knows, each with what it allows: the package's own words
#: (``django_euler_oauth.scopes``), so the permissions screen and the team page agree.
SCOPE_DESCRIPTIONS: dict[str, Promise] = PACKAGE_DESCRIPTIONS

# Which scope each API endpoint needs is in django_euler_oauth.endpoints (one table).


def spec_names(scopes: list[str]) -> list[str]:
    """``scopes`` in the live spec's names (aliases mapped, duplicates dropped): the
    SDK parses scope lists into a closed enum that has no ``webcast:live_check``."""
    return list(dict.fromkeys(canonical_scope(scope) for scope in scopes))


def first_invalid(scopes: list[str]) -> str | None:
    """The first scope the sandbox does not know, or None."""
    for scope in scopes:
        if scope not in SCOPE_DESCRIPTIONS:
            return scope
    return None


def describe(scopes: list[str]) -> list[tuple[str, str]]:
    return [(scope, str(SCOPE_DESCRIPTIONS.get(scope, ""))) for scope in scopes]
