"""Scopes the sandbox grants, each with the description its permissions screen shows."""

from __future__ import annotations

from django_euler_oauth.endpoints import canonical_scope

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "webcast:fetch": "Connect to your LIVE streams and read their events (chat, gifts, likes).",
    "webcast:live_check": "See whether you are currently LIVE.",
    "webcast:bulk_live_check": "Check whether several accounts are LIVE at once.",
    "webcast:rankings": "Read LIVE rankings and leaderboards.",
    "webcast:earnings": "Read your LIVE earnings.",
    "webcast:user_earnings": "Read your per-viewer LIVE earnings.",
    "webcast:sign_url": "Sign TikTok LIVE request URLs on your behalf.",
    "webcast:chat": "Send chat messages in your LIVE.",
    "webcast:mute": "Mute viewers in your LIVE.",
    "webcast:ban": "Ban viewers from your LIVE.",
    "webcast:comments": "Read and manage comments in your LIVE.",
    "webcast:moderators": "Read and manage your LIVE moderators.",
    "webcast:live_analytics": "Read analytics of your past LIVE streams.",
    "webcast:sensitive_words": "Manage the sensitive-word filter of your LIVE.",
    "user:consents": "See which apps you have authorized.",
    "user:info": "Read your public profile (username, nickname, avatar).",
}

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
    return [(scope, SCOPE_DESCRIPTIONS.get(scope, "")) for scope in scopes]
