"""What each API endpoint does, by the table's endpoint name (see :mod:`.api`).

Answers take the shapes Euler's SDK parses (see :mod:`..answers`); the room
endpoints read and change the fake rooms (:mod:`..rooms`). A room can only be
changed by a token of its own account: anything else is a 400 that changes nothing.
Chat and moderation also show up on the room's open sockets of the sandbox's WebSocket
(:mod:`..live`, imported as ``live_rooms``): the streamer's comment, a removed viewer's
deleted messages, a line for a mute or for comments switched off.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from django.urls import reverse

from .. import answers, protobuf, rooms
from .. import live as live_rooms
from ..models import FakeAccount, Room, RoomEvent
from ..responses import live, success, top_level
from .call import BadInput, Call

Handler = Callable[[Call], HttpResponse]
HANDLERS: dict[str, Handler] = {}

MAX_CHAT = 150  # TikTok's limit for one LIVE comment
MAX_WORD = 50
MAX_IDS = 100  # user_numeric_ids per bulk live check
MUTE_DURATIONS = (-1, 5, 30, 60, 300)
RANK_TYPES = ("DAILY_RANK", "FANS_TEAM_RANK")
_UNIQUE_ID = re.compile(r"[A-Za-z0-9_.]{1,60}")
_REGION = re.compile(r"[A-Z]{2}")


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler
    return register


# -- shared readers ---------------------------------------------------------------------

def _unique_id(call: Call, name: str = "unique_id", default: str = "") -> str:
    value = call.text(name, 61, default).lstrip("@")
    if not _UNIQUE_ID.fullmatch(value):
        raise BadInput(f"{name} must be a TikTok @uniqueId.")
    return value


def _account(unique_id: str) -> FakeAccount | None:
    return FakeAccount.objects.filter(unique_id=unique_id).first()


def _own_room(call: Call, room_id: str) -> Room:
    if not room_id:
        raise BadInput("Missing required parameter: room_id")
    if room_id != rooms.room_id_of(call.account):
        raise BadInput(f"Room {room_id} is not the room of the account that authorized "
                       "the token.")
    return rooms.room_of(call.account)


def _own_anchor(call: Call) -> Room:
    if call.digits("numeric_id") != call.account.uid:
        raise BadInput("numeric_id is not the account that authorized the token.")
    return rooms.room_of(call.account)


def _check_sec_anchor(call: Call) -> None:
    if call.text("sec_anchor_id", 200) != call.account.sec_uid:
        raise BadInput("sec_anchor_id is not the room's anchor.")


def _ignored(call: Call, *names: str) -> None:
    """Parameters the sandbox does not use, still refused when malformed."""
    for name in names:
        call.text(name, 500)


# -- who, LIVE status, rankings ---------------------------------------------------------

@handles("get_user_info")
def user_info(call: Call) -> HttpResponse:
    # Without a picture of its own, the sandbox's drawn one (a real image over loopback).
    drawn = call.request.build_absolute_uri(
        reverse("euler_sandbox:avatar", args=[call.account.unique_id]))
    return top_level({"user": call.account.as_userinfo(drawn)}, call.client)


def _live_status(user_id: str) -> dict[str, Any]:
    account = FakeAccount.objects.filter(uid=user_id).first()
    if account is not None:
        is_live = rooms.is_live(account)
        room_id = rooms.room_id_of(account)
    else:
        is_live = answers.number(user_id + ":live", 0, 2) > 0
        room_id = str(7_300_000_000_000_000_000 + answers.number(user_id + ":room", 1, 10**9))
    return {"is_live": is_live, "room_id": room_id if is_live else None}


@handles("retrieve_bulk_live_check")
def bulk_live_check(call: Call) -> HttpResponse:
    raw = call.params["user_numeric_ids"]
    ids = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(ids, list) or not all(
            isinstance(i, (str, int)) and not isinstance(i, bool) for i in ids):
        raise BadInput("user_numeric_ids must be a list of numeric ids.")
    if len(ids) > MAX_IDS:
        raise BadInput(f"user_numeric_ids takes at most {MAX_IDS} ids.")
    ids = [str(i).strip() for i in ids]
    if not all(i.isdigit() and len(i) <= 25 for i in ids):
        raise BadInput("user_numeric_ids must be a list of numeric ids.")
    return live({"response": {"data": {i: _live_status(i) for i in dict.fromkeys(ids)}}})


@handles("retrieve_webcast_rankings")
def region_rankings(call: Call) -> HttpResponse:
    region = call.text("region", 2, call.account.region).upper()
    if not _REGION.fullmatch(region):
        raise BadInput("region must be a two-letter region code.")
    rank_type = call.text("rank_type", 20, RANK_TYPES[0])
    if rank_type not in RANK_TYPES:
        raise BadInput(f"rank_type must be one of {', '.join(RANK_TYPES)}.")
    _ignored(call, "session_id", "tt_target_idc")
    return live({"region": region, "response": answers.region_rankings(region, rank_type)})


@handles("retrieve_room_rankings")
def room_rankings(call: Call) -> HttpResponse:
    room_id = call.digits("room_id")
    call.digits("anchor_id")
    room = rooms.find_room(room_id)
    mods = {m.user_id for m in rooms.listed(room, rooms.Role.MODERATOR)} if room else set()
    return live({"response": answers.room_rankings(room_id, mods)})


# -- connecting and events ------------------------------------------------------------

def _connect(call: Call, room: Room | None, room_id: str) -> HttpResponse:
    _ignored(call, "client", "cursor", "user_agent", "client_enter")
    if call.text("platform", 10) not in ("", "web", "mobile"):
        raise BadInput("platform must be web or mobile.")
    recent = rooms.events(room, 0, ("chat",))[0] if room else []
    push = f"wss://webcast.sandbox.invalid/webcast/im/push/v2/?room_id={room_id}"
    response = HttpResponse(protobuf.fetch_result(room_id, recent, push),
                            content_type=protobuf.CONTENT_TYPE)
    response["Cache-Control"] = "no-store"
    return response


@handles("fetch_webcast_url")
def connect_room(call: Call) -> HttpResponse:
    room_id = call.digits("room_id")
    return _connect(call, rooms.find_room(room_id), room_id)


@handles("fetch_webcast_url_by_unique_id")
def connect_creator(call: Call) -> HttpResponse:
    account = _account(_unique_id(call))
    room = rooms.room_of(account) if account else None
    room_id = room.room_id if room else str(
        7_300_000_000_000_000_000 + answers.number(_unique_id(call) + ":room", 1, 10**9))
    return _connect(call, room, room_id)


_EVENT_TYPES = {"chat": 1, "comments_on": 2, "comments_off": 3}


def _event_item(event: RoomEvent) -> dict[str, Any]:
    return {"id": str(event.pk), "start_time": int(event.created_at.timestamp()),
            "duration": 0, "title": event.kind, "desc": event.content, "status": 1,
            "subscriber_count": 0, "type": _EVENT_TYPES.get(event.kind, 0),
            "enable_update": False, "has_subscribed": False, "is_paid_event": False,
            "ticket_amount": 0, "user_id": event.user_id, "nickname": event.nickname}


@handles("retrieve_webcast_anchor_events")
def anchor_events(call: Call) -> HttpResponse:
    page = call.integer("page", 0, 0, 1000)
    account = FakeAccount.objects.filter(uid=call.digits("numeric_id")).first()
    rows, more = rooms.events(rooms.room_of(account), page) if account else ([], False)
    return live({"events": [_event_item(e) for e in rows], "has_more": more, "page": page})


@handles("retrieve_webcast_gift_gallery")
def gift_gallery(call: Call) -> HttpResponse:
    call.text("webcast_language", 10)
    return live({"data": answers.gift_gallery(_unique_id(call))})


def _earnings(call: Call, unique_id: str) -> HttpResponse:
    if call.text("period", 10, "daily") != "daily":
        raise BadInput("period must be daily.")
    _ignored(call, "session_id", "tt_target_idc")
    return live({"response": answers.earnings(unique_id, _account(unique_id))})


@handles("retrieve_webcast_user_earnings")
def user_earnings(call: Call) -> HttpResponse:
    return _earnings(call, _unique_id(call))


@handles("legacy_user_earnings")
def legacy_user_earnings(call: Call) -> HttpResponse:
    return _earnings(call, _unique_id(call, default=call.account.unique_id))


# -- analytics -------------------------------------------------------------------------

@handles("retrieve_live_analytics_video_list")
def video_list(call: Call) -> HttpResponse:
    count = call.integer("count", 10, 1, 50)
    offset = call.integer("offset", 0, 0, 1000)
    sessions = answers.past_sessions(call.account)
    return live(answers.response({"total": len(sessions),
                                  "video_list": sessions[offset:offset + count]}))


@handles("retrieve_live_analytics_video_detail")
def video_detail(call: Call) -> HttpResponse:
    return live(answers.response(answers.video_detail(call.digits("room_id"))))


@handles("retrieve_live_analytics_user_interactions")
def user_interactions(call: Call) -> HttpResponse:
    room_id, user_id = call.digits("room_id"), call.digits("user_id")
    comments: list[tuple[int, str, int]] = []
    if room_id == rooms.room_id_of(call.account):
        room = rooms.room_of(call.account)
        comments = [(e.pk, e.content, int(e.created_at.timestamp()))
                    for e in room.events.filter(kind="chat", user_id=user_id)[:50]]
    return live(answers.response(
        answers.user_interactions(room_id, user_id, call.account, comments)))


# -- chat -------------------------------------------------------------------------------

def _chat(call: Call, room: Room) -> HttpResponse:
    content = call.text("content", MAX_CHAT)
    if not content:
        raise BadInput("Missing required parameter: content")
    for name in ("targetRoomId", "roomId"):
        call.digits(name)
    if call.params.get("targetUniqueId"):
        _unique_id(call, "targetUniqueId")
    event = rooms.add_event(room, "chat", call.account.uid, call.account.nickname, content)
    live_rooms.announce_chat(call.account, str(event.pk), content)
    return live({"data": answers.tiktok_route({"msg_id": event.pk, "content": content})})


@handles("send_room_chat")
def send_chat(call: Call) -> HttpResponse:
    return _chat(call, _own_room(call, call.digits("room_id")))


@handles("legacy_send_chat")
def legacy_send_chat(call: Call) -> HttpResponse:
    room_id = call.digits("roomId") or call.digits("targetRoomId")
    return _chat(call, _own_room(call, room_id or rooms.room_id_of(call.account)))


def _legacy_room(unique_id: str, account: FakeAccount | None) -> dict[str, Any]:
    if account is not None:
        live_now = rooms.is_live(account)
        room_id: str | None = rooms.room_id_of(account)
    else:
        live_now = answers.number(unique_id + ":live", 0, 2) > 0
        room_id = str(answers.number(unique_id + ":room", 10**17, 10**18))
    return {"uniqueId": unique_id, "isLive": live_now, "roomId": room_id if live_now else None,
            "viewerCount": answers.number(unique_id + ":viewers", 3, 25_000) if live_now else 0}


@handles("legacy_fetch")
def legacy_fetch(call: Call) -> HttpResponse:
    """The guide's fetch: the room and its recent events (chat sent through the API first)."""
    default = call.account.unique_id
    unique_id = _unique_id(call, "uniqueId", call.text("unique_id", 61, default))
    _ignored(call, "client", "cursor")
    account = _account(unique_id)
    room = _legacy_room(unique_id, account)
    events: list[dict[str, Any]] = []
    if account is not None:
        rows = rooms.events(rooms.room_of(account), 0, ("chat",))[0]
        events = [{"type": "chat", "user": e.nickname, "userId": e.user_id,
                   "content": e.content, "msgId": e.pk} for e in rows]
    if room["isLive"]:
        seeds = [(kind, f"{unique_id}{kind}{i}")
                 for i, kind in enumerate(("chat", "like", "gift", "member", "chat"))]
        events += [{"type": kind, "user": f"viewer{answers.number(seed, 1, 9999)}",
                    "value": answers.number(seed + "v", 1, 500)} for kind, seed in seeds]
    return success({"room": room, "events": events,
                    "cursor": answers.number(unique_id, 1, 10**9)}, call.client)


# -- moderation -------------------------------------------------------------------------

@handles("mute_room_user")
def mute(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    user_id = call.digits("user_id")
    duration = call.integer("duration", -1, -1, 300)
    if duration not in MUTE_DURATIONS:
        raise BadInput(f"duration must be one of {', '.join(map(str, MUTE_DURATIONS))}.")
    call.digits("comment_msg_id")
    rooms.add_member(room, rooms.Role.MUTED, user_id, duration)
    live_rooms.announce_mute(call.account, user_id, duration)
    total = rooms.members(room, rooms.Role.MUTED)[1]
    return live(answers.response({"actual_duration": duration,
                                  "max_count": rooms.MAX_MEMBERS, "room_id": int(room.room_id),
                                  "total": total, "user_id": int(user_id)}))


@handles("unmute_room_user")
def unmute(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    user_id = call.digits("user_id")
    if rooms.remove_member(room, rooms.Role.MUTED, user_id):
        live_rooms.announce_unmute(call.account, user_id)
    return live(answers.response({}))


@handles("retrieve_room_muted_users")
def muted_users(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    page = call.integer("page", 0, 0, 1000)
    rows, total, more = rooms.members(room, rooms.Role.MUTED, page)
    return live(answers.response(
        [answers.tiktok_user(m.user_id, muted_for=m.duration) for m in rows],
        datas=[], has_more=more, max_count=rooms.MAX_MEMBERS, next_cursor=page + 1 if more else 0,
        total=total))


@handles("kick_room_user")
def kick(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    user_id = call.digits("tiktok_user_id")
    comment = call.text("comment_msg_id", 25)
    rooms.add_member(room, rooms.Role.BANNED, user_id)
    said = [str(pk) for pk in room.events.filter(kind="chat", user_id=user_id)
            .values_list("pk", flat=True)[:50]]
    live_rooms.announce_ban(call.account, user_id, list(dict.fromkeys(
        ([comment] if comment.isdigit() else []) + said)))
    return live(answers.response({"user_id": user_id}))


@handles("unban_room_user")
def unban(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    user_id = call.digits("tiktok_user_id")
    if rooms.remove_member(room, rooms.Role.BANNED, user_id):
        live_rooms.announce_unban(call.account, user_id)
    return live(answers.response({}))


@handles("retrieve_room_banned_users")
def banned_users(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    page = call.integer("page", 0, 0, 1000)
    rows, total, more = rooms.members(room, rooms.Role.BANNED, page)
    items = [{"id": int(m.user_id), "id_str": m.user_id,
              "nickname": answers.viewer_name(m.user_id),
              "display_id": answers.viewer_name(m.user_id),
              "avatar_thumb": answers.image(m.user_id),
              "kick_time": int(m.created_at.timestamp())} for m in rows]
    return live(answers.response(items, has_more=more, next_cursor=page + 1 if more else 0,
                                 total=total))


@handles("toggle_room_comments")
def toggle_comments(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    enabled = call.flag("enabled")
    rooms.set_comments(room, enabled)
    live_rooms.announce_comments(call.account, enabled)
    return live(answers.response({"comments_enabled": enabled}))


def _word(word: Any) -> dict[str, Any]:
    return {"word_id": str(word.pk), "word": word.word}


@handles("add_sensitive_word")
def add_word(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    _check_sec_anchor(call)
    word = call.text("word", MAX_WORD)
    if not word:
        raise BadInput("Missing required parameter: word")
    return live(answers.response({"words": [_word(rooms.add_word(room, word))]}))


@handles("delete_sensitive_word")
def delete_word(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    _check_sec_anchor(call)
    rooms.delete_word(room, call.digits("word_id"))
    return live(answers.response({}))


@handles("get_sensitive_words")
def get_words(call: Call) -> HttpResponse:
    room = _own_room(call, call.digits("room_id"))
    _check_sec_anchor(call)
    return live(answers.response({"words": [_word(w) for w in rooms.words(room)]}))


@handles("add_room_moderator")
def add_moderator(call: Call) -> HttpResponse:
    room = _own_anchor(call)
    rooms.add_member(room, rooms.Role.MODERATOR, call.digits("to_user_id"))
    return live(answers.response({}))


@handles("remove_room_moderator")
def remove_moderator(call: Call) -> HttpResponse:
    room = _own_anchor(call)
    rooms.remove_member(room, rooms.Role.MODERATOR, call.digits("to_user_id"))
    return live(answers.response({}))


@handles("retrieve_room_moderators")
def moderators(call: Call) -> HttpResponse:
    room = _own_anchor(call)
    rows = rooms.listed(room, rooms.Role.MODERATOR)
    return live(answers.response([answers.moderator(m.user_id) for m in rows]))
