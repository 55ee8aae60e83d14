"""The sandbox's WebSocket speaks Euler's LIVE protocol for the fake accounts.

Against a real ASGI server on loopback (uvicorn in a thread, :mod:`tests.support.asgi_server`)
with Python's ``websockets`` client: the frames a client sees, in order, with Euler's field
names; what the control actions and the sandbox API send to open sockets; and each
refusal as the close code the client sees, with nothing else changed.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from django_euler_oauth.endpoints import SPEC_SCOPES
from django_euler_oauth.sandbox import controls, jwts, live, rooms
from django_euler_oauth.sandbox.checks import check_live_settings
from django_euler_oauth.sandbox.consumers import SOCKETS
from django_euler_oauth.sandbox.issuing import issue_tokens
from django_euler_oauth.sandbox.models import (
    FakeAccount,
    Grant,
    Room,
    RoomEvent,
    RoomMember,
    SandboxClient,
)
from django_euler_oauth.sandbox.setup import (
    ensure_accounts,
    ensure_demo_client,
    websocket_url_for,
)

from .support.asgi_server import AsgiServer, serving
from .support.sandbox_fixtures import SANDBOX_DATABASES

pytestmark = pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)

STREAMER = "sandbox_streamer"
ROOM = "7300000000000000001"
VIEWER_ACCOUNT = "sandbox_viewer"  # no LIVE permission: never LIVE
WAIT = 5.0
OWN_FRAMES = ["workerInfo", "roomInfo", "tiktok.connect"]


# -- helpers ------------------------------------------------------------------------------

class Site:
    """The sandbox on the test server, its demo client, and sockets opened to it."""

    def __init__(self, server: AsgiServer, **options: Any) -> None:
        self.server = server
        self.sandbox, self.oauth = ensure_demo_client(
            server.url + "/sandbox", redirect_uris=["http://testserver/oauth/callback/"],
            **options)
        self.api_key = self.sandbox.api_key
        self.sockets = contextlib.ExitStack()
        # The room rows exist from the start (a first socket creates them otherwise), so a
        # refused socket that changes nothing leaves state() exactly as it was.
        for account in FakeAccount.objects.all():
            rooms.room_of(account)

    def url(self, path: str = "", **params: Any) -> str:
        base = self.oauth.websocket_url + path
        return f"{base}?{urlencode(params)}" if params else base

    def open(self, unique_id: str | None = STREAMER, *, auth: str = "api",
             path: str = "", **params: Any) -> ClientConnection:
        query: dict[str, Any] = {}
        if unique_id is not None:
            query["uniqueId"] = unique_id
        if auth == "api":
            query["apiKey"] = self.api_key
        elif auth:
            query["jwtKey"] = auth
        query.update(params)
        return self.sockets.enter_context(
            connect(self.url(path, **query), open_timeout=WAIT, close_timeout=2))

    def close_all(self) -> None:
        self.sockets.close()

    def call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        return self.server.call(function, *args, **kwargs)

    def jwt(self, expire_after: int = 60, creators: list[str] | None = None,
            max_sockets: int = 1, **extra: Any) -> dict[str, Any]:
        body = {"expire_after": expire_after,
                "websockets": {"allowed_creators": creators if creators is not None
                               else [STREAMER], "max_web_sockets": max_sockets}, **extra}
        answer = requests.post(
            f"{self.server.url}/sandbox/accounts/{self.oauth.account_id}/jwt/create",
            json=body, headers={"X-Api-Key": self.api_key}, timeout=WAIT)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def api(self, method: str, path: str, token: str, **query: Any) -> dict[str, Any]:
        answer = requests.request(method, f"{self.server.url}/sandbox/{path}", params=query,
                                  json=query if method == "POST" else None, timeout=WAIT,
                                  headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture
def server() -> Iterator[AsgiServer]:
    """The test project on uvicorn (:mod:`tests.asgi`), for one test."""
    with serving() as running:
        yield running


@pytest.fixture
def site(server: AsgiServer) -> Iterator[Site]:
    site = Site(server)
    yield site
    site.close_all()


def streamer_token(site: Site) -> str:
    grant = Grant.objects.create(
        client=site.sandbox, account=FakeAccount.objects.get(unique_id=STREAMER),
        scope=" ".join(SPEC_SCOPES),
        refresh_expires_at=timezone.now() + datetime.timedelta(days=1))
    return issue_tokens(grant)[0]


def next_frame(socket: ClientConnection, timeout: float = WAIT) -> Any:
    return json.loads(socket.recv(timeout=timeout))


def own_frames(socket: ClientConnection) -> list[dict[str, Any]]:
    """The service's first three frames (bundled): their messages."""
    frames = [next_frame(socket) for _ in OWN_FRAMES]
    assert [f["messages"][0]["type"] for f in frames] == OWN_FRAMES
    assert all(len(f["messages"]) == 1 and isinstance(f["timestamp"], int) for f in frames)
    return [f["messages"][0] for f in frames]


def messages(socket: ClientConnection, count: int, timeout: float = WAIT) -> list[dict[str, Any]]:
    """The next ``count`` messages, whatever the frames that carry them."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(found) < count:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(found)} of {count} messages: {found}"
        found += next_frame(socket, left)["messages"]
    assert len(found) == count, found
    return found


def closed_with(socket: ClientConnection, timeout: float = WAIT) -> tuple[int, list[Any]]:
    """The close code the client sees, and the frames that came before it."""
    frames: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, f"still open after {timeout} s; frames: {frames}"
        try:
            frames.append(json.loads(socket.recv(timeout=left)))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "closed without a close frame"
            return closed.rcvd.code, frames
        except TimeoutError:
            continue


def refused(site: Site, *args: Any, **kwargs: Any) -> int:
    """The code a socket is closed with before anything is sent on it."""
    code, frames = closed_with(site.open(*args, **kwargs))
    assert frames == [], frames
    return code


def wait_for(predicate: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def state() -> tuple[Any, ...]:
    """What a refused socket must not change."""
    return (list(Room.objects.values_list("room_id", "is_live", "live_since",
                                          "comments_enabled")),
            list(RoomEvent.objects.values_list("pk", flat=True)),
            list(RoomMember.objects.values_list("pk", flat=True)),
            list(SandboxClient.objects.values_list("client_id", "api_key", "max_web_sockets")),
            SOCKETS.snapshot())


# -- connecting -----------------------------------------------------------------------------

def test_demo_client_points_the_site_at_the_sandbox_websocket(site):
    assert site.oauth.websocket_url == f"{site.server.ws_url}/sandbox/ws"
    assert site.oauth.account_id == site.sandbox.euler_account_id
    assert site.oauth.account_id.isdigit()
    assert site.oauth.api_key == site.api_key and site.api_key.startswith("esb_key_")


def test_api_key_socket_gets_the_service_frames_then_the_room(site):
    socket = site.open()
    worker, room_info, connected = own_frames(socket)
    assert worker["data"]["schemaVersion"] == "v2" and worker["data"]["webSocketId"]
    assert worker["data"]["features"] == {
        "bundleEvents": True, "rawMessages": False, "normalizeUniqueId": True,
        "syntheticPresence": False, "includeRawBytes": False, "useEnterpriseApi": False,
        "syntheticPresenceLeaveAfter": 300, "closeInactiveWebSocketAfter": 60,
        "schemaVersion": "v2"}
    assert room_info["data"]["id_str"] == ROOM and room_info["data"]["status"] == 2
    assert room_info["data"]["owner"]["display_id"] == STREAMER
    assert connected["data"]["agentId"]

    assert site.call(controls.viewer_event, STREAMER, "chat", 2) == 2
    chats = messages(socket, 2)
    assert [m["type"] for m in chats] == ["WebcastChatMessage"] * 2
    for chat in chats:
        data = chat["data"]
        assert data["common"]["roomId"] == ROOM and data["common"]["msgId"].isdigit()
        assert data["common"]["createTime"].isdigit() and data["comment"]
        user = data["user"]
        assert user["userId"].isdigit() and user["uniqueId"] and user["nickname"]
        assert user["profilePicture"]["url"][0].startswith("https://")
    # Viewer chats are room events, like the API's, with their ids as msgIds.
    stored = RoomEvent.objects.filter(kind="chat").order_by("id")
    assert [str(e.pk) for e in stored] == [c["data"]["common"]["msgId"] for c in chats]

    # The streamer's chat sent through the sandbox API shows up as its own comment.
    token = streamer_token(site)
    sent = site.api("POST", f"webcast/rooms/{ROOM}/chat", token, content="hello, sockets")
    (comment,) = messages(socket, 1)
    assert comment["type"] == "WebcastChatMessage"
    assert comment["data"]["comment"] == "hello, sockets"
    assert comment["data"]["user"]["uniqueId"] == STREAMER
    assert comment["data"]["user"]["userId"] == "7000000000000000001"
    assert comment["data"]["userIdentity"] == {"isAnchor": True}
    assert comment["data"]["common"]["msgId"] == str(sent["data"]["data"]["msg_id"])


def test_every_kind_of_viewer_event_in_euler_shapes(site):
    socket = site.open()
    own_frames(socket)
    site.call(controls.viewer_event, STREAMER, "like", 7)
    site.call(controls.viewer_event, STREAMER, "like", 3)
    first, second = messages(socket, 2)
    assert first["type"] == second["type"] == "WebcastLikeMessage"
    assert (first["data"]["likeCount"], second["data"]["likeCount"]) == (7, 3)
    assert second["data"]["totalLikeCount"] == first["data"]["totalLikeCount"] + 3

    site.call(controls.viewer_event, STREAMER, "join", 2)
    joined = messages(socket, 3)
    assert [m["type"] for m in joined] == ["WebcastMemberMessage"] * 2 + [
        "WebcastRoomUserSeqMessage"]
    assert [m["data"]["action"] for m in joined[:2]] == [1, 1]
    count = joined[0]["data"]["memberCount"]
    assert joined[1]["data"]["memberCount"] == count + 1
    assert joined[2]["data"]["viewerCount"] == count + 1

    site.call(controls.viewer_event, STREAMER, "follow", 1)
    site.call(controls.viewer_event, STREAMER, "share", 1)
    follow, share = messages(socket, 2)
    assert follow["type"] == share["type"] == "WebcastSocialMessage"
    assert (follow["data"]["action"], share["data"]["action"]) == ("1", "3")
    assert follow["data"]["followCount"] > 0 and share["data"]["shareCount"] == 1
    assert "follow" in follow["data"]["common"]["displayText"]["displayType"]
    assert "share" in share["data"]["common"]["displayText"]["displayType"]

    ids = [m["data"]["common"]["msgId"] for m in [first, second, *joined, follow, share]]
    assert len(set(ids)) == len(ids)


def test_gift_streaks_count_up_and_end_once(site):
    socket = site.open()
    own_frames(socket)
    assert site.call(controls.viewer_event, STREAMER, "gift", 2, repeat_count=4) == 10
    gifts = messages(socket, 10)
    streaks: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    for gift in gifts:
        data = gift["data"]
        assert gift["type"] == "WebcastGiftMessage"
        assert data["giftId"] == 5655 and data["giftDetails"]["giftName"] == "Rose"
        assert data["giftDetails"]["diamondCount"] == 1
        assert data["comboCount"] == data["repeatCount"]
        streaks[data["groupId"]].append((data["repeatCount"], data["repeatEnd"]))
    assert len(streaks) == 2
    for steps in streaks.values():
        assert steps == [(1, 0), (2, 0), (3, 0), (4, 0), (4, 1)]
    # A streak still going: no closing message.
    site.call(controls.viewer_event, STREAMER, "gift", 1, repeat_count=2, repeat_end=False)
    assert [(m["data"]["repeatCount"], m["data"]["repeatEnd"])
            for m in messages(socket, 2)] == [(1, 0), (2, 0)]


def test_without_bundle_events_each_message_is_its_own_frame(site):
    socket = site.open(**{"features.bundleEvents": "false", "features.schemaVersion": "v2"})
    frames = [next_frame(socket) for _ in OWN_FRAMES]
    assert [f["type"] for f in frames] == OWN_FRAMES
    assert frames[0]["data"]["features"]["bundleEvents"] is False
    site.call(controls.viewer_event, STREAMER, "chat", 3)
    singles = [next_frame(socket) for _ in range(3)]
    assert [f["type"] for f in singles] == ["WebcastChatMessage"] * 3
    assert all("messages" not in f for f in singles)


def test_unique_id_as_handle_or_profile_url_and_the_path_with_a_slash(site):
    for unique_id in ("@sandbox_streamer", "https://www.tiktok.com/@sandbox_streamer/live",
                      "SANDBOX_STREAMER"):
        socket = site.open(unique_id)
        assert own_frames(socket)[1]["data"]["id_str"] == ROOM
        socket.close()
    socket = site.open(path="/")
    own_frames(socket)


def test_moderation_through_the_api_shows_in_the_stream(site):
    socket = site.open()
    own_frames(socket)
    token = streamer_token(site)
    site.call(controls.viewer_event, STREAMER, "chat", 1)
    (chat,) = messages(socket, 1)
    viewer = chat["data"]["user"]["userId"]

    site.api("PUT", f"webcast/rooms/{ROOM}/moderation/mutes", token, user_id=viewer,
             duration=60)
    (muted,) = messages(socket, 1)
    assert muted["type"] == "WebcastRoomMessage"
    assert muted["data"]["content"] == f"{chat['data']['user']['nickname']} was muted for 60 s"

    site.api("PUT", f"webcast/rooms/{ROOM}/moderation/bans", token, tiktok_user_id=viewer)
    deleted, notice = messages(socket, 2)
    assert deleted["type"] == "WebcastImDeleteMessage"
    assert deleted["data"]["deleteUserIdsList"] == [viewer]
    assert deleted["data"]["deleteMsgIdsList"] == [chat["data"]["common"]["msgId"]]
    assert notice["type"] == "WebcastRoomMessage" and "removed" in notice["data"]["content"]

    site.api("POST", f"webcast/rooms/{ROOM}/moderation/toggle_comments", token,
             enabled="false")
    (off,) = messages(socket, 1)
    assert off["data"]["content"] == "Comments are turned off"


# -- JWTs -----------------------------------------------------------------------------------

def test_jwt_from_jwt_create_opens_a_socket_for_its_creator(site):
    answer = site.jwt(expire_after=60, creators=["@sandbox_streamer"], name="browser")
    assert answer["code"] == 200
    config = answer["config"]
    assert config["accountId"] == int(site.oauth.account_id) and config["ttl"] == 60
    assert config["name"] == "browser" and config["apiKeyId"] == site.sandbox.pk
    assert config["webSocketData"] == {"allowedCreators": [STREAMER], "maxWebSockets": 1}
    header, claims, _signature = answer["token"].split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256",
                                                                   "typ": "JWT"}
    assert json.loads(base64.urlsafe_b64decode(claims + "=="))["exp"] == config["expiresAt"]
    assert site.api_key not in answer["token"]

    socket = site.open(auth=answer["token"])
    own_frames(socket)
    site.call(controls.viewer_event, STREAMER, "like", 1)
    assert messages(socket, 1)[0]["type"] == "WebcastLikeMessage"


def test_jwt_create_accepts_the_sdks_camel_case_body(site):
    answer = requests.post(
        f"{site.server.url}/sandbox/accounts/{site.oauth.account_id}/jwt/create",
        json={"expireAfter": 30, "websockets": {"allowedCreators": None, "maxWebSockets": 2}},
        headers={"X-Api-Key": site.api_key}, timeout=WAIT).json()
    assert answer["config"]["webSocketData"] == {"allowedCreators": None, "maxWebSockets": 2}
    own_frames(site.open(auth=answer["token"]))


def test_jwt_create_refuses_bad_keys_accounts_and_bodies(site):
    url = f"{site.server.url}/sandbox/accounts/{site.oauth.account_id}/jwt/create"
    good = {"expire_after": 60, "websockets": {"allowed_creators": [STREAMER],
                                               "max_web_sockets": 1}}

    def post(body: Any = good, key: str | None = site.api_key, where: str = url) -> Any:
        headers = {"X-Api-Key": key} if key is not None else {}
        return requests.post(where, json=body, headers=headers, timeout=WAIT)

    assert post(key=None).status_code == 401
    assert post(key="esb_key_wrong").json() == {"code": 401, "message":
                                                "Missing or invalid API key (X-Api-Key)."}
    other = url.replace(f"/{site.oauth.account_id}/", "/999/")
    assert post(where=other).status_code == 403
    for body in ({}, {"expire_after": 0}, {"expire_after": "soon"},
                 {"expire_after": 10**9}, [1], {"expire_after": 60, "websockets": []},
                 {"expire_after": 60, "websockets": {"allowed_creators": ["not a name!"]}},
                 {"expire_after": 60, "websockets": {"max_web_sockets": 10_000}}):
        answer = post(body)
        assert answer.status_code == 400 and answer.json()["code"] == 400, body
    assert requests.get(url, headers={"X-Api-Key": site.api_key},
                        timeout=WAIT).status_code == 405
    assert controls.call_count("create_jwt") == 12


def test_expired_forged_or_missing_auth_is_4401(site, settings):
    before = state()
    expiring = site.jwt(expire_after=1)["token"]
    time.sleep(1.1)
    assert refused(site, auth=expiring) == live.INVALID_AUTH

    token = site.jwt()["token"]
    header, claims, signature = token.split(".")
    widened = json.loads(base64.urlsafe_b64decode(claims + "=="))
    widened["websockets"]["allowed_creators"] = None
    forged_claims = base64.urlsafe_b64encode(json.dumps(widened).encode()).rstrip(b"=")
    assert refused(site, auth=f"{header}.{forged_claims.decode()}.{signature}") == 4401
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    assert refused(site, auth=f"{unsigned}.{claims}.") == 4401
    settings.SECRET_KEY = "another-key-entirely"
    assert refused(site, auth=token) == 4401  # signed with a key the sandbox no longer has
    settings.SECRET_KEY_FALLBACKS = ["tests-only-not-secret"]
    own_frames(site.open(auth=token))  # ... unless it is a fallback
    site.close_all()
    assert refused(site, auth="not.a.token") == 4401
    assert refused(site, auth="") == 4401  # neither key
    assert refused(site, auth="api", apiKey="esb_key_unknown") == 4401
    wait_for(lambda: state() == before)


def test_creator_outside_the_jwt_is_4403(site):
    before = state()
    token = site.jwt(creators=["someone_else"])["token"]
    assert refused(site, auth=token) == live.NO_PERMISSION
    wait_for(lambda: state() == before)


def test_jwt_max_web_sockets(site):
    token = site.jwt(max_sockets=1)["token"]
    first = site.open(auth=token)
    own_frames(first)
    assert refused(site, auth=token) == live.TOO_MANY_CONNECTIONS
    own_frames(site.open(auth=site.jwt()["token"]))  # another JWT of the key is fine


# -- refusals -------------------------------------------------------------------------------

def test_not_live_is_4404(site):
    before = state()
    assert refused(site, VIEWER_ACCOUNT) == live.NOT_LIVE
    wait_for(lambda: state() == before)


def test_invalid_options_are_4400(site):
    before = state()
    assert refused(site, None) == live.INVALID_OPTIONS  # no uniqueId
    assert refused(site, "nobody_here") == live.INVALID_OPTIONS  # unknown account
    assert refused(site, "not a handle!") == live.INVALID_OPTIONS
    assert refused(site, **{"features.bundleEvents": "maybe"}) == live.INVALID_OPTIONS
    assert refused(site, **{"features.schemaVersion": "v9"}) == live.INVALID_OPTIONS
    assert refused(site, **{"features.closeInactiveWebSocketAfter": "5"}) == 4400
    wait_for(lambda: state() == before)


def test_too_many_sockets_for_one_key_is_4429(server):
    site = Site(server, max_web_sockets=2)
    try:
        first, second = site.open(), site.open()
        own_frames(first)
        own_frames(second)
        assert refused(site) == live.TOO_MANY_CONNECTIONS
        first.close()
        wait_for(lambda: SOCKETS.count(f"key:{site.sandbox.pk}") == 1)
        own_frames(site.open())
    finally:
        site.close_all()
    wait_for(lambda: SOCKETS.count(f"key:{site.sandbox.pk}") == 0)


def test_max_lifetime_is_4555(site, settings):
    settings.EULER_SANDBOX_WS_MAX_LIFETIME = 1
    socket = site.open()
    opened = time.monotonic()
    own_frames(socket)
    code, frames = closed_with(socket)
    assert code == live.MAX_LIFETIME_EXCEEDED and frames == []
    assert 0.8 < time.monotonic() - opened < 4


# -- the LIVE ends, sockets drop ------------------------------------------------------------

def test_end_live_sends_the_control_message_then_4005(site):
    socket = site.open()
    own_frames(socket)
    token = streamer_token(site)
    assert site.call(controls.end_live, STREAMER) is True
    code, frames = closed_with(socket)
    assert code == live.STREAM_END
    assert [m["type"] for f in frames for m in f["messages"]] == ["WebcastControlMessage"]
    assert frames[0]["messages"][0]["data"]["action"] == 3
    assert refused(site) == live.NOT_LIVE
    # The rest of the sandbox agrees: not LIVE.
    status = site.api("GET", "webcast/bulk_live_check", token,
                      user_numeric_ids="7000000000000000001")
    assert status["response"]["data"]["7000000000000000001"]["is_live"] is False
    with pytest.raises(ValueError, match="not LIVE"):
        site.call(controls.viewer_event, STREAMER, "chat")

    assert site.call(controls.go_live, STREAMER) is True
    own_frames(site.open())
    with pytest.raises(ValueError, match="no LIVE permission"):
        site.call(controls.go_live, VIEWER_ACCOUNT)


def test_drop_sockets_closes_every_socket_of_the_account_with_the_code(site):
    FakeAccount.objects.create(uid="7000000000000000009", sec_uid="MS4w-other",
                               unique_id="other_streamer", nickname="Other")
    mine = [site.open(), site.open()]
    other = site.open("other_streamer")
    for socket in [*mine, other]:
        own_frames(socket)
    assert site.call(controls.drop_sockets, STREAMER, 4500) == 4500
    for socket in mine:
        assert closed_with(socket) == (live.TIKTOK_CLOSED, [])
    site.call(controls.viewer_event, "other_streamer", "like", 1)
    assert messages(other, 1)[0]["type"] == "WebcastLikeMessage"  # still open
    with pytest.raises(ValueError, match="code"):
        site.call(controls.drop_sockets, STREAMER, 2000)


# -- simulated viewers ----------------------------------------------------------------------

def collect(socket: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            found += next_frame(socket, left)["messages"]
        except TimeoutError:
            break
    return found


def test_simulated_viewers_at_about_the_configured_rate(site, settings):
    settings.EULER_SANDBOX_VIEWER_RATE = 10
    socket = site.open()
    own_frames(socket)
    seen = collect(socket, 3.0)
    assert 15 <= len(seen) <= 45, len(seen)  # about 30
    kinds = collections.Counter(m["type"] for m in seen)
    assert kinds["WebcastChatMessage"] and kinds["WebcastLikeMessage"], kinds
    ids = [m["data"]["common"]["msgId"] for m in seen]
    assert len(set(ids)) == len(ids)
    for message in seen:
        assert message["data"]["common"]["roomId"] == ROOM
    # Streaks seen: each counts up by one; a closing message repeats the last count.
    streaks: dict[str, list[tuple[int, int]]] = collections.defaultdict(list)
    for message in seen:
        if message["type"] == "WebcastGiftMessage":
            data = message["data"]
            streaks[data["groupId"]].append((data["repeatCount"], data["repeatEnd"]))
    for steps in streaks.values():
        counts = [count for count, end in steps if not end]
        assert counts == list(range(1, len(counts) + 1)), steps
        ends = [i for i, (_count, end) in enumerate(steps) if end]
        assert ends in ([], [len(steps) - 1]), steps
        if ends:
            assert steps[-1][0] == steps[-2][0], steps


def test_simulated_viewers_follow_the_rooms_moderation(site, settings):
    settings.EULER_SANDBOX_VIEWER_RATE = 20
    rooms.set_comments(rooms.room_of(FakeAccount.objects.get(unique_id=STREAMER)), False)
    socket = site.open()
    own_frames(socket)
    seen = collect(socket, 1.5)
    assert len(seen) > 10
    assert "WebcastChatMessage" not in {m["type"] for m in seen}
    token = streamer_token(site)
    site.api("POST", f"webcast/rooms/{ROOM}/moderation/toggle_comments", token,
             enabled="true")
    seen = collect(socket, 2.0)
    assert "WebcastChatMessage" in {m["type"] for m in seen}


# -- the control page's JSON API ------------------------------------------------------------

def test_control_api_runs_the_live_actions(site, django_user_model):
    staff = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    browser = Client()
    browser.force_login(staff)
    csrf = "a" * 32
    session = requests.Session()
    session.cookies.set("sessionid", browser.cookies["sessionid"].value)
    session.cookies.set("csrftoken", csrf)
    url = f"{site.server.url}/sandbox/control/api"

    def act(**params: Any) -> requests.Response:
        return session.post(url, json=params, headers={"X-CSRFToken": csrf}, timeout=WAIT)

    socket = site.open()
    own_frames(socket)
    answer = act(action="viewer_event", unique_id=STREAMER, kind="gift", count=1,
                 repeat_count=2, repeat_end=True)
    assert answer.status_code == 200 and answer.json()["result"] == 3
    assert [m["data"]["repeatEnd"] for m in messages(socket, 3)] == [0, 0, 1]
    live_states = {a["uniqueId"]: a["is_live"] for a in answer.json()["state"]["accounts"]}
    assert live_states == {STREAMER: True, VIEWER_ACCOUNT: False, "sandbox_wanderer": False}
    for bad in ({"action": "viewer_event", "unique_id": STREAMER, "kind": "dance"},
                {"action": "viewer_event", "unique_id": STREAMER, "kind": "chat",
                 "count": 0},
                {"action": "viewer_event", "unique_id": VIEWER_ACCOUNT, "kind": "chat"},
                {"action": "go_live", "unique_id": "nobody_here"},
                {"action": "drop_sockets", "unique_id": STREAMER, "code": "soon"}):
        assert act(**bad).status_code == 400, bad
    assert act(action="end_live", unique_id=STREAMER).json()["result"] is True
    code, frames = closed_with(socket)
    assert code == 4005 and frames[0]["messages"][0]["type"] == "WebcastControlMessage"
    assert act(action="go_live", unique_id=STREAMER).status_code == 200
    socket = site.open()
    own_frames(socket)
    assert act(action="drop_sockets", unique_id=STREAMER, code=4556).status_code == 200
    assert closed_with(socket) == (4556, [])


def test_jwt_helpers_refuse_what_they_did_not_sign():
    token = jwts.sign({"exp": time.time() + 60, "sub": "1"})
    assert jwts.verify(token)["sub"] == "1"
    with pytest.raises(jwts.InvalidToken, match="expired"):
        jwts.verify(token, now=time.time() + 120)
    for bad in ("", "a.b", "a.b.c.d", token + "x", "é.b.c", "x" * 5000):
        with pytest.raises(jwts.InvalidToken):
            jwts.verify(bad)


def test_websocket_url_follows_the_sandbox_base_url():
    assert websocket_url_for("https://example.com/sandbox/") == "wss://example.com/sandbox/ws"
    assert (websocket_url_for("http://127.0.0.1:8000/dev/sandbox")
            == "ws://127.0.0.1:8000/dev/sandbox/ws")


def test_settings_the_sandbox_cannot_use_are_named_by_a_check(settings):
    assert check_live_settings() == []
    settings.EULER_SANDBOX_VIEWER_RATE = "fast"
    settings.EULER_SANDBOX_WS_MAX_LIFETIME = 10**9
    assert [m.id for m in check_live_settings()] == ["euler_sandbox.W002"] * 2
    assert live.viewer_rate() == live.DEFAULT_VIEWER_RATE
    assert live.max_lifetime() == live.MAX_LIFETIME


def test_control_page_confirms_the_live_actions_in_sentences(client, django_user_model):
    ensure_accounts()
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com",
                                                                  "pw"))

    def notices(**data: Any) -> list[str]:
        page = client.post("/sandbox/control/", data, follow=True).content.decode()
        return re.findall(r'<p class="notice [a-z ]+" role="status">(.*?)</p>', page)

    assert notices(action="viewer_event", unique_id=STREAMER, kind="gift", count="1",
                   repeat_count="3", repeat_end="1") == [
        "4 messages (gift) sent to the open WebSockets of @sandbox_streamer."]
    assert notices(action="end_live", unique_id=STREAMER) == [
        "@sandbox_streamer ended its LIVE: open WebSockets got the end of the stream and "
        "were closed with 4005; new ones are refused with 4404."]
    assert notices(action="viewer_event", unique_id=STREAMER, kind="chat") == [
        "@sandbox_streamer is not LIVE: go LIVE first."]
    assert notices(action="go_live", unique_id=STREAMER) == [
        "@sandbox_streamer is LIVE: WebSocket clients can connect to its room."]
    assert notices(action="drop_sockets", unique_id=STREAMER, code="4500") == [
        "Every open WebSocket of @sandbox_streamer was closed with code 4500."]
