"""A hand-encoded protobuf answer for the two ``connect`` endpoints.

The live service answers them with TikTok's binary ``ProtoMessageFetchResult``
(``application/x-protobuf``). The sandbox encodes a small valid message of the
same layout by hand (varint and length-delimited fields only) so clients can
test their binary handling without a protobuf dependency:

    ProtoMessageFetchResult { repeated BaseProtoMessage messages = 1; string cursor = 2;
        int64 fetch_interval = 3; int64 now = 4; string internal_ext = 5;
        map<string, string> route_params_map = 7; int64 heartbeat_duration = 8;
        bool need_ack = 9; string push_server = 10; }
    BaseProtoMessage { string method = 1; bytes payload = 2; int64 msg_id = 3; }
    WebcastChatMessage { User user = 2; string content = 3; }   User { int64 id = 1;
        string nickname = 3; }
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import RoomEvent

VARINT, LENGTH_DELIMITED = 0, 2
CONTENT_TYPE = "application/x-protobuf"


def varint(value: int) -> bytes:
    if value < 0:  # int64 negatives take ten bytes, two's complement
        value += 1 << 64
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _key(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def int_field(number: int, value: int) -> bytes:
    return _key(number, VARINT) + varint(value)


def bytes_field(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _key(number, LENGTH_DELIMITED) + varint(len(data)) + data


def _chat(event: RoomEvent) -> bytes:
    user_id = int(event.user_id) if event.user_id.isdigit() else 0
    user = int_field(1, user_id) + bytes_field(3, event.nickname)
    return bytes_field(2, user) + bytes_field(3, event.content)


def fetch_result(room_id: str, events: Iterable[RoomEvent], push_server: str) -> bytes:
    """The first fetch of a room: its recent chat messages, oldest first."""
    chats = [event for event in events if event.kind == "chat"]
    chats.sort(key=lambda event: event.pk)
    now = int(chats[-1].created_at.timestamp() * 1000) if chats else 0
    cursor = f"{chats[-1].pk}" if chats else "0"
    out = bytearray()
    for event in chats:
        message = (bytes_field(1, "WebcastChatMessage") + bytes_field(2, _chat(event))
                   + int_field(3, event.pk))
        out += bytes_field(1, message)
    out += bytes_field(2, cursor) + int_field(3, 1000) + int_field(4, now)
    out += bytes_field(5, f"internal_src:sandbox|room_id:{room_id}")
    out += bytes_field(7, bytes_field(1, "room_id") + bytes_field(2, room_id))
    out += int_field(8, 10_000) + int_field(9, 1) + bytes_field(10, push_server)
    return bytes(out)
