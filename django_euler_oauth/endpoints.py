"""The Euler Stream API surface as data: one table read by the client and the sandbox.

Each :class:`Endpoint` is one operation of the live API (named after the
function of Euler's official Python SDK, ``eulerapisdk`` 0.5.0, that calls it):
its HTTP method and path, the wire names of its query parameters and JSON body
fields, which of those are required, the scope(s) a token needs for it, and
whether it answers JSON or a binary protobuf body.

:class:`~django_euler_oauth.api.EulerAPI` builds its typed methods from this
table and checks scopes before sending anything; the sandbox provider routes
and enforces with the same rows. Which scope each endpoint needs is not stated
by the provider: the mapping below is chosen from the scope names (see the
docs' "Calling the Euler API" page) and lives here only.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from .scopes import SCOPE_ALIASES, SPEC_SCOPES, allows_any, canonical_scope

__all__ = ["BYTES", "ENDPOINTS", "ENDPOINTS_BY_NAME", "ENDPOINT_LABELS", "JSON",
           "SCOPE_ALIASES", "SPEC_SCOPES", "Endpoint", "canonical_scope", "endpoint_for",
           "endpoint_label", "endpoints_for_scope", "required_scope"]

JSON = "json"
BYTES = "bytes"

_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One API operation that takes a user's access token."""

    name: str  # the eulerapisdk function name (also EulerAPI's method name)
    method: str  # GET, POST, PUT, DELETE
    path: str  # with {placeholders} for path parameters
    scopes: tuple[str, ...]  # any one of these allows the call; the first is asked for
    summary: str
    query: tuple[str, ...] = ()  # query parameter wire names
    body: tuple[str, ...] = ()  # JSON body field wire names
    required: tuple[str, ...] = ()  # required query/body names
    answer: str = JSON  # JSON or BYTES (application/x-protobuf)
    legacy: bool = False  # an older path (eulerapisdk 0.1 / TikTokLive), kept working

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(_PATH_PARAM.findall(self.path))

    @property
    def scope(self) -> str:
        """The scope to ask for when the token has none of :attr:`scopes`."""
        return self.scopes[0] if self.scopes else ""

    def allowed_by(self, granted: Iterable[str]) -> bool:
        """True when ``granted`` (scope names, aliases allowed) lets a token call this."""
        return allows_any(granted, self.scopes)

    def url_path(self, **path_params: object) -> str:
        """:attr:`path` with its placeholders filled (each value URL-quoted)."""
        from urllib.parse import quote

        missing = [name for name in self.path_params if path_params.get(name) in (None, "")]
        if missing:
            raise TypeError(f"{self.name}() needs {', '.join(missing)}.")
        return _PATH_PARAM.sub(lambda m: quote(str(path_params[m.group(1)]), safe=""),
                               self.path)

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters when ``method path`` is this endpoint, else None."""
        if method.upper() != self.method:
            return None
        found = _path_regex(self.path).fullmatch(path)
        return found.groupdict() if found else None


def _path_regex(template: str) -> re.Pattern[str]:
    pattern = _PATH_PARAM.sub(lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(template)
                              .replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile(pattern)


_E = Endpoint
_CONNECT_QUERY = ("client", "cursor", "user_agent", "client_enter", "platform")

#: Every endpoint that takes a user's access token, live paths first, then legacy ones.
ENDPOINTS: tuple[Endpoint, ...] = (
    # -- who the token belongs to
    _E("get_user_info", "GET", "/tiktok/oauth/userinfo", ("user:info", "user:consents"),
       "The TikTok account that authorized the token."),
    # -- LIVE status and rankings
    _E("retrieve_bulk_live_check", "POST", "/webcast/bulk_live_check",
       ("webcast:bulk_live_check",), "Whether several accounts are LIVE, by numeric id.",
       body=("user_numeric_ids",), required=("user_numeric_ids",)),
    _E("retrieve_webcast_rankings", "GET", "/webcast/rankings", ("webcast:rankings",),
       "A region's LIVE rankings.",
       query=("region", "rank_type", "session_id", "tt_target_idc"),
       required=("region", "rank_type")),
    _E("retrieve_room_rankings", "GET", "/webcast/rooms/{room_id}/rankings",
       ("webcast:rankings",), "A room's viewer rankings.",
       query=("anchor_id",), required=("anchor_id",)),
    # -- connecting to a room (binary protobuf answers)
    _E("fetch_webcast_url", "GET", "/webcast/rooms/{room_id}/connect",
       ("webcast:fetch", "webcast:sign_url"),
       "The signed first fetch of a room's events (protobuf).",
       query=_CONNECT_QUERY, answer=BYTES),
    _E("fetch_webcast_url_by_unique_id", "GET", "/webcast/anchors/{unique_id}/connect",
       ("webcast:fetch", "webcast:sign_url"),
       "The signed first fetch of a creator's room, by @uniqueId (protobuf).",
       query=_CONNECT_QUERY, answer=BYTES),
    _E("retrieve_webcast_anchor_events", "GET", "/webcast/events/anchors/{numeric_id}",
       ("webcast:fetch",), "Recent events of a creator's LIVE room.", query=("page",)),
    _E("retrieve_webcast_gift_gallery", "GET", "/webcast/anchors/{unique_id}/gift_gallery",
       ("webcast:fetch",), "The gifts a creator's room offers.",
       query=("webcast_language",)),
    # -- earnings and analytics
    _E("retrieve_webcast_user_earnings", "GET", "/webcast/anchors/{unique_id}/earnings",
       ("webcast:user_earnings",), "The creator's LIVE earnings.",
       query=("period", "session_id", "tt_target_idc")),
    _E("retrieve_live_analytics_video_list", "GET", "/webcast/anchors/me/rooms",
       ("webcast:live_analytics",), "The creator's past LIVE sessions.",
       query=("count", "offset")),
    _E("retrieve_live_analytics_video_detail", "GET",
       "/webcast/anchors/me/rooms/{room_id}/details", ("webcast:live_analytics",),
       "Analytics of one past LIVE session."),
    _E("retrieve_live_analytics_user_interactions", "GET",
       "/webcast/anchors/me/rooms/{room_id}/interactions", ("webcast:live_analytics",),
       "One viewer's interactions in a past LIVE session.",
       query=("user_id",), required=("user_id",)),
    # -- chat
    _E("send_room_chat", "POST", "/webcast/rooms/{room_id}/chat", ("webcast:chat",),
       "Send a chat message as the creator.",
       body=("content", "targetRoomId", "targetUniqueId"), required=("content",)),
    # -- moderation
    _E("mute_room_user", "PUT", "/webcast/rooms/{room_id}/moderation/mutes",
       ("webcast:mute",), "Mute a viewer (duration: -1, 5, 30, 60 or 300 seconds).",
       query=("user_id", "duration", "comment_msg_id"), required=("user_id",)),
    _E("unmute_room_user", "DELETE", "/webcast/rooms/{room_id}/moderation/mutes",
       ("webcast:mute",), "Unmute a viewer.", query=("user_id",), required=("user_id",)),
    _E("retrieve_room_muted_users", "GET", "/webcast/rooms/{room_id}/moderation/mutes",
       ("webcast:mute",), "The room's muted viewers.", query=("page",)),
    _E("kick_room_user", "PUT", "/webcast/rooms/{room_id}/moderation/bans",
       ("webcast:ban",), "Ban (kick) a viewer from the room.",
       query=("tiktok_user_id", "comment_msg_id"), required=("tiktok_user_id",)),
    _E("unban_room_user", "DELETE", "/webcast/rooms/{room_id}/moderation/bans",
       ("webcast:ban",), "Lift a viewer's ban.",
       query=("tiktok_user_id",), required=("tiktok_user_id",)),
    _E("retrieve_room_banned_users", "GET", "/webcast/rooms/{room_id}/moderation/bans",
       ("webcast:ban",), "The room's banned viewers.", query=("page",)),
    _E("toggle_room_comments", "POST", "/webcast/rooms/{room_id}/moderation/toggle_comments",
       ("webcast:comments",), "Turn the room's comments on or off.",
       query=("enabled",), required=("enabled",)),
    _E("add_sensitive_word", "POST", "/webcast/rooms/{room_id}/moderation/sensitive-words",
       ("webcast:sensitive_words",), "Add a word to the room's filter.",
       query=("word", "sec_anchor_id"), required=("word", "sec_anchor_id")),
    _E("delete_sensitive_word", "DELETE",
       "/webcast/rooms/{room_id}/moderation/sensitive-words", ("webcast:sensitive_words",),
       "Remove a word from the room's filter.",
       query=("word_id", "sec_anchor_id"), required=("word_id", "sec_anchor_id")),
    _E("get_sensitive_words", "GET", "/webcast/rooms/{room_id}/moderation/sensitive-words",
       ("webcast:sensitive_words",), "The room's filtered words.",
       query=("sec_anchor_id",), required=("sec_anchor_id",)),
    _E("add_room_moderator", "PUT", "/webcast/anchors/{numeric_id}/moderation/moderators",
       ("webcast:moderators",), "Make a viewer a moderator.",
       query=("to_user_id",), required=("to_user_id",)),
    _E("remove_room_moderator", "DELETE",
       "/webcast/anchors/{numeric_id}/moderation/moderators", ("webcast:moderators",),
       "Remove a moderator.", query=("to_user_id",), required=("to_user_id",)),
    _E("retrieve_room_moderators", "GET",
       "/webcast/anchors/{numeric_id}/moderation/moderators", ("webcast:moderators",),
       "The creator's moderators."),
    # -- legacy paths (eulerapisdk 0.1 as pinned by TikTokLive, and the guide's examples)
    _E("legacy_send_chat", "POST", "/webcast/chat", ("webcast:chat",),
       "Older chat path (body as send_room_chat, plus roomId).",
       body=("content", "roomId", "targetRoomId", "targetUniqueId"), required=("content",),
       legacy=True),
    _E("legacy_fetch", "GET", "/webcast/fetch", ("webcast:fetch",),
       "Older fetch path: a room's recent events.",
       query=("unique_id", "room_id", "client", "cursor"), legacy=True),
    _E("legacy_user_earnings", "GET", "/webcast/user_earnings", ("webcast:user_earnings",),
       "Older earnings path.", query=("unique_id", "period"), legacy=True),
)

ENDPOINTS_BY_NAME: dict[str, Endpoint] = {endpoint.name: endpoint for endpoint in ENDPOINTS}

#: What each endpoint does, in plain words, for people reading the audit trail ("mute a
#: viewer"): one for every row of :data:`ENDPOINTS`.
ENDPOINT_LABELS: dict[str, Promise] = {
    "get_user_info": _("read the account's profile"),
    "retrieve_bulk_live_check": _("check who is LIVE"),
    "retrieve_webcast_rankings": _("read LIVE rankings"),
    "retrieve_room_rankings": _("read the room's viewer rankings"),
    "fetch_webcast_url": _("connect to the LIVE room"),
    "fetch_webcast_url_by_unique_id": _("connect to the LIVE room"),
    "retrieve_webcast_anchor_events": _("read the LIVE's recent events"),
    "retrieve_webcast_gift_gallery": _("read the room's gifts"),
    "retrieve_webcast_user_earnings": _("read the LIVE earnings"),
    "retrieve_live_analytics_video_list": _("list past LIVEs"),
    "retrieve_live_analytics_video_detail": _("read a past LIVE's analytics"),
    "retrieve_live_analytics_user_interactions": _("read a viewer's interactions"),
    "send_room_chat": _("send a chat message"),
    "mute_room_user": _("mute a viewer"),
    "unmute_room_user": _("unmute a viewer"),
    "retrieve_room_muted_users": _("list muted viewers"),
    "kick_room_user": _("ban a viewer"),
    "unban_room_user": _("lift a viewer's ban"),
    "retrieve_room_banned_users": _("list banned viewers"),
    "toggle_room_comments": _("turn comments on or off"),
    "add_sensitive_word": _("add a filtered word"),
    "delete_sensitive_word": _("remove a filtered word"),
    "get_sensitive_words": _("list filtered words"),
    "add_room_moderator": _("make a viewer a moderator"),
    "remove_room_moderator": _("remove a moderator"),
    "retrieve_room_moderators": _("list moderators"),
    "legacy_send_chat": _("send a chat message"),
    "legacy_fetch": _("read the LIVE's recent events"),
    "legacy_user_earnings": _("read the LIVE earnings"),
}


def endpoint_label(name: str) -> str:
    """What endpoint ``name`` does, in plain words (active language); else ``name``."""
    label = ENDPOINT_LABELS.get(name)
    return str(label) if label else name


def endpoint_for(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint serving ``method path`` and its path parameters, or None.

    Literal paths win over templated ones (``/webcast/anchors/me/rooms`` is not
    ``/webcast/anchors/{unique_id}/...``).
    """
    candidates = sorted(ENDPOINTS, key=lambda e: len(e.path_params))
    for endpoint in candidates:
        params = endpoint.match(method, path)
        if params is not None:
            return endpoint, params
    return None


def endpoints_for_scope(scope: str) -> list[Endpoint]:
    """The endpoints a token with ``scope`` (alias allowed) may call."""
    wanted = canonical_scope(scope)
    return [endpoint for endpoint in ENDPOINTS if wanted in endpoint.scopes]


def required_scope(name: str) -> str:
    """The scope to ask for to call endpoint ``name``."""
    return ENDPOINTS_BY_NAME[name].scope
