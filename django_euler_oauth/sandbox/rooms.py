"""The fake LIVE rooms' state: what chat, moderation and comment toggles change.

Every fake account has one room. Its lists are bounded (a hostile or runaway
client cannot grow the sandbox database without limit): too many entries is a
:class:`RoomError`, which the API answers as a 400 and which changes nothing.
"""

from __future__ import annotations

from django.db import IntegrityError, router, transaction
from django.utils import timezone

from .models import FakeAccount, Room, RoomEvent, RoomMember, SensitiveWord

MAX_EVENTS = 200  # per room: older events are dropped
MAX_MEMBERS = 500  # per room and role (muted, banned, moderator)
MAX_MODERATORS = 50
MAX_WORDS = 200
PAGE_SIZE = 20

Role = RoomMember.Role


class RoomError(ValueError):
    """A request the room refuses (limits, unknown entries); nothing was changed."""


def room_id_of(account: FakeAccount) -> str:
    """The account's room id (one derived from its uid when the account has none)."""
    return account.room_id or f"73{account.uid[-17:]:0>17}"


def room_of(account: FakeAccount) -> Room:
    room = Room.objects.filter(account=account).first()
    if room is not None:
        return room
    try:
        with transaction.atomic(using=router.db_for_write(Room)):
            return Room.objects.create(account=account, room_id=room_id_of(account))
    except IntegrityError:  # created concurrently
        return Room.objects.get(account=account)


def is_live(account: FakeAccount) -> bool:
    """Whether the account is LIVE now: as ``go_live``/``end_live`` last set it, else
    (never set) when the account has LIVE permission."""
    state = Room.objects.filter(account=account).values_list("is_live", flat=True).first()
    return account.has_live_permission if state is None else state


def set_live(account: FakeAccount, live: bool) -> bool:
    """Start (``live``) or end the account's LIVE; whether that changed anything."""
    was = is_live(account)
    room = room_of(account)
    since = None
    if live:
        since = room.live_since if was and room.live_since else timezone.now()
    Room.objects.filter(pk=room.pk).update(is_live=live, live_since=since)
    return was != live


def find_room(room_id: str) -> Room | None:
    """The room ``room_id`` of some fake account, or None."""
    room = Room.objects.select_related("account").filter(room_id=room_id).first()
    if room is not None:
        return room
    for account in FakeAccount.objects.all()[:1000]:
        if room_id_of(account) == room_id:
            return room_of(account)
    return None


# -- events -------------------------------------------------------------------------

def add_event(room: Room, kind: str, user_id: str, nickname: str = "",
              content: str = "") -> RoomEvent:
    event = RoomEvent.objects.create(room=room, kind=kind, user_id=user_id[:40],
                                     nickname=nickname[:100], content=content[:300])
    stale = list(RoomEvent.objects.filter(room=room).order_by("-id")
                 .values_list("pk", flat=True)[MAX_EVENTS:MAX_EVENTS + 100])
    if stale:
        RoomEvent.objects.filter(pk__in=stale).delete()
    return event


def events(room: Room, page: int = 0, kinds: tuple[str, ...] = ()) -> tuple[list[RoomEvent], bool]:
    """One page (0 first) of the room's events, newest first, and whether more follow."""
    queryset = RoomEvent.objects.filter(room=room).order_by("-id")
    if kinds:
        queryset = queryset.filter(kind__in=kinds)
    start = page * PAGE_SIZE
    rows = list(queryset[start:start + PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


# -- members: mutes, bans, moderators -------------------------------------------------

def _live(room: Room, role: str) -> list[RoomMember]:
    rows = list(RoomMember.objects.filter(room=room, role=role).order_by("id"))
    if role != Role.MUTED:
        return rows
    now = timezone.now()
    return [row for row in rows if row.duration <= 0
            or (now - row.created_at).total_seconds() < row.duration]


def add_member(room: Room, role: str, user_id: str, duration: int = 0) -> RoomMember:
    """Give ``user_id`` ``role`` in the room (again: the mute restarts with ``duration``)."""
    if user_id == room.account.uid:
        raise RoomError("The room's own anchor cannot be muted, banned or made moderator.")
    limit = MAX_MODERATORS if role == Role.MODERATOR else MAX_MEMBERS
    existing = RoomMember.objects.filter(room=room, role=role, user_id=user_id).first()
    if existing is None and RoomMember.objects.filter(room=room, role=role).count() >= limit:
        raise RoomError(f"The room already has {limit} {role} users.")
    try:
        with transaction.atomic(using=router.db_for_write(RoomMember)):
            member, _created = RoomMember.objects.update_or_create(
                room=room, role=role, user_id=user_id,
                defaults={"duration": duration, "created_at": timezone.now()})
    except IntegrityError:  # the same user added concurrently: that one stands
        member = RoomMember.objects.get(room=room, role=role, user_id=user_id)
    return member


def remove_member(room: Room, role: str, user_id: str) -> int:
    return RoomMember.objects.filter(room=room, role=role, user_id=user_id).delete()[0]


def members(room: Room, role: str, page: int = 0) -> tuple[list[RoomMember], int, bool]:
    """One page (0 first) of the room's ``role`` users, their total, whether more follow."""
    rows = _live(room, role)
    start = page * PAGE_SIZE
    return rows[start:start + PAGE_SIZE], len(rows), len(rows) > start + PAGE_SIZE


def listed(room: Room, role: str) -> list[RoomMember]:
    """All of the room's ``role`` users (bounded by the limits above)."""
    return _live(room, role)


# -- sensitive words and comments ---------------------------------------------------

def add_word(room: Room, word: str) -> SensitiveWord:
    existing = SensitiveWord.objects.filter(room=room, word=word).first()
    if existing is not None:
        return existing
    if SensitiveWord.objects.filter(room=room).count() >= MAX_WORDS:
        raise RoomError(f"The room already filters {MAX_WORDS} words.")
    try:
        with transaction.atomic(using=router.db_for_write(SensitiveWord)):
            return SensitiveWord.objects.create(room=room, word=word)
    except IntegrityError:  # added concurrently
        return SensitiveWord.objects.get(room=room, word=word)


def delete_word(room: Room, word_id: str) -> None:
    # An id longer than any primary key is unknown (and would overflow the database's integer).
    if not (word_id.isdigit() and len(word_id) <= 18
            and SensitiveWord.objects.filter(room=room, pk=int(word_id)).delete()[0]):
        raise RoomError(f"The room has no sensitive word {word_id}.")


def words(room: Room) -> list[SensitiveWord]:
    return list(SensitiveWord.objects.filter(room=room).order_by("id")[:MAX_WORDS])


def set_comments(room: Room, enabled: bool) -> None:
    Room.objects.filter(pk=room.pk).update(comments_enabled=enabled)
    room.comments_enabled = enabled
    add_event(room, "comments_on" if enabled else "comments_off", room.account.uid,
              room.account.nickname)
