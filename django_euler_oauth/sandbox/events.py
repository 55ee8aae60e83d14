"""The LIVE events of the sandbox's WebSocket, in the JSON Euler's service sends.

Euler's WebSocket relays TikTok's webcast messages decoded to JSON with the v2 schema of
``@eulerstream/euler-websocket-sdk``: each message is ``{"type": <TikTok's message name>,
"data": {...}}``, members in camelCase, 64-bit integers (ids, times, a few counts) as
strings and 32-bit ones as numbers, as that schema has them. The builders here fill the
members clients read (``common``, ``user``, the counts); TikTok's many others are left
out, as when TikTok leaves them empty. The service's own frames (``workerInfo``,
``roomInfo``, ``tiktok.connect``) are built here too.

Message ids (``common.msgId``) are unique: :func:`new_msg_id` draws time-ordered 63-bit
ids (with a random node part per process), and the chat messages the sandbox stores as
room events use their row's id, far below those.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
from typing import Any

from .answers import GIFTS, account_user, number
from .models import FakeAccount

Message = dict[str, Any]

# TikTok's display types for the public-area messages (clients tell follows from shares
# and joins by them, as TikTok's own apps do).
FOLLOW_DISPLAY = "pm_main_follow_message_viewer_2"
SHARE_DISPLAY = "pm_mt_guidance_share"
JOIN_DISPLAY = "live_room_enter_toast"
FOLLOW_ACTION = "1"  # WebcastSocialMessage.action (int64, a string in JSON)
SHARE_ACTION = "3"
JOIN_ACTION = 1  # MemberMessageAction.JOINED
STREAM_ENDED = 3  # ControlAction.CONTROL_ACTION_STREAM_ENDED


@dataclasses.dataclass(frozen=True)
class Viewer:
    """A fake TikTok viewer of the sandbox's LIVE rooms."""

    user_id: str
    unique_id: str
    nickname: str


#: The fake viewers who chat, like, gift, follow, share and join (simulated or on request).
CAST: tuple[Viewer, ...] = (
    Viewer("7200000000000000101", "mia.sketches", "Mia"),
    Viewer("7200000000000000102", "leo_plays", "Leo"),
    Viewer("7200000000000000103", "ana.bakes", "Ana"),
    Viewer("7200000000000000104", "kenji_runs", "Kenji"),
    Viewer("7200000000000000105", "zoe.sings", "Zoe"),
    Viewer("7200000000000000106", "omar_builds", "Omar"),
    Viewer("7200000000000000107", "lina.reads", "Lina"),
    Viewer("7200000000000000108", "sam_fixes_bikes", "Sam"),
)

CHAT_LINES: tuple[str, ...] = (
    "hi from the sandbox!", "hello everyone", "love this stream", "what are we doing today?",
    "first time here 👋", "this is so relaxing", "greetings from Lisbon", "🔥🔥🔥",
    "can you say hi to me?", "how long have you been streaming?", "lol", "that was great",
    "sending love ❤️", "the audio is perfect today", "brb", "back!",
)


@dataclasses.dataclass(frozen=True)
class Gift:
    gift_id: int
    name: str
    diamonds: int

    @property
    def combo(self) -> bool:
        """Whether viewers send it in streaks (TikTok's cheap gifts; ``giftType`` 1)."""
        return self.diamonds < 100


#: The gifts of the sandbox (the gift gallery's), Rose first.
GIFT_LIST: tuple[Gift, ...] = tuple(Gift(int(i), name, price) for i, name, price in GIFTS)
ROSE = GIFT_LIST[0]

# -- message ids ------------------------------------------------------------------------

_EPOCH_MS = 1_577_836_800_000  # 2020-01-01: 41 bits of milliseconds last until 2089
_NODE = secrets.randbelow(1024)
_ids_lock = threading.Lock()
_last = [0, 0]  # last millisecond used, sequence within it


def new_msg_id() -> str:
    """A fresh ``common.msgId``: milliseconds, a per-process node, a sequence (63 bits)."""
    with _ids_lock:
        now = max(int(time.time() * 1000) - _EPOCH_MS, _last[0])
        if now == _last[0]:
            _last[1] += 1
            if _last[1] >= 4096:  # a full millisecond: borrow the next one
                now, _last[1] = now + 1, 0
        else:
            _last[1] = 0
        _last[0] = now
        return str((now << 22) | (_NODE << 12) | _last[1])


def now_ms() -> int:
    return int(time.time() * 1000)


# -- users and the common part ----------------------------------------------------------

def user(user_id: str, unique_id: str, nickname: str, *, sec_uid: str = "",
         picture: str = "") -> dict[str, Any]:
    """A message's ``user``: the members clients show (id, handle, name, picture)."""
    return {
        "userId": user_id, "uniqueId": unique_id, "nickname": nickname,
        "secUid": sec_uid or f"MS4wLjABAAAA-sandbox-{user_id}",
        "profilePicture": {"url": [picture or f"https://example.invalid/avatars/{user_id}.webp"]},
    }


def viewer_user(viewer: Viewer) -> dict[str, Any]:
    return user(viewer.user_id, viewer.unique_id, viewer.nickname)


def anchor_user(account: FakeAccount) -> dict[str, Any]:
    return user(account.uid, account.unique_id, account.nickname, sec_uid=account.sec_uid,
                picture=account.avatar_url)


def common(method: str, room_id: str, msg_id: str = "", *, display_type: str = "",
           describe: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"method": method, "msgId": msg_id or new_msg_id(),
                            "roomId": room_id, "createTime": str(now_ms())}
    if describe:
        data["describe"] = describe
    if display_type:
        data["displayText"] = {"displayType": display_type, "defaultPattern": describe}
    return data


def _message(kind: str, room_id: str, msg_id: str = "", *, display_type: str = "",
             describe: str = "", **data: Any) -> Message:
    return {"type": kind, "data": {"common": common(kind, room_id, msg_id,
                                                    display_type=display_type,
                                                    describe=describe), **data}}


# -- TikTok's messages ------------------------------------------------------------------

def chat(room_id: str, sender: dict[str, Any], comment: str, *, msg_id: str = "",
         anchor: bool = False) -> Message:
    """``WebcastChatMessage``: a comment (``anchor``: the streamer's own)."""
    return _message("WebcastChatMessage", room_id, msg_id, user=sender, comment=comment,
                    userIdentity={"isAnchor": anchor})


def gift(room_id: str, sender: dict[str, Any], item: Gift, *, repeat_count: int,
         repeat_end: bool, group_id: str) -> Message:
    """``WebcastGiftMessage``: one step of a streak (every step shares ``groupId``; the
    last one says ``repeatEnd`` 1, with the streak's final ``repeatCount``)."""
    return _message(
        "WebcastGiftMessage", room_id, user=sender, giftId=item.gift_id,
        repeatCount=repeat_count, repeatEnd=1 if repeat_end else 0, groupId=group_id,
        comboCount=repeat_count, groupCount=1,
        describe=f"{sender['nickname']}: sent {item.name}",
        giftDetails={"id": str(item.gift_id), "giftName": item.name,
                     "diamondCount": item.diamonds, "combo": item.combo,
                     "giftType": 1 if item.combo else 2, "describe": f"sent {item.name}",
                     "giftImage": {"url": [f"https://example.invalid/gifts/{item.gift_id}.webp"]}})


def like(room_id: str, sender: dict[str, Any], count: int, total: int = 0) -> Message:
    """``WebcastLikeMessage``: ``count`` taps by one viewer, the room's total after them."""
    return _message("WebcastLikeMessage", room_id, user=sender, likeCount=count,
                    totalLikeCount=total or count)


def join(room_id: str, sender: dict[str, Any], member_count: int = 0) -> Message:
    """``WebcastMemberMessage`` with ``action`` 1: a viewer entered the room."""
    return _message("WebcastMemberMessage", room_id, display_type=JOIN_DISPLAY,
                    describe=f"{sender['nickname']} joined", user=sender, action=JOIN_ACTION,
                    memberCount=member_count)


def follow(room_id: str, sender: dict[str, Any], follow_count: int = 0) -> Message:
    """``WebcastSocialMessage`` of a follow (``action`` "1"; ``followCount``: the
    streamer's followers after it)."""
    return _message("WebcastSocialMessage", room_id, display_type=FOLLOW_DISPLAY,
                    describe=f"{sender['nickname']} followed the host", user=sender,
                    action=FOLLOW_ACTION, followCount=follow_count, shareCount=0)


def share(room_id: str, sender: dict[str, Any], share_count: int = 0) -> Message:
    """``WebcastSocialMessage`` of a share (``action`` "3")."""
    return _message("WebcastSocialMessage", room_id, display_type=SHARE_DISPLAY,
                    describe=f"{sender['nickname']} shared the LIVE", user=sender,
                    action=SHARE_ACTION, shareType="0", shareCount=share_count, followCount=0)


def viewer_count(room_id: str, viewers: int, total: int = 0) -> Message:
    """``WebcastRoomUserSeqMessage``: how many watch now (``totalUser``: ever entered)."""
    return _message("WebcastRoomUserSeqMessage", room_id, viewerCount=viewers,
                    totalUser=total or viewers, popStr=str(viewers))


def stream_ended(room_id: str) -> Message:
    """``WebcastControlMessage`` with ``action`` 3: the streamer ended the LIVE."""
    return _message("WebcastControlMessage", room_id, action=STREAM_ENDED,
                    tips="The LIVE has ended")


def deleted(room_id: str, msg_ids: list[str], user_ids: list[str]) -> Message:
    """``WebcastImDeleteMessage``: chat messages (and every message of users) removed."""
    return _message("WebcastImDeleteMessage", room_id, deleteMsgIdsList=msg_ids,
                    deleteUserIdsList=user_ids)


def notice(room_id: str, content: str) -> Message:
    """``WebcastRoomMessage``: a system line in the room's chat (moderation, comments)."""
    return _message("WebcastRoomMessage", room_id, describe=content, content=content,
                    isWelcome=False)


# -- the service's own frames -----------------------------------------------------------

def worker_info(websocket_id: str, schema_version: str,
                features: dict[str, Any]) -> Message:
    return {"type": "workerInfo", "data": {"webSocketId": websocket_id,
                                           "schemaVersion": schema_version,
                                           "features": features}}


def tiktok_connect(agent_id: str) -> Message:
    return {"type": "tiktok.connect", "data": {"agentId": agent_id}}


def room_info(account: FakeAccount, room_id: str, *, viewers: int, started: int,
              likes: int) -> Message:
    """``roomInfo``: TikTok's room information (its own snake_case JSON, as Euler relays it)."""
    return {"type": "roomInfo", "data": {
        "id": int(room_id), "id_str": room_id, "status": 2,
        "title": f"{account.nickname} is LIVE",
        "owner": account_user(account), "owner_user_id": int(account.uid),
        "owner_user_id_str": account.uid, "user_count": viewers, "create_time": started,
        "stats": {"total_user": viewers, "like_count": likes,
                  "follow_count": number(account.uid + ":followers", 0, 50_000)},
        "cover": {"url_list": [f"https://example.invalid/covers/{room_id}.webp"]},
        "is_replay": False, "live_room_mode": 0,
    }}
