"""The sandbox's fake LIVE rooms: state that chat and moderation change, and bad input.

In-process (Django's test client against the real views); the SDK-over-HTTP
checks of the same endpoints are in test_sdk_sandbox.py.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.utils import timezone

from django_euler_oauth.endpoints import SPEC_SCOPES
from django_euler_oauth.sandbox import rooms
from django_euler_oauth.sandbox.issuing import issue_tokens
from django_euler_oauth.sandbox.models import (
    FakeAccount,
    Grant,
    Room,
    RoomEvent,
    RoomMember,
    SensitiveWord,
)
from django_euler_oauth.sandbox.setup import ensure_sandbox_client

from .support.sandbox_fixtures import SANDBOX_DATABASES, TEST_SECRET

pytestmark = pytest.mark.django_db(databases=SANDBOX_DATABASES)

ROOM = "7300000000000000001"
UID = "7000000000000000001"
SEC_UID = "MS4wLjABAAAA-sandbox-streamer"
VIEWER = "7200000000000000042"
RW = "/sandbox/webcast/rooms/" + ROOM


def grant_token(scopes: str = " ".join(SPEC_SCOPES), account: str = "sandbox_streamer") -> str:
    client = ensure_sandbox_client("rooms-app", redirect_uris=["http://app.example/cb"],
                                   client_secret=TEST_SECRET, response_style="envelope")
    grant = Grant.objects.create(
        client=client, account=FakeAccount.objects.get(unique_id=account), scope=scopes,
        refresh_expires_at=timezone.now() + datetime.timedelta(days=1))
    return issue_tokens(grant)[0]


@pytest.fixture
def token() -> str:
    # The room row exists from the start (rooms are created on first use), so a refused
    # request that changes nothing leaves room_state() exactly as it was.
    issued = grant_token()
    rooms.room_of(FakeAccount.objects.get(unique_id="sandbox_streamer"))
    return issued


def call(http: Any, method: str, path: str, token: str, body: Any = None, /,
         **query: Any) -> Any:
    url = path if path.startswith("/") else f"/sandbox/{path}"
    if query:
        from urllib.parse import urlencode
        url += "?" + urlencode(query)
    kwargs: dict[str, Any] = {"headers": {"x-oauth-token": token}}
    if body is not None:
        kwargs.update(data=body if isinstance(body, (str, bytes)) else json.dumps(body),
                      content_type="application/json")
    return getattr(http, method.lower())(url, **kwargs)


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.content[:400]
    body = response.json()
    assert body["code"] == 200 and "error" not in body
    return body


def route_data(response: Any) -> Any:
    return ok(response)["response"]["data"]["data"]


def bad(response: Any, text: str = "") -> str:
    assert response.status_code == 400, response.content[:400]
    body = response.json()
    error = body["error"] if isinstance(body.get("error"), dict) else body
    assert error["error"] == "invalid_request"
    assert text in error["error_description"], error["error_description"]
    return str(error["error_description"])


def room_state() -> tuple[Any, ...]:
    """Everything the room endpoints can change, to prove a refused request changed nothing."""
    return (list(RoomEvent.objects.values_list("kind", "content")),
            list(RoomMember.objects.values_list("role", "user_id", "duration")),
            list(SensitiveWord.objects.values_list("word", flat=True)),
            list(Room.objects.values_list("room_id", "comments_enabled")))


# -- chat and events ----------------------------------------------------------------------

def test_chat_shows_up_in_events_fetch_and_connect(client, token):
    ok(call(client, "POST", f"{RW}/chat", token, {"content": "first"}))
    ok(call(client, "POST", "webcast/chat", token, {"content": "second", "roomId": ROOM}))
    events = ok(call(client, "GET", f"webcast/events/anchors/{UID}", token))
    assert [e["desc"] for e in events["events"]] == ["second", "first"]
    assert events["has_more"] is False and events["page"] == 0
    fetched = ok(call(client, "GET", "webcast/fetch", token, unique_id="sandbox_streamer"))
    assert [e["content"] for e in fetched["data"]["events"][:2]] == ["second", "first"]
    posted = ok(call(client, "POST", "webcast/fetch", token, {"uniqueId": "sandbox_streamer"}))
    assert posted["data"]["events"][:2] == fetched["data"]["events"][:2]
    connect = call(client, "GET", f"{RW}/connect", token)
    assert connect["Content-Type"] == "application/x-protobuf"
    assert b"first" in connect.content and b"second" in connect.content
    # Another creator's room has none of it.
    other = ok(call(client, "GET", "webcast/events/anchors/7000000000000000002", token))
    assert other["events"] == []


def test_events_are_paged_and_each_room_keeps_a_bounded_number(client, token):
    room = rooms.room_of(FakeAccount.objects.get(uid=UID))
    for i in range(rooms.MAX_EVENTS + 5):
        rooms.add_event(room, "chat", UID, "Sandbox Streamer", f"message {i}")
    assert RoomEvent.objects.filter(room=room).count() == rooms.MAX_EVENTS
    first = ok(call(client, "GET", f"webcast/events/anchors/{UID}", token, page=0))
    assert first["events"][0]["desc"] == f"message {rooms.MAX_EVENTS + 4}"
    assert len(first["events"]) == rooms.PAGE_SIZE and first["has_more"] is True
    last = ok(call(client, "GET", f"webcast/events/anchors/{UID}", token,
                   page=rooms.MAX_EVENTS // rooms.PAGE_SIZE - 1))
    assert last["has_more"] is False and last["events"][-1]["desc"] == "message 5"


def test_chat_refuses_bad_input_and_changes_nothing(client, token):
    before = room_state()
    bad(call(client, "POST", f"{RW}/chat", token, {}), "Missing required parameter: content")
    bad(call(client, "POST", f"{RW}/chat", token, {"content": "x" * 151}), "longer than 150")
    bad(call(client, "POST", f"{RW}/chat", token, {"content": "a\x00b"}), "control")
    bad(call(client, "POST", f"{RW}/chat", token, {"content": ["list"]}), "must be a string")
    bad(call(client, "POST", f"{RW}/chat", token, "{not json"), "Malformed JSON")
    bad(call(client, "POST", f"{RW}/chat", token, "[1, 2]"), "must be an object")
    bad(call(client, "POST", f"{RW}/chat", token, "[" * 100_000 + "]" * 100_000))
    bad(call(client, "POST", "/sandbox/webcast/rooms/7300000000000000002/chat", token,
             {"content": "hi"}), "is not the room of the account")
    bad(call(client, "POST", "/sandbox/webcast/rooms/abc/chat", token, {"content": "hi"}),
        "numeric id")
    assert room_state() == before


# -- moderation -------------------------------------------------------------------------

def test_mute_list_unmute(client, token):
    muted = route_data(call(client, "PUT", f"{RW}/moderation/mutes", token, user_id=VIEWER,
                            duration=60))
    assert muted["actual_duration"] == 60 and muted["total"] == 1
    listed = ok(call(client, "GET", f"{RW}/moderation/mutes", token, page="0.0"))
    users = listed["response"]["data"]["data"]
    assert [u["id_str"] for u in users] == [VIEWER]
    assert users[0]["user_attr"]["is_muted"] is True
    assert listed["response"]["data"]["extra"]["total"] == 1
    ok(call(client, "DELETE", f"{RW}/moderation/mutes", token, user_id=VIEWER))
    assert route_data(call(client, "GET", f"{RW}/moderation/mutes", token)) == []
    before = room_state()
    bad(call(client, "PUT", f"{RW}/moderation/mutes", token, user_id=VIEWER, duration=7),
        "duration must be one of")
    bad(call(client, "PUT", f"{RW}/moderation/mutes", token, user_id=UID), "own anchor")
    bad(call(client, "PUT", f"{RW}/moderation/mutes", token, user_id="@someone"), "numeric")
    bad(call(client, "PUT", f"{RW}/moderation/mutes", token),
        "Missing required parameter: user_id")
    bad(call(client, "GET", f"{RW}/moderation/mutes", token, page=-1), "page")
    bad(call(client, "GET", f"{RW}/moderation/mutes", token, page="1e9"), "page")
    bad(call(client, "GET", f"{RW}/moderation/mutes", token, page="abc"), "page")
    assert room_state() == before


def test_mutes_run_out(client, token):
    call(client, "PUT", f"{RW}/moderation/mutes", token, user_id=VIEWER, duration=5)
    RoomMember.objects.update(created_at=timezone.now() - datetime.timedelta(seconds=6))
    assert route_data(call(client, "GET", f"{RW}/moderation/mutes", token)) == []


def test_ban_list_unban(client, token):
    ok(call(client, "PUT", f"{RW}/moderation/bans", token, tiktok_user_id=VIEWER))
    ok(call(client, "PUT", f"{RW}/moderation/bans", token, tiktok_user_id=VIEWER))  # idempotent
    listed = ok(call(client, "GET", f"{RW}/moderation/bans", token))["response"]["data"]
    assert [u["id_str"] for u in listed["data"]] == [VIEWER]
    assert listed["extra"]["total"] == 1
    ok(call(client, "DELETE", f"{RW}/moderation/bans", token, tiktok_user_id=VIEWER))
    assert route_data(call(client, "GET", f"{RW}/moderation/bans", token)) == []


def test_sensitive_words(client, token):
    words = f"{RW}/moderation/sensitive-words"
    added = route_data(call(client, "POST", words, token, word="spoiler", sec_anchor_id=SEC_UID))
    word_id = added["words"][0]["word_id"]
    call(client, "POST", words, token, word="ending", sec_anchor_id=SEC_UID)
    listed = route_data(call(client, "GET", words, token, sec_anchor_id=SEC_UID))
    assert [w["word"] for w in listed["words"]] == ["spoiler", "ending"]
    before = room_state()
    bad(call(client, "POST", words, token, word="x", sec_anchor_id="someone-else"),
        "sec_anchor_id")
    bad(call(client, "POST", words, token, word="w" * 51, sec_anchor_id=SEC_UID), "longer")
    bad(call(client, "DELETE", words, token, word_id="99999", sec_anchor_id=SEC_UID),
        "no sensitive word")
    bad(call(client, "DELETE", words, token, word_id="9" * 25, sec_anchor_id=SEC_UID),
        "no sensitive word")
    bad(call(client, "GET", words, token), "Missing required parameter: sec_anchor_id")
    assert room_state() == before
    ok(call(client, "DELETE", words, token, word_id=word_id, sec_anchor_id=SEC_UID))
    listed = route_data(call(client, "GET", words, token, sec_anchor_id=SEC_UID))
    assert [w["word"] for w in listed["words"]] == ["ending"]


def test_moderators(client, token):
    mods = f"webcast/anchors/{UID}/moderation/moderators"
    ok(call(client, "PUT", mods, token, to_user_id=VIEWER))
    assert [a["id_str"] for a in route_data(call(client, "GET", mods, token))] == [VIEWER]
    ranks = ok(call(client, "GET", f"{RW}/rankings", token, anchor_id=UID))["response"]
    assert all(r["user"]["is_moderator"] is False for r in ranks["ranks"])
    ok(call(client, "DELETE", mods, token, to_user_id=VIEWER))
    assert route_data(call(client, "GET", mods, token)) == []
    bad(call(client, "PUT", "webcast/anchors/7000000000000000002/moderation/moderators", token,
             to_user_id=VIEWER), "not the account")


def test_toggle_comments(client, token):
    assert route_data(call(client, "POST", f"{RW}/moderation/toggle_comments", token,
                           enabled="false")) == {"comments_enabled": False}
    assert Room.objects.get(room_id=ROOM).comments_enabled is False
    events = ok(call(client, "GET", f"webcast/events/anchors/{UID}", token))["events"]
    assert events[0]["title"] == "comments_off"
    before = room_state()
    bad(call(client, "POST", f"{RW}/moderation/toggle_comments", token, enabled="maybe"),
        "true or false")
    assert room_state() == before
    call(client, "POST", f"{RW}/moderation/toggle_comments", token, enabled="true")
    assert Room.objects.get(room_id=ROOM).comments_enabled is True


def test_another_accounts_token_cannot_change_this_room(client, token):
    ok(call(client, "PUT", f"{RW}/moderation/bans", token, tiktok_user_id=VIEWER))
    viewer_token = grant_token(account="sandbox_viewer")
    before = room_state()
    bad(call(client, "DELETE", f"{RW}/moderation/bans", viewer_token, tiktok_user_id=VIEWER),
        "is not the room of the account")
    bad(call(client, "POST", f"{RW}/chat", viewer_token, {"content": "hijack"}))
    assert room_state() == before


# -- analytics and other read-only answers ----------------------------------------------

def _without_now(body: dict[str, Any]) -> dict[str, Any]:
    body = json.loads(json.dumps(body))
    body.get("response", {}).get("data", {}).get("extra", {}).pop("now", None)
    return body


@pytest.mark.parametrize(("path", "query"), [
    ("webcast/anchors/me/rooms", {"count": "3.0", "offset": "2"}),
    ("webcast/anchors/me/rooms/7310000000000000001/details", {}),
    (f"webcast/anchors/me/rooms/{ROOM}/interactions", {"user_id": VIEWER}),
    ("webcast/anchors/sandbox_streamer/gift_gallery", {}),
    ("webcast/anchors/sandbox_streamer/earnings", {"period": "daily"}),
    ("webcast/rankings", {"region": "US", "rank_type": "DAILY_RANK"}),
    (f"webcast/rooms/{ROOM}/rankings", {"anchor_id": UID}),
])
def test_read_only_answers_are_deterministic(client, token, path, query):
    one = _without_now(ok(call(client, "GET", path, token, **query)))
    two = _without_now(ok(call(client, "GET", path, token, **query)))
    for volatile in ("current_timestamp", "resets_in"):  # clocks, not data
        for body in (one, two):
            body.get("data", {}).pop(volatile, None)
            body.get("response", {}).pop(volatile, None)
    assert one == two


def test_analytics_list_pages(client, token):
    listed = route_data(call(client, "GET", "webcast/anchors/me/rooms", token, count=3,
                             offset=2))
    assert listed["total"] == 12 and len(listed["video_list"]) == 3
    everything = route_data(call(client, "GET", "webcast/anchors/me/rooms", token, count=50))
    assert everything["video_list"][2:5] == listed["video_list"]
    bad(call(client, "GET", "webcast/anchors/me/rooms", token, count=51), "count")
    bad(call(client, "GET", "webcast/anchors/me/rooms", token, count="2.5"), "count")


def test_bulk_live_check_reads_user_numeric_ids(client, token):
    answer = ok(call(client, "POST", "webcast/bulk_live_check", token,
                     {"user_numeric_ids": [UID, "7000000000000000002"]}))["response"]["data"]
    assert answer[UID] == {"is_live": True, "room_id": ROOM}
    assert answer["7000000000000000002"] == {"is_live": False, "room_id": None}
    bad(call(client, "POST", "webcast/bulk_live_check", token, {}),
        "Missing required parameter: user_numeric_ids")
    bad(call(client, "POST", "webcast/bulk_live_check", token,
             {"user_numeric_ids": [str(i) for i in range(101)]}), "at most 100")
    bad(call(client, "POST", "webcast/bulk_live_check", token,
             {"user_numeric_ids": [{"a": 1}]}), "numeric ids")
    bad(call(client, "POST", "webcast/bulk_live_check", token, {"user_numeric_ids": "@me"}),
        "numeric ids")


def test_rankings_answer_the_live_envelope_and_refuse_unknown_types(client, token):
    body = ok(call(client, "GET", "webcast/rankings", token, region="gb",
                   rank_type="FANS_TEAM_RANK"))
    assert set(body) == {"code", "message", "region", "response"} and body["region"] == "GB"
    bad(call(client, "GET", "webcast/rankings", token, region="GB", rank_type="WEEKLY"),
        "rank_type")
    bad(call(client, "GET", "webcast/rankings", token, region="GBR", rank_type="DAILY_RANK"),
        "region")


def test_scopes_come_from_the_endpoint_table(client):
    narrow = grant_token("webcast:fetch webcast:live_check")
    refused = call(client, "PUT", f"{RW}/moderation/mutes", narrow, user_id=VIEWER)
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "error": "insufficient_scope",
        "error_description": "Token does not have required scope: webcast:mute"}
    # The documented alias stands for the spec's webcast:bulk_live_check.
    ok(call(client, "POST", "webcast/bulk_live_check", narrow, {"user_numeric_ids": [UID]}))
    assert call(client, "GET", "tiktok/oauth/userinfo", narrow).status_code == 403
    consents = grant_token("user:consents")
    assert ok(call(client, "GET", "tiktok/oauth/userinfo", consents))["user"]["uid"] == UID


def test_wrong_method_is_405(client, token):
    response = call(client, "PATCH", f"{RW}/moderation/mutes", token)
    assert response.status_code == 405
    assert set(response["Allow"].split(", ")) == {"GET", "PUT", "DELETE"}


HOSTILE = ["\x00", "x" * 1000, "NaN", "inf", "1e400", "-1", "99999999999999999999999999", "",
           "é", "%00"]
HOSTILE_JSON: list[Any] = [None, [], {}, 1e308, -1, True, "x" * 1000, ["\x00"], [[[]]]]


def test_no_endpoint_answers_500_to_hostile_input(client, token):
    """Every endpoint of the table, every parameter, odd values: a 4xx or a 200, never a 5xx."""
    from urllib.parse import quote

    from django_euler_oauth.endpoints import ENDPOINTS

    for endpoint in ENDPOINTS:
        for value in HOSTILE:
            filled = endpoint.path
            for name in endpoint.path_params:
                filled = filled.replace("{" + name + "}", quote(value or "x", safe=""))
            query = {name: value for name in endpoint.query}
            response = call(client, endpoint.method, "/sandbox" + filled, token, **query)
            assert response.status_code < 500, (endpoint.name, value, response.content[:200])
        for json_value in HOSTILE_JSON if endpoint.body else ():
            body = {name: json_value for name in endpoint.body}
            path = "/sandbox" + endpoint.url_path(**{n: ROOM for n in endpoint.path_params})
            response = call(client, endpoint.method, path, token, body)
            assert response.status_code < 500, (endpoint.name, json_value,
                                                response.content[:200])


def test_client_ids_with_nul_or_too_long_are_unknown(client, token):
    """PostgreSQL refuses a NUL in a query: the sandbox must answer before asking it."""
    for bad_id in ("%00", "a" * 101):
        assert client.get(f"/sandbox/tiktok/oauth/clients/{bad_id}").status_code == 404
    for bad_id in ("\x00", "a" * 101):
        answer = client.post("/sandbox/tiktok/oauth/validate-refresh",
                             json.dumps({"refresh_token": "x", "client_id": bad_id}),
                             content_type="application/json")
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
