"""TikTok scopes: their names, the guide's aliases, and the set operations built on them.

The live OpenAPI spec names 14 scopes (:data:`SPEC_SCOPES`); the provider's guide uses two
other names for two of them (:data:`SCOPE_ALIASES`). Everywhere a scope is compared, an
alias counts as its spec name (:func:`canonical_scope`): what a token was granted, what an
endpoint needs (:mod:`~django_euler_oauth.endpoints`), what a delegation gives
(:mod:`~django_euler_oauth.teams`), what a view requires
(:mod:`~django_euler_oauth.decorators`). The functions here are the only place that does
it. The authorize and re-authorize URLs, which ask for scopes, are built here too.

The sandbox keeps its own copy of the provider's side (``sandbox/scopes.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

if TYPE_CHECKING:
    from .models import Connection, OAuthClient

#: The 14 scopes of the live OpenAPI spec's enum.
SPEC_SCOPES: tuple[str, ...] = (
    "webcast:fetch",
    "webcast:rankings",
    "webcast:bulk_live_check",
    "webcast:user_earnings",
    "webcast:sign_url",
    "webcast:chat",
    "webcast:mute",
    "webcast:ban",
    "webcast:comments",
    "webcast:moderators",
    "webcast:live_analytics",
    "user:consents",
    "user:info",
    "webcast:sensitive_words",
)

#: Names the provider's guide documents, and the spec scope each one stands for.
SCOPE_ALIASES: dict[str, str] = {
    "webcast:live_check": "webcast:bulk_live_check",
    "webcast:earnings": "webcast:user_earnings",
}


def canonical_scope(scope: str) -> str:
    """The spec's name for ``scope`` (documented aliases mapped, others unchanged)."""
    return SCOPE_ALIASES.get(scope, scope)


def canonical(scopes: Iterable[str]) -> set[str]:
    """``scopes`` by their spec names."""
    return {canonical_scope(scope) for scope in scopes}


def missing(granted: Iterable[str], required: Iterable[str]) -> list[str]:
    """The scopes of ``required`` that ``granted`` does not cover, in order, once each."""
    have = canonical(granted)
    return [scope for scope in dict.fromkeys(required) if canonical_scope(scope) not in have]


def covers(granted: Iterable[str], scope: str) -> bool:
    """Whether ``granted`` includes ``scope`` (under its name or an alias)."""
    return canonical_scope(scope) in canonical(granted)


def allows_any(granted: Iterable[str], needed: Iterable[str]) -> bool:
    """Whether ``granted`` includes any one of ``needed``; True when nothing is needed."""
    wanted = list(needed)
    if not wanted:
        return True
    have = canonical(granted)
    return any(canonical_scope(scope) in have for scope in wanted)


def within(granted: Iterable[str], scopes: Iterable[str]) -> list[str]:
    """The scopes of ``scopes`` that ``granted`` covers (what a delegation can still give)."""
    have = canonical(granted)
    return [scope for scope in scopes if canonical_scope(scope) in have]


def plus(scopes: Iterable[str], extra: Iterable[str]) -> list[str]:
    """``scopes`` followed by each of ``extra`` they do not cover yet (asked once each)."""
    result = list(scopes)
    have = canonical(result)
    for scope in extra:
        if scope and canonical_scope(scope) not in have:
            result.append(scope)
            have.add(canonical_scope(scope))
    return result


def authorize_url(client: OAuthClient, scopes: Iterable[str], next_url: str | None = None
                  ) -> str | None:
    """``euler_oauth:authorize`` asking ``client`` for ``scopes``, then back to
    ``next_url``; None when the site does not include ``django_euler_oauth.urls``."""
    query = {"client": client.slug, "scope": " ".join(scopes)}
    if next_url:
        query["next"] = next_url
    try:
        base = reverse("euler_oauth:authorize")
    except NoReverseMatch:
        return None
    return base + "?" + urlencode(query)


def reauthorize_url(connection: Connection, extra_scope: str | Iterable[str] | None = None,
                    next_url: str | None = None) -> str | None:
    """The authorize URL asking again for the connection's scopes plus ``extra_scope``.

    ``extra_scope`` is one scope or several; a scope already granted (under its name or a
    documented alias) is not asked twice. None when the site does not include
    ``django_euler_oauth.urls``.
    """
    extra = [extra_scope] if isinstance(extra_scope, str) else list(extra_scope or ())
    return authorize_url(connection.client, plus(connection.scope_list, extra), next_url)
