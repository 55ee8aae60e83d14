"""TikTok scopes: their names, the guide's aliases, and the set operations built on them.

The live OpenAPI spec names 14 scopes (:data:`SPEC_SCOPES`); the provider's guide uses two
other names for two of them (:data:`SCOPE_ALIASES`). Everywhere a scope is compared, an
alias counts as its spec name (:func:`canonical_scope`): what a token was granted, what an
endpoint needs (:mod:`~django_euler_oauth.endpoints`), what a delegation gives
(:mod:`~django_euler_oauth.teams`), what a view requires
(:mod:`~django_euler_oauth.decorators`). The functions here are the only place that does
it. The authorize and re-authorize URLs, which ask for scopes, are built here too.

What each scope allows, in plain words, is here too (:data:`SCOPE_DESCRIPTIONS`,
translatable): the team page and the invitation show it, and the sandbox's permissions
screen reuses it (``sandbox/scopes.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

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


#: What each scope lets the app do, in plain words, for the account's owner and for the
#: people the owner invites (so: "the account", "the LIVE", never "your").
SCOPE_DESCRIPTIONS: dict[str, Promise] = {
    "user:info": _("See the account's public profile (username, nickname, avatar)."),
    "user:consents": _("See which apps the account has authorized."),
    "webcast:fetch": _("Connect to the account's LIVE and read its events (chat, gifts, "
                       "likes)."),
    "webcast:live_check": _("See whether the account is LIVE."),
    "webcast:bulk_live_check": _("Check whether several accounts are LIVE at once."),
    "webcast:rankings": _("Read LIVE rankings and leaderboards."),
    "webcast:earnings": _("Read the account's LIVE earnings."),
    "webcast:user_earnings": _("Read the account's LIVE earnings, viewer by viewer."),
    "webcast:sign_url": _("Sign TikTok LIVE request URLs for the account."),
    "webcast:chat": _("Send chat messages in the LIVE as the account."),
    "webcast:mute": _("Mute viewers in the LIVE."),
    "webcast:ban": _("Ban viewers from the LIVE."),
    "webcast:comments": _("Turn the LIVE's comments on or off."),
    "webcast:moderators": _("See and change who moderates the LIVE."),
    "webcast:live_analytics": _("Read the analytics of past LIVEs."),
    "webcast:sensitive_words": _("Manage the LIVE's filter of sensitive words."),
}


def describe_scope(scope: str) -> str:
    """What ``scope`` allows, in plain words (in the active language); "" if unknown."""
    text = SCOPE_DESCRIPTIONS.get(scope) or SCOPE_DESCRIPTIONS.get(canonical_scope(scope))
    return str(text) if text else ""


def describe(scopes: Iterable[str]) -> list[tuple[str, str]]:
    """Each of ``scopes`` with what it allows (:func:`describe_scope`)."""
    return [(scope, describe_scope(scope)) for scope in scopes]


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
