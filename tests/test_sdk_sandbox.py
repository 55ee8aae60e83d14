"""Euler's own SDK (eulerapisdk 0.5.0) against the sandbox over real HTTP, live variant.

Every endpoint of :data:`django_euler_oauth.endpoints.ENDPOINTS` and the six
OAuth endpoints must parse into the SDK's typed 200 model; every documented
error must answer its code; 429/500/503 must parse into the SDK's models for them.
Tokens come from the real flow: the sandbox's screens, then the SDK's token exchange.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from EulerApiSdk import AuthenticatedClient
from EulerApiSdk import api as sdk_api
from EulerApiSdk import models as m
from EulerApiSdk.types import Response

from django_euler_oauth.endpoints import ENDPOINTS, SPEC_SCOPES
from django_euler_oauth.sandbox import controls
from django_euler_oauth.sandbox.models import SandboxClient

from .support.sandbox_fixtures import SANDBOX_DATABASES, TEST_SECRET, SandboxBrowser, query_of

pytestmark = pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)

API_KEY = "sdk-test-api-key"
STREAMER_UID = "7000000000000000001"
STREAMER_SEC_UID = "MS4wLjABAAAA-sandbox-streamer"
ROOM = "7300000000000000001"
VIEWER = "7200000000000000042"


def sdk_function(name: str) -> ModuleType:
    """The SDK module ``EulerApiSdk.api.<tag>.<name>`` (its tag folder is not in our table)."""
    for package in pkgutil.iter_modules(sdk_api.__path__):
        try:
            return importlib.import_module(f"EulerApiSdk.api.{package.name}.{name}")
        except ModuleNotFoundError:
            continue
    raise LookupError(name)


# -- fixtures --------------------------------------------------------------------------

@pytest.fixture
def live_client(make_sandbox_oauth: Callable[..., Any]) -> SandboxClient:
    sandbox, _oauth = make_sandbox_oauth(
        scopes=" ".join(SPEC_SCOPES), response_style="envelope",
        token_transport="x-oauth-token", api_key=API_KEY)
    return sandbox


@pytest.fixture
def sdk(sandbox_url: str) -> Iterator[AuthenticatedClient]:
    client = AuthenticatedClient(base_url=sandbox_url, token=API_KEY,
                                 auth_header_name="X-Api-Key", prefix="",
                                 timeout=httpx.Timeout(10.0))
    yield client
    client.get_httpx_client().close()


def authorization_code(sandbox_url: str, sandbox: SandboxClient, scopes: str) -> str:
    """The sandbox's screens walked like a user: introduction, permissions, QR, scan."""
    url = f"{sandbox_url}/tiktok/oauth/authorize?" + urlencode({
        "client_id": sandbox.client_id, "redirect_uri": sandbox.redirect_uri_list[0],
        "response_type": "code", "scope": scopes, "state": "sdk-state"})
    browser = SandboxBrowser()
    try:
        return query_of(browser.authorize(url))["code"]
    finally:
        browser.close()


def exchange(sdk: AuthenticatedClient, sandbox: SandboxClient, **fields: Any
             ) -> Response[Any]:
    body = m.ExchangeTokenRequest(client_id=sandbox.client_id, client_secret=TEST_SECRET,
                                  **fields)
    return sdk_function("exchange_token").sync_detailed(client=sdk, body=body)


def tokens(sdk: AuthenticatedClient, sandbox_url: str, sandbox: SandboxClient,
           scopes: str = " ".join(SPEC_SCOPES)) -> m.TokenResponse:
    code = authorization_code(sandbox_url, sandbox, scopes)
    answer = exchange(sdk, sandbox, grant_type=m.ExchangeTokenRequestGrantType.AUTHORIZATION_CODE,
                      code=code, redirect_uri=sandbox.redirect_uri_list[0])
    assert isinstance(answer.parsed, m.OAuthTokenResponse), answer.content[:300]
    assert answer.parsed.code == 200 and isinstance(answer.parsed.data, m.TokenResponse)
    return answer.parsed.data


@pytest.fixture
def token(sdk: AuthenticatedClient, sandbox_url: str, live_client: SandboxClient) -> str:
    return tokens(sdk, sandbox_url, live_client).access_token


# -- the OAuth endpoints ----------------------------------------------------------------

def test_oauth_endpoints_parse_into_the_sdk_models(sdk, sandbox_url, live_client):
    granted = tokens(sdk, sandbox_url, live_client)
    assert granted.token_type == m.TokenResponseTokenType.BEARER
    assert set(granted.scopes) == {m.OAuthScope(scope) for scope in SPEC_SCOPES}
    assert 3590 <= granted.expires_in <= 3600 and granted.refresh_expires_in > 29 * 86400
    client_id = live_client.client_id

    who = sdk_function("get_user_info").sync_detailed(client=sdk,
                                                      x_oauth_token=granted.access_token)
    assert isinstance(who.parsed, m.OAuthUserInfoResponse) and who.parsed.code == 200
    assert who.parsed.user.unique_id == "sandbox_streamer"

    public = sdk_function("get_public_client").sync_detailed(client_id, client=sdk)
    assert isinstance(public.parsed, m.GetPublicClientResponse)
    assert public.parsed.client.name == "Flow Test App"
    assert live_client.redirect_uri_list[0] in public.parsed.client.redirect_uris
    assert TEST_SECRET not in public.content.decode()

    introspect = sdk_function("introspect_token").sync_detailed(
        client=sdk, body=m.IntrospectRequestBody(token=granted.access_token,
                                                 client_id=client_id,
                                                 client_secret=TEST_SECRET))
    assert isinstance(introspect.parsed, m.OAuthIntrospectResponse)
    assert introspect.parsed.data.active is True
    assert introspect.parsed.data.token_type == m.IntrospectionResponseTokenType.BEARER
    assert introspect.parsed.data.sub == STREAMER_UID

    validate = sdk_function("validate_refresh_token")

    def check(refresh: str) -> m.ValidateRefreshResponse:
        answer = validate.sync_detailed(client=sdk, body=m.ValidateRefreshRequest(
            refresh_token=refresh, client_id=client_id))
        assert isinstance(answer.parsed, m.ValidateRefreshResponse), answer.content[:300]
        return answer.parsed

    first = check(granted.refresh_token)
    assert first.valid is True and first.tiktok_user_id == STREAMER_UID
    assert m.OAuthScope.WEBCASTCHAT in first.scopes
    assert check(granted.refresh_token).valid is True  # validating did not use it up
    assert check("esb_rt_unknown").valid is False

    refreshed = exchange(sdk, live_client,
                         grant_type=m.ExchangeTokenRequestGrantType.REFRESH_TOKEN,
                         refresh_token=granted.refresh_token)
    assert isinstance(refreshed.parsed, m.OAuthTokenResponse) and refreshed.parsed.code == 200
    assert refreshed.parsed.data.refresh_token != granted.refresh_token
    assert check(granted.refresh_token).valid is False  # rotated away

    revoke = sdk_function("revoke_token").sync_detailed(
        client=sdk, body=m.RevokeRequestBody(token=refreshed.parsed.data.refresh_token,
                                             client_id=client_id, client_secret=TEST_SECRET))
    assert isinstance(revoke.parsed, m.OAuthRevokeResponse) and revoke.parsed.code == 200
    assert "error" not in json.loads(revoke.content)
    assert check(refreshed.parsed.data.refresh_token).valid is False


def test_success_envelopes_carry_no_error_member(sdk, sandbox_url, live_client):
    """``"error": null`` crashes the SDK's parser: a success never has the member."""
    code = authorization_code(sandbox_url, live_client, "user:info")
    raw = sdk.get_httpx_client().post("/tiktok/oauth/token", json={
        "client_id": live_client.client_id, "client_secret": TEST_SECRET,
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": live_client.redirect_uri_list[0]})
    body = raw.json()
    assert raw.status_code == 200 and body["code"] == 200 and "error" not in body
    assert body["data"]["scopes"] == ["user:info"]
    unknown = sdk_function("get_public_client").sync_detailed("no-such-client", client=sdk)
    assert unknown.status_code == 404


# -- every endpoint of the table ------------------------------------------------------

Call = Callable[[AuthenticatedClient, str], Response[Any]]


def _sdk(name: str, *args: Any, **kwargs: Any) -> Call:
    def call(sdk: AuthenticatedClient, token: str) -> Response[Any]:
        return sdk_function(name).sync_detailed(*args, client=sdk, x_oauth_token=token,
                                                **kwargs)
    return call


def _raw(method: str, path: str, model: type, **kwargs: Any) -> Call:
    """A legacy path (not in eulerapisdk 0.5.0): sent by hand, parsed with the SDK model."""
    def call(sdk: AuthenticatedClient, token: str) -> Response[Any]:
        answer = sdk.get_httpx_client().request(method, path, headers={"x-oauth-token": token},
                                                **kwargs)
        parsed = model.from_dict(answer.json()) if answer.status_code == 200 else None
        return Response(status_code=answer.status_code, content=answer.content,
                        headers=answer.headers, parsed=parsed)
    return call


class LegacyFetch:
    """The guide's fetch answer (no SDK model): ``{code, message, data: {room, events}}``."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.code = body["code"]
        self.room = body["data"]["room"]
        self.events = body["data"]["events"]

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> LegacyFetch:
        return cls(body)


def _route(parsed: Any) -> Any:
    """TikTok's answer inside a moderation/analytics envelope (``response.data``)."""
    assert parsed.response.data.status_code == 0
    return parsed.response.data.data


def _delete_listed_word(sdk: AuthenticatedClient, token: str) -> Response[Any]:
    listed = _sdk("get_sensitive_words", ROOM, sec_anchor_id=STREAMER_SEC_UID)(sdk, token)
    word_id = _route(listed.parsed).words[0]["word_id"]
    return _sdk("delete_sensitive_word", ROOM, word_id=word_id,
                sec_anchor_id=STREAMER_SEC_UID)(sdk, token)


# name -> (call, 200 model, check of a value in the parsed answer). Order matters:
# the room's state builds up (chat, then it shows in events; mute, then the list).
ENDPOINT_CALLS: dict[str, tuple[Call, type, Callable[[Any], bool]]] = {
    "get_user_info": (_sdk("get_user_info"), m.OAuthUserInfoResponse,
                      lambda p: p.user.room_id == ROOM),
    "retrieve_bulk_live_check": (
        _sdk("retrieve_bulk_live_check",
             body=m.RetrieveBulkLiveCheckPayload(user_numeric_ids=[STREAMER_UID, "123"])),
        m.RetrieveBulkLiveCheckResponse,
        lambda p: p.response.data[STREAMER_UID].room_id == ROOM),
    "retrieve_webcast_rankings": (
        _sdk("retrieve_webcast_rankings", region=m.PooledProxyRegion.GB,
             rank_type=m.RetrieveWebcastRankingsRankType.DAILY_RANK),
        m.WebcastRegionRankingsResponse,
        lambda p: p.region == m.PooledProxyRegion.GB and len(p.response.ranks) == 10),
    "retrieve_room_rankings": (_sdk("retrieve_room_rankings", ROOM, anchor_id=STREAMER_UID),
                               m.WebcastRoomRankingsResponse,
                               lambda p: p.response.ranks[0].rank == 1),
    "send_room_chat": (_sdk("send_room_chat", ROOM,
                            body=m.WebcastRoomChatPayload(content="hello from the SDK")),
                       m.WebcastRoomChatRouteResponse, lambda p: p.data.status_code == 0),
    "legacy_send_chat": (_raw("POST", "/webcast/chat", m.WebcastRoomChatRouteResponse,
                              json={"content": "hello on the old path"}),
                         m.WebcastRoomChatRouteResponse, lambda p: p.data.status_code == 0),
    "retrieve_webcast_anchor_events": (
        _sdk("retrieve_webcast_anchor_events", STREAMER_UID, page=0),
        m.RetrieveWebcastAnchorEventsResponse,
        lambda p: [e.desc for e in p.events][:2] == ["hello on the old path",
                                                     "hello from the SDK"]),
    "legacy_fetch": (_raw("GET", "/webcast/fetch", LegacyFetch,
                          params={"unique_id": "sandbox_streamer"}), LegacyFetch,
                     lambda p: p.events[0]["content"] == "hello on the old path"),
    "retrieve_webcast_gift_gallery": (
        _sdk("retrieve_webcast_gift_gallery", "sandbox_streamer"),
        m.WebcastGiftGalleryResponse, lambda p: p.data.normal_gifts[0].name == "Rose"),
    "retrieve_webcast_user_earnings": (
        _sdk("retrieve_webcast_user_earnings", "sandbox_streamer",
             period=m.WebcastUserEarningsOutputPeriod.DAILY),
        m.WebcastUserEarningsResponse,
        lambda p: p.response.user.user.numeric_uid == STREAMER_UID),
    "legacy_user_earnings": (
        _raw("GET", "/webcast/user_earnings", m.WebcastUserEarningsResponse,
             params={"unique_id": "sandbox_streamer", "period": "daily"}),
        m.WebcastUserEarningsResponse,
        lambda p: p.response.user.unique_id == "sandbox_streamer"),
    "retrieve_live_analytics_video_list": (
        _sdk("retrieve_live_analytics_video_list", count=5.0, offset=0.0),
        m.LiveAnalyticsVideoListAPIResponse,
        lambda p: _route(p).total == 12 and len(_route(p).video_list) == 5),
    "retrieve_live_analytics_video_detail": (
        _sdk("retrieve_live_analytics_video_detail", "7310000000000000001"),
        m.LiveAnalyticsVideoDetailAPIResponse,
        lambda p: _route(p).analytics.views.total_views >= 50),
    "retrieve_live_analytics_user_interactions": (
        _sdk("retrieve_live_analytics_user_interactions", ROOM, user_id=STREAMER_UID),
        m.LiveAnalyticsUserInteractionsAPIResponse,
        lambda p: _route(p).comment_count == 2),
    "mute_room_user": (_sdk("mute_room_user", ROOM, user_id=VIEWER,
                            duration=m.MuteDuration.VALUE_300),
                       m.RoomMuteUserAPIResponse,
                       lambda p: _route(p).actual_duration == 300),
    "retrieve_room_muted_users": (_sdk("retrieve_room_muted_users", ROOM),
                                  m.RoomMutedUsersAPIResponse,
                                  lambda p: [u.id_str for u in _route(p)] == [VIEWER]),
    "unmute_room_user": (_sdk("unmute_room_user", ROOM, user_id=VIEWER),
                         m.RoomUnmuteUserAPIResponse, lambda p: p.code == 200),
    "kick_room_user": (_sdk("kick_room_user", ROOM, tiktok_user_id=VIEWER),
                       m.RoomKickUserAPIResponse, lambda p: p.code == 200),
    "retrieve_room_banned_users": (_sdk("retrieve_room_banned_users", ROOM),
                                   m.RoomKickedUsersAPIResponse,
                                   lambda p: p.response.data.extra.total == 1),
    "unban_room_user": (_sdk("unban_room_user", ROOM, tiktok_user_id=VIEWER),
                        m.RoomUnkickUserAPIResponse, lambda p: p.code == 200),
    "toggle_room_comments": (_sdk("toggle_room_comments", ROOM, enabled=False),
                             m.RoomCommentsToggleAPIResponse,
                             lambda p: _route(p)["comments_enabled"] is False),
    "add_sensitive_word": (_sdk("add_sensitive_word", ROOM, word="spoiler",
                                sec_anchor_id=STREAMER_SEC_UID),
                           m.RoomAddSensitiveWordAPIResponse,
                           lambda p: _route(p).words[0]["word"] == "spoiler"),
    "get_sensitive_words": (_sdk("get_sensitive_words", ROOM, sec_anchor_id=STREAMER_SEC_UID),
                            m.RoomGetSensitiveWordsAPIResponse,
                            lambda p: [w["word"] for w in _route(p).words] == ["spoiler"]),
    "delete_sensitive_word": (_delete_listed_word,
                              m.RoomDelSensitiveWordAPIResponse, lambda p: p.code == 200),
    "add_room_moderator": (_sdk("add_room_moderator", STREAMER_UID, to_user_id=VIEWER),
                           m.RoomAdminUpdateAPIResponse, lambda p: p.code == 200),
    "retrieve_room_moderators": (_sdk("retrieve_room_moderators", STREAMER_UID),
                                 m.RoomModeratorsAPIResponse,
                                 lambda p: [a.id_str for a in _route(p)] == [VIEWER]),
    "remove_room_moderator": (_sdk("remove_room_moderator", STREAMER_UID, to_user_id=VIEWER),
                              m.RoomAdminUpdateAPIResponse, lambda p: p.code == 200),
}
BINARY_CALLS: dict[str, Call] = {
    "fetch_webcast_url": _sdk("fetch_webcast_url", ROOM),
    "fetch_webcast_url_by_unique_id": _sdk("fetch_webcast_url_by_unique_id", "sandbox_streamer"),
}


def test_every_endpoint_of_the_table_is_covered_here():
    assert set(ENDPOINT_CALLS) | set(BINARY_CALLS) == {e.name for e in ENDPOINTS}


def test_every_endpoint_parses_into_the_sdk_success_model(sdk, token):
    for name, (call, model, check) in ENDPOINT_CALLS.items():
        answer = call(sdk, token)
        assert answer.status_code == 200, (name, answer.content[:300])
        assert isinstance(answer.parsed, model), (name, answer.content[:300])
        assert answer.parsed.code == 200, name
        assert check(answer.parsed), (name, answer.content[:500])


def read_protobuf(data: bytes) -> list[tuple[int, int | bytes]]:
    """The top-level fields of a protobuf message (varint and length-delimited only)."""
    fields: list[tuple[int, int | bytes]] = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            fields.append((number, varint()))
        elif wire == 2:
            size = varint()
            fields.append((number, data[pos:pos + size]))
            pos += size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        assert pos <= len(data), "truncated field"
    return fields


def test_connect_endpoints_answer_protobuf_with_the_rooms_chat(sdk, token):
    sdk_function("send_room_chat").sync_detailed(
        ROOM, client=sdk, x_oauth_token=token, body=m.WebcastRoomChatPayload(content="hi"))
    bodies = []
    for name, call in BINARY_CALLS.items():
        answer = call(sdk, token)
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == "application/x-protobuf", name
        fields = read_protobuf(answer.content)
        messages = [read_protobuf(value) for number, value in fields
                    if number == 1 and isinstance(value, bytes)]
        assert [dict(msg)[1] for msg in messages] == [b"WebcastChatMessage"]
        chat = dict(read_protobuf(dict(messages[0])[2]))
        assert chat[3] == b"hi"
        assert dict(fields)[10].startswith(b"wss://")
        bodies.append(answer.content)
    assert bodies[0] == bodies[1]  # the same room, by id or by @uniqueId: same bytes
    assert BINARY_CALLS["fetch_webcast_url"](sdk, token).content == bodies[0]  # deterministic


# -- the documented errors --------------------------------------------------------------

def error_of(answer: Response[Any]) -> tuple[int, str, str]:
    """(status, error code, description) of an envelope error (the SDK leaves 4xx unparsed)."""
    body = json.loads(answer.content)
    assert body["code"] == answer.status_code and isinstance(body["error"], dict)
    return answer.status_code, body["error"]["error"], body["error"]["error_description"]


def test_documented_errors(sdk, sandbox_url, live_client):
    user_info = sdk_function("get_user_info")
    granted = tokens(sdk, sandbox_url, live_client)
    access = granted.access_token

    missing = user_info.sync_detailed(client=sdk)
    assert missing.status_code == 401 and b"unauthorized" in missing.content
    forged = user_info.sync_detailed(client=sdk, x_oauth_token="esb_at_forged")
    assert forged.status_code == 401 and b"invalid_token" in forged.content

    narrow = tokens(sdk, sandbox_url, live_client, "webcast:fetch").access_token
    refused = sdk_function("mute_room_user").sync_detailed(ROOM, client=sdk,
                                                           x_oauth_token=narrow, user_id=VIEWER)
    assert error_of(refused) == (403, "insufficient_scope",
                                 "Token does not have required scope: webcast:mute")

    controls.expire_access_tokens(token=access)
    assert error_of(user_info.sync_detailed(client=sdk, x_oauth_token=access))[:2] == (
        401, "token_expired")

    fresh = tokens(sdk, sandbox_url, live_client).access_token
    controls.expire_session("sandbox_streamer")
    assert error_of(user_info.sync_detailed(client=sdk, x_oauth_token=fresh)) == (
        401, "session_expired", "Underlying TikTok session has expired")

    again = tokens(sdk, sandbox_url, live_client)
    sdk_function("revoke_token").sync_detailed(client=sdk, body=m.RevokeRequestBody(
        token=again.refresh_token, client_id=live_client.client_id, client_secret=TEST_SECRET))
    assert error_of(user_info.sync_detailed(client=sdk, x_oauth_token=again.access_token)) == (
        401, "revoked_token", "Token has been revoked")

    wrong_key = AuthenticatedClient(base_url=sandbox_url, token="not-the-key",
                                    auth_header_name="X-Api-Key", prefix="")
    with wrong_key:
        keyless = user_info.sync_detailed(client=wrong_key, x_oauth_token=fresh)
    assert keyless.status_code == 401 and b"unauthorized" in keyless.content


def test_rate_limit_and_server_errors_parse_into_the_sdk_models(sdk, token):
    mute = sdk_function("mute_room_user")

    def call() -> Response[Any]:
        return mute.sync_detailed(ROOM, client=sdk, x_oauth_token=token, user_id=VIEWER)

    controls.rate_limit(30, endpoint="mute_room_user")
    limited = call()
    assert isinstance(limited.parsed, m.MuteRoomUserResponse429) and limited.parsed.code == 429
    for header in ("RateLimit-Reset", "X-RateLimit-Reset", "Retry-After"):
        assert 1 <= int(limited.headers[header]) <= 30
    controls.rate_limit(0, endpoint="mute_room_user")

    controls.fail_next(1, 500, endpoint="mute_room_user")
    failed = call()
    assert isinstance(failed.parsed, m.MuteRoomUserResponse500) and failed.parsed.code == 500
    controls.fail_next(1, 503, endpoint="mute_room_user")
    unavailable = call()
    assert isinstance(unavailable.parsed, m.MuteRoomUserResponse503)
    assert unavailable.parsed.code == 503
    assert isinstance(call().parsed, m.RoomMuteUserAPIResponse)  # the faults are used up


@pytest.mark.parametrize(("code", "status"), [
    ("unauthorized", 401), ("token_expired", 401), ("invalid_token", 401),
    ("revoked_token", 401), ("insufficient_scope", 403), ("session_expired", 401),
])
def test_injected_errors_answer_their_documented_code(sdk, token, code, status):
    controls.inject_error(code, endpoint="retrieve_room_muted_users", count=1)
    listed = sdk_function("retrieve_room_muted_users")
    answer = listed.sync_detailed(ROOM, client=sdk, x_oauth_token=token)
    got_status, got_code, description = error_of(answer)
    assert (got_status, got_code) == (status, code)
    if code == "insufficient_scope":
        assert description == "Token does not have required scope: webcast:mute"
    ok = listed.sync_detailed(ROOM, client=sdk, x_oauth_token=token)
    assert isinstance(ok.parsed, m.RoomMutedUsersAPIResponse)  # one request, then normal


def test_injected_rate_limit_and_failures(sdk, token):
    gallery = sdk_function("retrieve_webcast_gift_gallery")
    controls.inject_error("rate_limited", endpoint="retrieve_webcast_gift_gallery")
    limited = gallery.sync_detailed("sandbox_streamer", client=sdk, x_oauth_token=token)
    assert isinstance(limited.parsed, m.RetrieveWebcastGiftGalleryResponse429)
    assert limited.headers["X-RateLimit-Reset"]
    controls.inject_error("server_error", endpoint="retrieve_webcast_gift_gallery")
    failed = gallery.sync_detailed("sandbox_streamer", client=sdk, x_oauth_token=token)
    assert isinstance(failed.parsed, m.RetrieveWebcastGiftGalleryResponse500)
    controls.inject_error("temporarily_unavailable", endpoint="retrieve_webcast_gift_gallery")
    down = gallery.sync_detailed("sandbox_streamer", client=sdk, x_oauth_token=token)
    assert isinstance(down.parsed, m.RetrieveWebcastGiftGalleryResponse503)
    with pytest.raises(ValueError):
        controls.inject_error("no_such_error")
