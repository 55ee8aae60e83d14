"""The fake accounts' LIVE over Euler's WebSocket protocol: the synchronous side.

What the sandbox's WebSocket (:mod:`.consumers`) needs from the database, and how the
HTTP side (control actions, the API's chat and moderation) reaches its open sockets:

- :func:`parse_options` reads a socket's query string as Euler's service does
  (``uniqueId``, ``apiKey`` or ``jwtKey``, ``features.*``) and :func:`admit` decides
  whether the socket may stay open; each refusal is a :class:`Refused` carrying Euler's
  close code.
- :func:`publish` and :func:`publish_close` reach every open socket of one account
  through Channels' channel layer: group :func:`group_name`
  (``euler_sandbox.ws.<uniqueId>``), message types ``euler_sandbox.messages``
  (``{"id", "messages": [{"type", "data"}], "state"?}``) and ``euler_sandbox.close``
  (``{"id", "code", "messages"}``: those messages, then the close code). Without a
  channel layer (or without Channels) nothing is sent and the HTTP side works as before.
- :func:`go_live`, :func:`end_live`, :func:`viewer_event` and :func:`drop_sockets` are
  the control actions; :func:`create_jwt` mints the tokens of ``jwt/create``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings

from . import events, jwts, rooms
from .answers import viewer_name
from .models import FakeAccount, Room, SandboxClient

logger = logging.getLogger(__name__)

# Close codes of Euler's service (ClientCloseCode of its SDK).
NORMAL = 1000
INTERNAL_ERROR = 1011
STREAM_END = 4005
NO_MESSAGES_TIMEOUT = 4006
INVALID_OPTIONS = 4400
INVALID_AUTH = 4401
NO_PERMISSION = 4403
NOT_LIVE = 4404
TOO_MANY_CONNECTIONS = 4429
TIKTOK_CLOSED = 4500
MAX_LIFETIME_EXCEEDED = 4555

#: The close reasons Euler's service sends (its SDK's ``CloseMessageMap``).
CLOSE_REASONS: dict[int, str] = {
    NORMAL: "Normal closure",
    INTERNAL_ERROR: "Internal server error",
    STREAM_END: "TikTok stream ended",
    NO_MESSAGES_TIMEOUT: "No messages received in timeout period, closing WebSocket",
    INVALID_OPTIONS: "Invalid options provided",
    INVALID_AUTH: "Invalid auth",
    NO_PERMISSION: "No permission",
    NOT_LIVE: "Streamer is not live",
    TOO_MANY_CONNECTIONS: "Too many concurrent connections",
    TIKTOK_CLOSED: "TikTok closed the connection unexpectedly",
    MAX_LIFETIME_EXCEEDED: "Max lifetime exceeded",
    4556: "Error fetching /webcast/fetch",
    4557: "Error fetching /webcast/room_info",
}

GROUP_PREFIX = "euler_sandbox.ws."
MESSAGES_TYPE = "euler_sandbox.messages"
CLOSE_TYPE = "euler_sandbox.close"

DEFAULT_VIEWER_RATE = 1.0  # simulated events per second in each LIVE room
MAX_VIEWER_RATE = 20.0
DEFAULT_MAX_LIFETIME = 300  # seconds: Euler's sockets live 8 hours, the sandbox's minutes
MAX_LIFETIME = 8 * 3600
MAX_QUERY = 8192  # bytes of query string
MAX_EVENTS = 100  # messages (streaks, likes in one message: see viewer_event) per action
MAX_LIKES = 1000
MAX_REPEAT = 100
MAX_GIFT_MESSAGES = 1000
MAX_JWT_LIFETIME = 24 * 3600
MAX_CREATORS = 100
VIEWER_KINDS = ("chat", "gift", "like", "follow", "share", "join")

_UNIQUE_ID = re.compile(r"[A-Za-z0-9_.]{1,60}")
_PROFILE_URL = re.compile(r"^(?:https?://)?(?:www\.|m\.)?tiktok\.com/@?([^/?#]+)", re.I)
_TRUE, _FALSE = ("true", "1"), ("false", "0")
_BOOLEAN_FEATURES = {"bundleEvents": True, "rawMessages": False, "normalizeUniqueId": True,
                     "syntheticPresence": False, "includeRawBytes": False,
                     "useEnterpriseApi": False}
_NUMBER_FEATURES = {"syntheticPresenceLeaveAfter": (300, 60, 3600),
                    "closeInactiveWebSocketAfter": (60, 30, 3600)}
SCHEMA_VERSIONS = ("v1", "v2")


# -- settings -----------------------------------------------------------------------------

def _number_setting(name: str, default: float, low: float, high: float) -> float:
    raw = getattr(settings, name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    if math.isnan(value):
        return default
    return min(max(value, low), high)


def viewer_rate() -> float:
    """``EULER_SANDBOX_VIEWER_RATE``: simulated viewer events per second in a LIVE room
    with open sockets (0 turns them off; at most 20)."""
    return _number_setting("EULER_SANDBOX_VIEWER_RATE", DEFAULT_VIEWER_RATE, 0.0,
                           MAX_VIEWER_RATE)


def max_lifetime() -> float:
    """``EULER_SANDBOX_WS_MAX_LIFETIME``: seconds a socket stays open before it is closed
    with 4555 (Euler: 8 hours; the sandbox: a few minutes, so clients meet it)."""
    return _number_setting("EULER_SANDBOX_WS_MAX_LIFETIME", DEFAULT_MAX_LIFETIME, 0.1,
                           MAX_LIFETIME)


# -- options and admission ----------------------------------------------------------------

class Refused(Exception):
    """A socket the service closes right after accepting it, with Euler's ``code``."""

    def __init__(self, code: int, why: str = "") -> None:
        super().__init__(why or CLOSE_REASONS.get(code, ""))
        self.code = code

    @property
    def reason(self) -> str:
        return CLOSE_REASONS.get(self.code, "")


@dataclasses.dataclass(frozen=True)
class Options:
    """A socket's query parameters, as Euler's service parses them."""

    unique_id: str
    api_key: str
    jwt_key: str
    features: dict[str, Any]  # every flag, defaults filled in (workerInfo echoes them)

    @property
    def bundle(self) -> bool:
        return bool(self.features["bundleEvents"])

    @property
    def schema_version(self) -> str:
        return str(self.features["schemaVersion"])


def normalize_unique_id(value: str) -> str:
    """``@name``, ``name`` or a profile URL (``https://www.tiktok.com/@name/live``) to
    ``name``, as Euler's SDK normalizes it."""
    value = value.strip()
    found = _PROFILE_URL.match(value)
    if found:
        value = found.group(1)
    return value.lstrip("@").strip()


def _feature(name: str, raw: str | None) -> Any:
    if name in _BOOLEAN_FEATURES:
        if raw is None:
            return _BOOLEAN_FEATURES[name]
        if raw.lower() not in _TRUE + _FALSE:
            raise Refused(INVALID_OPTIONS, f"features.{name} must be true or false.")
        return raw.lower() in _TRUE
    if name in _NUMBER_FEATURES:
        default, low, high = _NUMBER_FEATURES[name]
        if raw is None:
            return default
        try:
            number = float(raw)
        except ValueError:
            raise Refused(INVALID_OPTIONS, f"features.{name} must be a number.") from None
        if not low <= number <= high:
            raise Refused(INVALID_OPTIONS, f"features.{name} must be from {low} to {high}.")
        return int(number) if number.is_integer() else number
    if raw is None:
        return "v2"
    if raw not in SCHEMA_VERSIONS:
        raise Refused(INVALID_OPTIONS, "features.schemaVersion must be v1 or v2.")
    return raw


def parse_options(query: bytes | str) -> Options:
    """The socket's options from its query string; :class:`Refused` 4400 when they are not
    Euler's (no ``uniqueId``, a malformed one, a feature flag of the wrong kind)."""
    if isinstance(query, bytes):
        if len(query) > MAX_QUERY:
            raise Refused(INVALID_OPTIONS, "The query string is too long.")
        try:
            query = query.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(INVALID_OPTIONS, "The query string is not UTF-8.") from None
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        raise Refused(INVALID_OPTIONS, "Too many query parameters.") from None
    params: dict[str, str] = {}
    for key, value in pairs:
        params.setdefault(key, value)  # the first of a repeated parameter
    features = {name: _feature(name, params.get(f"features.{name}"))
                for name in (*_BOOLEAN_FEATURES, *_NUMBER_FEATURES, "schemaVersion")}
    unique_id = params.get("uniqueId", "")
    if features["normalizeUniqueId"]:
        unique_id = normalize_unique_id(unique_id)
    if not _UNIQUE_ID.fullmatch(unique_id):
        raise Refused(INVALID_OPTIONS, "uniqueId is missing or is not a TikTok @uniqueId.")
    return Options(unique_id=unique_id, api_key=params.get("apiKey", ""),
                   jwt_key=params.get("jwtKey", ""), features=features)


@dataclasses.dataclass
class RoomState:
    """What the room's moderation says about its viewers (for the simulated ones)."""

    comments_enabled: bool = True
    muted_until: dict[str, float] = dataclasses.field(default_factory=dict)  # epoch s; inf
    banned: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class Admission:
    """An admitted socket: which account, which room, which limits apply."""

    account: FakeAccount
    room_id: str
    live_since: float  # epoch seconds
    limits: list[tuple[str, int]]  # (counter key, most sockets open at once)
    state: RoomState

    @property
    def unique_id(self) -> str:
        return self.account.unique_id


def client_for_key(api_key: str) -> SandboxClient | None:
    """The sandbox client whose API key ``api_key`` is (never one without a key)."""
    if not api_key or len(api_key) > 200 or "\x00" in api_key:
        return None
    client = SandboxClient.objects.filter(api_key=api_key).exclude(api_key="").first()
    if client is None or not secrets.compare_digest(client.api_key.encode(),
                                                    api_key.encode()):
        return None
    return client


def _state(room: Room) -> RoomState:
    now = time.time()
    muted = {}
    for member in rooms.listed(room, rooms.Role.MUTED):
        muted[member.user_id] = (math.inf if member.duration <= 0
                                 else member.created_at.timestamp() + member.duration)
    banned = {member.user_id for member in rooms.listed(room, rooms.Role.BANNED)}
    return RoomState(comments_enabled=room.comments_enabled,
                     muted_until={k: v for k, v in muted.items() if v > now}, banned=banned)


def admit(options: Options) -> Admission:
    """Whether a socket with ``options`` may stay open: its :class:`Admission`, else
    :class:`Refused` with the close code (4401 auth, 4403 creator not in the JWT, 4400
    unknown account, 4404 not LIVE). The socket limits (4429) are the caller's."""
    limits: list[tuple[str, int]] = []
    allowed: list[str] | None = None
    if options.api_key:
        client = client_for_key(options.api_key)
        if client is None:
            raise Refused(INVALID_AUTH)
    elif options.jwt_key:
        try:
            claims = jwts.verify(options.jwt_key)
        except jwts.InvalidToken:
            raise Refused(INVALID_AUTH) from None
        key_id = claims.get("apiKeyId")
        client = (SandboxClient.objects.filter(pk=key_id).first()
                  if isinstance(key_id, int) and not isinstance(key_id, bool) else None)
        if client is None or str(claims.get("sub")) != client.euler_account_id:
            raise Refused(INVALID_AUTH)
        websockets = claims.get("websockets")
        if not isinstance(websockets, dict):
            raise Refused(NO_PERMISSION, "The JWT gives no WebSocket access.")
        creators = websockets.get("allowed_creators")
        allowed = [str(c).lower() for c in creators] if isinstance(creators, list) else None
        if allowed is not None and options.unique_id.lower() not in allowed:
            raise Refused(NO_PERMISSION)
        limits.append((f"jwt:{claims.get('jti')}", int(websockets.get("max_web_sockets", 1))))
    else:
        raise Refused(INVALID_AUTH, "Neither apiKey nor jwtKey.")
    limits.insert(0, (f"key:{client.pk}", client.max_web_sockets))
    account = FakeAccount.objects.filter(unique_id__iexact=options.unique_id).first()
    if account is None:
        raise Refused(INVALID_OPTIONS, "No fake account has that uniqueId.")
    if not rooms.is_live(account):
        raise Refused(NOT_LIVE)
    room = rooms.room_of(account)
    since = room.live_since or room.created_at
    return Admission(account=account, room_id=room.room_id, live_since=since.timestamp(),
                     limits=limits, state=_state(room))


def still_live(account: FakeAccount) -> bool:
    return rooms.is_live(account)


# -- reaching the open sockets ------------------------------------------------------------

def group_name(unique_id: str) -> str:
    """The channel-layer group of one account's open sockets (its uniqueId as stored)."""
    return GROUP_PREFIX + unique_id


def _send(unique_id: str, payload: dict[str, Any]) -> bool:
    try:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer
    except ImportError:  # Channels is the [live] extra
        return False
    layer = get_channel_layer()
    if layer is None:
        return False
    try:
        async_to_sync(layer.group_send)(group_name(unique_id), payload)
    except Exception:  # a broken layer must not break the sandbox's HTTP side
        logger.warning("Could not reach the LIVE sockets of @%s through the channel layer.",
                       unique_id, exc_info=True)
        return False
    return True


def publish(unique_id: str, messages: list[events.Message], *,
            state: dict[str, Any] | None = None) -> bool:
    """Send ``messages`` to every open socket of ``@unique_id`` (``state``: a moderation
    change the simulated viewers follow). False when no channel layer took them."""
    payload: dict[str, Any] = {"type": MESSAGES_TYPE, "id": uuid.uuid4().hex,
                               "messages": messages}
    if state:
        payload["state"] = state
    return _send(unique_id, payload)


def publish_close(unique_id: str, code: int, messages: Iterable[events.Message] = ()) -> bool:
    """Send ``messages`` to every open socket of ``@unique_id``, then close them with
    ``code``."""
    return _send(unique_id, {"type": CLOSE_TYPE, "id": uuid.uuid4().hex, "code": code,
                             "messages": list(messages)})


# -- what the API's chat and moderation show ----------------------------------------------

def announce_chat(account: FakeAccount, msg_id: str, content: str) -> None:
    """The streamer's comment sent through the API, as viewers see it."""
    publish(account.unique_id, [events.chat(rooms.room_id_of(account),
                                            events.anchor_user(account), content,
                                            msg_id=msg_id, anchor=True)])


def _viewer_name(user_id: str) -> str:
    for viewer in events.CAST:
        if viewer.user_id == user_id:
            return viewer.nickname
    return viewer_name(user_id)


def announce_mute(account: FakeAccount, user_id: str, duration: int) -> None:
    how_long = "for the rest of this LIVE" if duration <= 0 else f"for {duration} s"
    publish(account.unique_id,
            [events.notice(rooms.room_id_of(account),
                           f"{_viewer_name(user_id)} was muted {how_long}")],
            state={"mute": {"userId": user_id, "seconds": duration}})


def announce_unmute(account: FakeAccount, user_id: str) -> None:
    publish(account.unique_id, [], state={"unmute": user_id})


def announce_ban(account: FakeAccount, user_id: str, msg_ids: list[str]) -> None:
    """A viewer removed from the LIVE: their comments are deleted, a line says so."""
    room_id = rooms.room_id_of(account)
    publish(account.unique_id,
            [events.deleted(room_id, msg_ids, [user_id]),
             events.notice(room_id, f"{_viewer_name(user_id)} was removed from the LIVE")],
            state={"ban": user_id})


def announce_unban(account: FakeAccount, user_id: str) -> None:
    publish(account.unique_id, [], state={"unban": user_id})


def announce_comments(account: FakeAccount, enabled: bool) -> None:
    text = "Comments are turned on" if enabled else "Comments are turned off"
    publish(account.unique_id, [events.notice(rooms.room_id_of(account), text)],
            state={"comments": enabled})


# -- control actions ------------------------------------------------------------------------

def _account(unique_id: str) -> FakeAccount:
    return FakeAccount.objects.get(unique_id=normalize_unique_id(str(unique_id)))


def go_live(unique_id: str) -> bool:
    """Start ``@unique_id``'s LIVE (sockets may then open); whether it was not LIVE."""
    account = _account(unique_id)
    if not account.has_live_permission:
        raise ValueError(f"@{account.unique_id} has no LIVE permission: it cannot go LIVE.")
    return rooms.set_live(account, True)


def end_live(unique_id: str) -> bool:
    """End ``@unique_id``'s LIVE: every open socket gets a ``WebcastControlMessage``
    (``action`` 3) and is closed with 4005; new ones are refused with 4404."""
    account = _account(unique_id)
    changed = rooms.set_live(account, False)
    publish_close(account.unique_id, STREAM_END,
                  [events.stream_ended(rooms.room_id_of(account))])
    return changed


def _bounded(value: object, name: str, low: int, high: int) -> int:
    """``value`` as a whole number from ``low`` to ``high`` (text and whole floats too)."""
    number: object = value
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            raise ValueError(f"{name} must be a whole number.") from None
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError(f"{name} must be a whole number.")
    if not low <= number <= high:
        raise ValueError(f"{name} must be from {low} to {high}.")
    return number


def _flag(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{name} must be true or false.")


_cast_turn = itertools.count()


def _next_viewers(count: int) -> list[events.Viewer]:
    start = next(_cast_turn)
    return [events.CAST[(start + i) % len(events.CAST)] for i in range(count)]


def viewer_event(unique_id: str, kind: str, count: object = 1, *,
                 repeat_count: object = 1, repeat_end: object = True) -> int:
    """Fake viewers do something in ``@unique_id``'s LIVE; the number of messages sent.

    ``kind``: ``chat`` (``count`` comments, stored as room events like the API's),
    ``gift`` (``count`` streaks of Roses, each ``repeat_count`` steps with increasing
    ``repeatCount``, then, with ``repeat_end``, the closing message with ``repeatEnd`` 1),
    ``like`` (one message of ``count`` likes), ``follow``, ``share``, ``join`` (``count``
    messages; joins are followed by the new viewer count).
    """
    account = _account(unique_id)
    if kind not in VIEWER_KINDS:
        raise ValueError(f"Unknown viewer event {kind!r}; one of {', '.join(VIEWER_KINDS)}.")
    if not rooms.is_live(account):
        raise ValueError(f"@{account.unique_id} is not LIVE: go LIVE first.")
    room_id = rooms.room_id_of(account)
    messages: list[events.Message] = []
    if kind == "like":
        likes = _bounded(count, "count", 1, MAX_LIKES)
        messages.append(events.like(room_id, events.viewer_user(_next_viewers(1)[0]), likes))
    elif kind == "gift":
        streaks = _bounded(count, "count", 1, MAX_EVENTS)
        steps = _bounded(repeat_count, "repeat_count", 1, MAX_REPEAT)
        ends = _flag(repeat_end, "repeat_end")
        if streaks * (steps + ends) > MAX_GIFT_MESSAGES:
            raise ValueError(f"At most {MAX_GIFT_MESSAGES} gift messages at once.")
        for viewer in _next_viewers(streaks):
            sender, group = events.viewer_user(viewer), events.new_msg_id()
            messages += [events.gift(room_id, sender, events.ROSE, repeat_count=step,
                                     repeat_end=False, group_id=group)
                         for step in range(1, steps + 1)]
            if ends:
                messages.append(events.gift(room_id, sender, events.ROSE, repeat_count=steps,
                                            repeat_end=True, group_id=group))
    else:
        number = _bounded(count, "count", 1, MAX_EVENTS)
        room = rooms.room_of(account) if kind == "chat" else None
        for turn, viewer in enumerate(_next_viewers(number)):
            sender = events.viewer_user(viewer)
            if room is not None:
                line = events.CHAT_LINES[(turn + int(viewer.user_id[-2:])) %
                                         len(events.CHAT_LINES)]
                stored = rooms.add_event(room, "chat", viewer.user_id, viewer.nickname, line)
                messages.append(events.chat(room_id, sender, line, msg_id=str(stored.pk)))
            elif kind == "follow":
                messages.append(events.follow(room_id, sender))
            elif kind == "share":
                messages.append(events.share(room_id, sender))
            else:
                messages.append(events.join(room_id, sender))
        if kind == "join":
            messages.append(events.viewer_count(room_id, 0))  # the count: per socket server
    publish(account.unique_id, messages)
    return len(messages)


def drop_sockets(unique_id: str, code: object = TIKTOK_CLOSED) -> int:
    """Close every open socket of ``@unique_id`` with ``code`` (1000, 1011 or 4000-4999);
    returns the code."""
    account = _account(unique_id)
    number = _bounded(code, "code", 1000, 4999)
    if number not in (NORMAL, INTERNAL_ERROR) and number < 4000:
        raise ValueError("code must be 1000, 1011 or from 4000 to 4999.")
    publish_close(account.unique_id, number)
    return number


# -- JWTs ---------------------------------------------------------------------------------

def _first(body: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in body:
            return body[name]
    return None


def create_jwt(client: SandboxClient, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A signed JWT for ``client``'s account and its ``config``, from Euler's
    ``jwt/create`` body: ``{expire_after, websockets: {allowed_creators, max_web_sockets},
    name?}`` (also camelCase, and the newer ``{metadata: {expireAfter, name}, websockets:
    {enabled, config: {...}}}``). ValueError says what is wrong with the body."""
    nested = body.get("metadata")
    metadata: dict[str, Any] = nested if isinstance(nested, dict) else body
    expire_after = _first(metadata, "expire_after", "expireAfter")
    if expire_after is None:
        raise ValueError("expire_after is required (seconds).")
    ttl = _bounded(expire_after, "expire_after", 1, MAX_JWT_LIFETIME)
    name = _first(metadata, "name")
    if name is not None and (not isinstance(name, str) or len(name) > 100):
        raise ValueError("name must be text of at most 100 characters.")
    websockets = body.get("websockets")
    socket_claims: dict[str, Any] | None = None
    if websockets is not None:
        if not isinstance(websockets, dict):
            raise ValueError("websockets must be an object.")
        if isinstance(websockets.get("config"), dict) or "enabled" in websockets:
            if not _flag(websockets.get("enabled", True), "websockets.enabled"):
                websockets = None
            else:
                websockets = websockets.get("config") or {}
    if isinstance(websockets, dict):
        creators = _first(websockets, "allowed_creators", "allowedCreators")
        if creators is not None:
            if not isinstance(creators, list) or len(creators) > MAX_CREATORS or not all(
                    isinstance(c, str) for c in creators):
                raise ValueError(f"allowed_creators must be a list of at most {MAX_CREATORS} "
                                 "uniqueIds (or null: any creator).")
            creators = [normalize_unique_id(c) for c in creators]
            if not all(_UNIQUE_ID.fullmatch(c) for c in creators):
                raise ValueError("allowed_creators must hold TikTok @uniqueIds.")
        most = _first(websockets, "max_web_sockets", "maxWebSockets")
        most = _bounded(1 if most is None else most, "max_web_sockets", 1,
                        max(1, client.max_web_sockets))
        socket_claims = {"allowed_creators": creators, "max_web_sockets": most}
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "euler-sandbox", "sub": client.euler_account_id, "jti": uuid.uuid4().hex,
        "iat": now, "exp": now + ttl, "name": name, "apiKeyId": client.pk,
    }
    if socket_claims is not None:
        claims["websockets"] = socket_claims
    config: dict[str, Any] = {
        "id": claims["jti"], "expiresAt": claims["exp"], "ttl": ttl,
        "accountId": int(client.euler_account_id) if client.euler_account_id.isdigit()
        else client.euler_account_id,
        "apiKeyId": client.pk, "name": name, "extra": {},
    }
    if socket_claims is not None:
        config["webSocketData"] = {"allowedCreators": socket_claims["allowed_creators"],
                                   "maxWebSockets": socket_claims["max_web_sockets"]}
    return jwts.sign(claims), config
