"""EulerAPI's typed methods and call(): the endpoint table, scopes, binary answers, API key.

Unit behaviour against the scripted loopback provider (what was sent, or that
nothing was); then every typed method against the sandbox over real HTTP.
"""

from __future__ import annotations

import inspect
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db

from django_euler_oauth import endpoints
from django_euler_oauth.api import EulerAPI, python_name, reauthorize_url
from django_euler_oauth.client import BinaryAnswer, ProviderClient
from django_euler_oauth.endpoints import BYTES, ENDPOINTS, SPEC_SCOPES
from django_euler_oauth.errors import (
    InsufficientScope,
    MalformedResponse,
    SessionExpired,
)
from django_euler_oauth.models import Connection, OAuthClient

from .support.loopback import Answer, RotatingTokenEndpoint
from .support.sandbox_fixtures import SAMPLES, connect_all_scopes, query_of, sandbox_db

TOKEN = "/tiktok/oauth/token"
MUTES = "/webcast/rooms/r%201/moderation/mutes"
CONNECT = "/webcast/rooms/7001/connect"
ALL_SCOPES = " ".join(SPEC_SCOPES)


@pytest.fixture
def conn(oauth: OAuthClient, user: Any, make_connection: Any) -> Connection:
    return make_connection(user, oauth, scope=ALL_SCOPES)


# --- the table and the methods ---------------------------------------------------

def expected_parameters(endpoint: endpoints.Endpoint) -> list[tuple[str, bool]]:
    """(python name, required) in the order the typed method takes them."""
    names = [(name, True) for name in endpoint.path_params]
    wires = endpoint.query + endpoint.body
    names += [(python_name(w), True) for w in wires if w in endpoint.required]
    names += [(python_name(w), False) for w in wires if w not in endpoint.required]
    return names


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_endpoint_has_its_typed_method(endpoint):
    method = getattr(EulerAPI, endpoint.name)
    assert method.__doc__ and endpoint.summary in method.__doc__
    assert endpoint.path in method.__doc__
    signature = inspect.signature(method)
    params = [p for p in signature.parameters.values() if p.name != "self"]
    assert [(p.name, p.default is inspect.Parameter.empty) for p in params] == \
        expected_parameters(endpoint)
    for param in params:
        if param.default is not inspect.Parameter.empty:
            assert param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is None
    returns = "BinaryAnswer" if endpoint.answer == BYTES else "dict[str, Any]"
    assert signature.return_annotation == returns


def test_mute_room_user_signature_is_the_sdk_one():
    signature = inspect.signature(EulerAPI.mute_room_user)
    assert str(signature) == ("(self, room_id: 'str', user_id: 'str', *, "
                              "duration: 'int | None' = None, "
                              "comment_msg_id: 'str | None' = None) -> 'dict[str, Any]'")


# --- call(): what is sent ----------------------------------------------------------

def test_typed_method_splits_path_query_and_sends(provider, conn):
    provider.queue(MUTES, Answer(200, {"code": 200, "response": {"muted": True}}))
    answer = EulerAPI(conn).mute_room_user("r 1", "u-9", duration=5)
    assert answer == {"code": 200, "response": {"muted": True}}
    [sent] = provider.received
    assert (sent.method, sent.path) == ("PUT", MUTES)
    assert sent.query == {"user_id": ["u-9"], "duration": ["5"]}  # None left out
    assert sent.headers["Authorization"] == "Bearer access-0"
    assert sent.body == b""


def test_body_fields_use_the_wire_names_and_booleans_are_lower_case(provider, conn):
    provider.queue("/webcast/rooms/42/chat", Answer(200, {"code": 200}))
    provider.queue("/webcast/rooms/42/moderation/toggle_comments", Answer(200, {"code": 200}))
    api = EulerAPI(conn)
    api.send_room_chat("42", "hello", target_unique_id="someone")
    api.toggle_room_comments("42", False)
    chat, toggle = provider.received
    assert json.loads(chat.body) == {"content": "hello", "targetUniqueId": "someone"}
    assert toggle.query == {"enabled": ["false"]}
    # call() takes wire names too.
    provider.queue("/webcast/rooms/42/chat", Answer(200, {"code": 200}))
    api.call("send_room_chat", room_id="42", content="x", targetRoomId="43")
    assert json.loads(provider.received[-1].body) == {"content": "x", "targetRoomId": "43"}


@pytest.mark.parametrize(("name", "params", "words"), [
    ("mute_room_user", {"room_id": "r"}, "missing required parameter(s): user_id"),
    ("mute_room_user", {"user_id": "u"}, "missing required parameter(s): room_id"),
    ("mute_room_user", {"room_id": "r", "user_id": "u", "minutes": 3}, "unexpected"),
    ("send_room_chat", {"room_id": "r", "content": ""}, "missing required parameter(s): content"),
])
def test_bad_parameters_are_a_type_error_before_any_request(provider, conn, name, params,
                                                            words):
    with pytest.raises(TypeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        EulerAPI(conn).call(name, **params)
    assert provider.received == []


def test_unknown_endpoint_name(provider, conn):
    with pytest.raises(ValueError, match="no_such"):
        EulerAPI(conn).call("no_such")
    assert provider.received == []


# --- scopes: refused here, before any request ---------------------------------------

def test_missing_scope_is_refused_before_any_request(provider, oauth, user, make_connection):
    # The token is also expired: not even a refresh may be attempted.
    conn = make_connection(user, oauth, scope="webcast:fetch", expires_in=-60)
    with pytest.raises(InsufficientScope) as caught:
        EulerAPI(conn).mute_room_user("r", "u")
    err = caught.value
    assert err.missing_scope == "webcast:mute"
    assert "mute_room_user" in err.description
    query = parse_qs(urlsplit(err.reauthorize_url).query)
    assert query["scope"] == ["webcast:fetch webcast:mute"]
    assert query["client"] == [oauth.slug]
    assert provider.received == []  # no API call, no token refresh


def test_any_listed_scope_and_aliases_allow(provider, oauth, user, make_connection):
    conn = make_connection(user, oauth, scope="webcast:live_check webcast:sign_url")
    provider.queue("/webcast/bulk_live_check", Answer(200, {"code": 200, "response": {}}))
    provider.queue(CONNECT, Answer(200, b"\x08\x01"))
    api = EulerAPI(conn)
    assert api.allows("retrieve_bulk_live_check") and api.allows("fetch_webcast_url")
    assert not api.allows("retrieve_webcast_rankings")
    api.retrieve_bulk_live_check(["1", "2"])  # documented alias of webcast:bulk_live_check
    api.fetch_webcast_url("7001")  # webcast:sign_url is the second scope listed
    assert [r.path for r in provider.received] == ["/webcast/bulk_live_check", CONNECT]
    assert json.loads(provider.received[0].body) == {"user_numeric_ids": ["1", "2"]}


def test_provider_insufficient_scope_still_gets_a_reauthorize_url(provider, conn):
    provider.queue(MUTES, Answer(403, {"error": "insufficient_scope",
                                       "error_description": "Required scope: webcast:mute"}))
    with pytest.raises(InsufficientScope) as caught:
        EulerAPI(conn).mute_room_user("r 1", "u")
    assert caught.value.missing_scope == "webcast:mute"
    assert caught.value.reauthorize_url.startswith("/oauth/authorize/?")


def test_reauthorize_url_takes_several_scopes_without_repeats(oauth, user, make_connection):
    conn = make_connection(user, oauth, scope="webcast:fetch webcast:live_check")
    url = reauthorize_url(conn, ["webcast:bulk_live_check", "webcast:chat", "webcast:chat"],
                          next_url="/mod/")
    query = parse_qs(urlsplit(url).query)
    assert query["scope"] == ["webcast:fetch webcast:live_check webcast:chat"]
    assert query["next"] == ["/mod/"]


# --- binary answers -----------------------------------------------------------------

def test_binary_answer(provider, conn):
    payload = bytes(range(256)) * 4
    provider.queue(CONNECT, Answer(200, payload, headers={"Content-Type":
                                                          "application/x-protobuf"}))
    answer = EulerAPI(conn).fetch_webcast_url("7001", client_query="ttlive-other",
                                              client_enter=True)
    assert isinstance(answer, BinaryAnswer)
    assert answer.content == payload and answer.content_type == "application/x-protobuf"
    assert answer.headers["Content-Length"] == str(len(payload))
    assert repr(answer) == "<BinaryAnswer application/x-protobuf 1024 bytes>"
    sent = provider.received[0]
    assert sent.query == {"client": ["ttlive-other"], "client_enter": ["true"]}
    with pytest.raises(dataclasses_frozen()):
        answer.content = b""  # type: ignore[misc]


def dataclasses_frozen() -> type[Exception]:
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_binary_endpoint_error_answers_are_our_exceptions(provider, conn):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    provider.queue(CONNECT, Answer(401, {"error": "token_expired"}),
                   Answer(200, b"\x0a\x02hi"))
    answer = EulerAPI(conn).fetch_webcast_url("7001")
    assert answer.content == b"\x0a\x02hi"
    assert len(provider.requests_to(TOKEN)) == 1
    # A JSON error under HTTP 200 (the envelope) is an error too, not a binary answer.
    provider.queue(CONNECT, Answer(200, {"code": 401, "error": {"error": "session_expired"}}))
    with pytest.raises(SessionExpired):
        EulerAPI(conn).fetch_webcast_url("7001")


# --- the API key --------------------------------------------------------------------

def test_api_key_from_the_client_else_the_setting_and_never_in_errors(provider, oauth, conn,
                                                                      settings):
    settings.EULER_OAUTH_API_KEY = "setting-key-123"
    provider.default(MUTES, Answer(500, {"error": "server_error",
                                         "error_description": "bad key setting-key-123"}))
    with pytest.raises(Exception) as caught:
        EulerAPI(conn).mute_room_user("r 1", "u")
    assert "setting-key-123" not in str(caught.value)
    assert provider.received[-1].headers["X-Api-Key"] == "setting-key-123"

    oauth.api_key = "client-key-456"
    oauth.token_transport = "x-oauth-token"
    oauth.save()
    stored = OAuthClient.objects.get(pk=oauth.pk)
    assert stored.api_key == "client-key-456"
    with db.cursor() as cursor:
        cursor.execute("SELECT api_key FROM django_euler_oauth_oauthclient WHERE id = %s",
                       [oauth.pk])
        [(raw,)] = cursor.fetchall()
    assert raw and "client-key-456" not in raw  # ciphertext in the column
    conn = Connection.objects.select_related("client").get(pk=conn.pk)
    provider.queue(MUTES, Answer(401, {"error": "invalid_request",
                                       "error_description": "key client-key-456 refused"}))
    with pytest.raises(Exception) as caught:
        EulerAPI(conn).mute_room_user("r 1", "u")
    assert "client-key-456" not in str(caught.value)
    sent = provider.received[-1]
    assert sent.headers["X-Api-Key"] == "client-key-456"
    assert sent.headers["x-oauth-token"] == "access-0"


# --- validate-refresh and public client info -----------------------------------------

@pytest.mark.parametrize("body", [
    {"valid": True, "scopes": ["webcast:fetch"]},
    {"code": 200, "valid": True, "scopes": ["webcast:fetch"], "tiktok_user_id": "7"},
    {"code": 200, "data": {"valid": True, "scopes": ["webcast:fetch"]}},
])
def test_validate_refresh_flat_and_enveloped(provider, oauth, body):
    provider.queue("/tiktok/oauth/validate-refresh", Answer(200, body))
    payload = ProviderClient(oauth).validate_refresh("refresh-xyz")
    assert payload["valid"] is True and payload["scopes"] == ["webcast:fetch"]
    sent = provider.received[0]
    assert sent.method == "POST"
    assert json.loads(sent.body) == {"refresh_token": "refresh-xyz",
                                     "client_id": oauth.client_id}


def test_validate_refresh_without_valid_flag_is_malformed(provider, oauth):
    provider.queue("/tiktok/oauth/validate-refresh", Answer(200, {"code": 200}))
    with pytest.raises(MalformedResponse):
        ProviderClient(oauth).validate_refresh("refresh-xyz")


@pytest.mark.parametrize("envelope", [False, True])
def test_public_client_flat_and_enveloped(provider, oauth, envelope):
    info = {"client_id": oauth.client_id, "name": "App", "redirect_uris": ["https://x/cb"],
            "supported_scopes": ["webcast:fetch"]}
    body = {"code": 200, "data": {"client": info}} if envelope else {"code": 200,
                                                                      "client": info}
    provider.queue(f"/tiktok/oauth/clients/{oauth.client_id}", Answer(200, body))
    assert ProviderClient(oauth).public_client() == info
    provider.queue(f"/tiktok/oauth/clients/{oauth.client_id}",
                   Answer(404, {"code": 404, "message": "Client not found"}))
    assert ProviderClient(oauth).public_client() is None


# --- every typed method against the sandbox -------------------------------------------

@sandbox_db
def test_every_typed_method_against_the_sandbox(client, user, make_sandbox_oauth,
                                                sandbox_browser):
    conn = connect_all_scopes(client, user, make_sandbox_oauth, sandbox_browser)
    assert set(conn.scope_list) == set(SPEC_SCOPES)
    api = EulerAPI(conn)
    me = api.get_user_info()["user"]
    # The creator's own ids, where the provider checks that they are the token's account.
    samples = {**SAMPLES, "numeric_id": me["uid"], "sec_anchor_id": me["secUid"],
               "unique_id": me["uniqueId"], "room_id": me.get("roomId") or SAMPLES["room_id"]}
    failures = []
    for endpoint in ENDPOINTS:
        args = {name: samples[name] for name, required in expected_parameters(endpoint)
                if required}
        try:
            answer = getattr(api, endpoint.name)(**args)
        except Exception as err:
            failures.append(f"{endpoint.name}: {type(err).__name__} {err}")
            continue
        if endpoint.answer == BYTES:
            if not (isinstance(answer, BinaryAnswer) and answer.content):
                failures.append(f"{endpoint.name}: not a binary answer: {answer!r}")
        elif not isinstance(answer, dict) or answer.get("code", 200) != 200:
            failures.append(f"{endpoint.name}: unexpected answer {str(answer)[:200]}")
    assert failures == [], "\n".join(failures)


@sandbox_db
def test_typed_method_token_expired_refreshes_once_then_session_expired(
        client, user, make_sandbox_oauth, sandbox_browser):
    from django_euler_oauth.sandbox import controls

    conn = connect_all_scopes(client, user, make_sandbox_oauth, sandbox_browser)
    old = conn.access_token
    tokens_before = controls.call_count("token")
    assert controls.expire_access_tokens(unique_id="sandbox_streamer") == 1
    answer = EulerAPI(conn).retrieve_room_muted_users(SAMPLES["room_id"])
    assert isinstance(answer, dict)
    assert controls.call_count("token") == tokens_before + 1  # exactly one refresh
    conn.refresh_from_db()
    assert conn.access_token != old

    assert controls.expire_session("sandbox_streamer") == 1
    with pytest.raises(SessionExpired):
        EulerAPI(conn).retrieve_room_muted_users(SAMPLES["room_id"])
    conn.refresh_from_db()
    assert conn.status == Connection.Status.REAUTHORIZATION_REQUIRED
    assert conn.access_token == "" and conn.refresh_token == ""


@sandbox_db
def test_scope_refused_locally_against_the_sandbox(client, user, make_sandbox_oauth,
                                                   sandbox_browser):
    from django_euler_oauth.sandbox import controls

    _sandbox, oauth = make_sandbox_oauth(scopes="webcast:fetch")
    client.force_login(user)
    response = client.get("/oauth/authorize/", {"client": oauth.slug})
    back = sandbox_browser.authorize(response["Location"])
    client.get(urlsplit(back).path, query_of(back))
    conn = Connection.objects.get(user=user)
    before = controls.call_counts()
    with pytest.raises(InsufficientScope) as caught:
        EulerAPI(conn).kick_room_user(SAMPLES["room_id"], SAMPLES["tiktok_user_id"])
    assert caught.value.missing_scope == "webcast:ban"
    assert controls.call_counts() == before  # the sandbox saw nothing
    EulerAPI(conn).retrieve_webcast_gift_gallery("sandbox_streamer")  # but it is counting
    assert controls.call_counts() != before


def test_documented_scope_table_is_the_endpoint_table():
    """docs/api.md ("Calling the Euler API") lists every endpoint with its method, path and
    scopes."""
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    section = page.split("# Calling the Euler API", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`") and cells[1].startswith("`"):
            rows[cells[0].strip("`")] = cells
    assert set(rows) == {endpoint.name for endpoint in ENDPOINTS}
    for endpoint in ENDPOINTS:
        _name, http, scopes, _params, answer = rows[endpoint.name]
        assert http == f"`{endpoint.method} {endpoint.path}`"
        assert scopes == " / ".join(f"`{scope}`" for scope in endpoint.scopes)
        assert answer == ("`BinaryAnswer`" if endpoint.answer == BYTES else "JSON")
