"""The sandbox provider on its own: every documented code, lifetime and control."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.checks import run_checks
from django.test import Client, override_settings
from django.utils import timezone

from django_euler_oauth.models import OAuthClient
from django_euler_oauth.sandbox import controls
from django_euler_oauth.sandbox.models import AccessToken, AuthorizationCode, SandboxClient
from django_euler_oauth.sandbox.setup import ensure_demo_client

from .support.sandbox_fixtures import SANDBOX_DATABASES, TEST_SECRET

pytestmark = pytest.mark.django_db(databases=SANDBOX_DATABASES)

BASE = "/sandbox/tiktok/oauth"
REDIRECT = "http://app.example/callback"


def params(**over: str | None) -> dict[str, str]:
    values: dict[str, str | None] = {"client_id": "cid", "redirect_uri": REDIRECT,
                                     "response_type": "code",
                                     "scope": "webcast:fetch webcast:live_check",
                                     "state": "st4te"}
    values.update(over)
    return {k: v for k, v in values.items() if v is not None}


def qs(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def public_id(page: Any) -> str:
    match = re.search(r"/authorize/([\w-]+)/permissions", page.content.decode())
    assert match
    return match.group(1)


def get_code(client: Any, account: str | None = None, **over: str | None) -> str:
    page = client.get(f"{BASE}/authorize", params(**over))
    assert page.status_code == 200, page.content[:300]
    data = {"account": account} if account else {}
    response = client.post(f"{BASE}/authorize/{public_id(page)}/confirm", data)
    assert response.status_code == 302
    back = qs(response["Location"])
    assert back["state"] == over.get("state", "st4te")
    return back["code"]


def token_request(client: Any, **fields: str) -> Any:
    body = {"client_id": "cid", "client_secret": TEST_SECRET, **fields}
    return client.post(f"{BASE}/token", body)


def exchange(client: Any, code: str, **extra: str) -> Any:
    return token_request(client, grant_type="authorization_code", code=code,
                         redirect_uri=REDIRECT, **extra)


def tokens(client: Any, **over: str | None) -> dict[str, Any]:
    response = exchange(client, get_code(client, **over))
    assert response.status_code == 200, response.content
    return response.json()


def api(client: Any, path: str, token: str | None = None, **headers: str) -> Any:
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    return client.get(f"/sandbox/{path}", headers=headers)


def assert_error(response: Any, status: int, code: str, description: str | None = None) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    error = body["error"] if isinstance(body.get("error"), dict) else body
    assert error["error"] == code
    if description is not None:
        assert error["error_description"] == description


def configure(sandbox: SandboxClient, **fields: Any) -> None:
    for key, value in fields.items():
        setattr(sandbox, key, value)
    sandbox.save()


# -- the authorize screens ------------------------------------------------------------

def test_three_screens_name_the_app_describe_scopes_and_show_a_qr(client, sandbox_client_row):
    intro = client.get(f"{BASE}/authorize", params())
    assert intro.status_code == 200
    assert b"Test App</span> wants to connect to your TikTok account" in intro.content
    rid = public_id(intro)
    permissions = client.get(f"{BASE}/authorize/{rid}/permissions")
    text = permissions.content.decode()
    assert "<code>webcast:fetch</code>" in text and "<code>webcast:live_check</code>" in text
    assert "See whether the account is LIVE." in text  # the package's own words
    qr = client.get(f"{BASE}/authorize/{rid}/qr").content.decode()
    assert 'src="data:image/svg+xml' in qr
    assert "Simulate scan and confirm on phone" in qr
    assert "st4te" not in qr  # nothing of the client's request is echoed needlessly


def test_qr_degrades_to_a_text_code_without_segno(client, sandbox_client_row, monkeypatch):
    monkeypatch.setattr("django_euler_oauth.sandbox.qr.segno", None)
    rid = public_id(client.get(f"{BASE}/authorize", params()))
    page = client.get(f"{BASE}/authorize/{rid}/qr").content.decode()
    assert "data:image" not in page
    assert re.search(r'id="qr-text">[A-Z0-9]{4}-[A-Z0-9]{4}<', page)


def test_expired_qr_is_replaced_and_the_old_one_refused(client, sandbox_client_row):
    configure(sandbox_client_row, qr_lifetime=1)
    rid = public_id(client.get(f"{BASE}/authorize", params()))
    first = client.get(f"{BASE}/authorize/{rid}/qr").content.decode()
    old_link = re.search(r"/phone\?qr=([\w-]+)", first)
    assert old_link
    time.sleep(1.1)
    assert client.get(f"{BASE}/authorize/{rid}/status").json()["qr_expires_in"] == 0
    second = client.get(f"{BASE}/authorize/{rid}/qr").content.decode()
    new_link = re.search(r"/phone\?qr=([\w-]+)", second)
    assert new_link and new_link.group(1) != old_link.group(1)
    stale = client.get(f"{BASE}/authorize/{rid}/phone", {"qr": old_link.group(1)})
    assert stale.status_code == 400 and b"This QR code has expired" in stale.content


def test_scanning_on_the_phone_completes_the_waiting_page(client, sandbox_client_row):
    rid = public_id(client.get(f"{BASE}/authorize", params(scope="user:info webcast:fetch")))
    page = client.get(f"{BASE}/authorize/{rid}/qr").content.decode()
    token = re.search(r"/phone\?qr=([\w-]+)", page).group(1)
    assert client.get(f"{BASE}/authorize/{rid}/status").json()["status"] == "pending"
    phone = client.post(f"{BASE}/authorize/{rid}/phone", {"qr": token,
                                                          "account": "sandbox_viewer"})
    assert b"Login confirmed" in phone.content
    assert client.get(f"{BASE}/authorize/{rid}/status").json()["status"] == "confirmed"
    done = client.get(f"{BASE}/authorize/{rid}/complete")
    assert done.status_code == 302 and done["Location"].startswith(REDIRECT + "?code=")
    body = exchange(client, qs(done["Location"])["code"]).json()
    user = client.get("/sandbox/tiktok/oauth/userinfo",
                      headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert user["user"]["uniqueId"] == "sandbox_viewer"
    # The request is finished: a second completion gets nothing.
    assert client.get(f"{BASE}/authorize/{rid}/complete").status_code == 400


@pytest.mark.parametrize(("over", "code", "description"), [
    ({"client_id": None}, "invalid_request", "Missing required parameter: client_id"),
    ({"client_id": "nope"}, "invalid_client", "Unknown client_id"),
    ({"redirect_uri": None}, "invalid_request", "Missing required parameter: redirect_uri"),
    ({"redirect_uri": "http://evil.example/cb"}, "invalid_redirect_uri",
     "Redirect URI not registered for this client"),
    ({"redirect_uri": REDIRECT + "/"}, "invalid_redirect_uri",
     "Redirect URI not registered for this client"),
])
def test_errors_that_cannot_redirect_are_shown(client, sandbox_client_row, over, code,
                                               description):
    response = client.get(f"{BASE}/authorize", params(**over))
    assert response.status_code == 400
    text = response.content.decode()
    assert f"<code>{code}</code>" in text and description in text
    assert "Location" not in response


@pytest.mark.parametrize(("over", "code", "description"), [
    ({"response_type": None}, "invalid_request", "Missing required parameter: response_type"),
    ({"response_type": "token"}, "unsupported_response_type",
     "Only response_type=code is supported"),
    ({"scope": None}, "invalid_request", "Missing required parameter: scope"),
    ({"scope": "webcast:fetch webcast:invalid_scope"}, "invalid_scope",
     "Invalid scope: webcast:invalid_scope"),
    ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request",
     "Unsupported code_challenge_method: only S256 is supported"),
])
def test_errors_go_back_on_the_redirect_with_the_state(client, sandbox_client_row, over,
                                                       code, description):
    response = client.get(f"{BASE}/authorize", params(**over))
    assert response.status_code == 302
    assert response["Location"].startswith(REDIRECT + "?")
    assert qs(response["Location"]) == {"error": code, "error_description": description,
                                        "state": "st4te"}


def test_server_error_is_injected_on_the_redirect(client, sandbox_client_row):
    controls.fail_next(1, endpoint="authorize")
    response = client.get(f"{BASE}/authorize", params())
    assert qs(response["Location"]) == {"error": "server_error",
                                        "error_description": "Internal server error",
                                        "state": "st4te"}
    assert client.get(f"{BASE}/authorize", params()).status_code == 200


def test_pkce_required_by_the_client(client, sandbox_client_row):
    configure(sandbox_client_row, require_pkce=True)
    response = client.get(f"{BASE}/authorize", params())
    assert qs(response["Location"])["error_description"] == \
        "Missing required parameter: code_challenge"


@pytest.mark.parametrize("where", ["introduction", "permissions", "qr"])
def test_cancel_redirects_with_access_denied(client, sandbox_client_row, where):
    rid = public_id(client.get(f"{BASE}/authorize", params()))
    if where != "introduction":
        client.get(f"{BASE}/authorize/{rid}/{'permissions' if where == 'permissions' else 'qr'}")
    response = client.post(f"{BASE}/authorize/{rid}/cancel")
    assert qs(response["Location"]) == {"error": "access_denied",
                                        "error_description": "User cancelled authorization",
                                        "state": "st4te"}
    # A cancelled request cannot be completed afterwards.
    assert client.post(f"{BASE}/authorize/{rid}/confirm").status_code == 400


# -- the token endpoint --------------------------------------------------------------

def test_code_exchange_answers_the_documented_flat_fields(client, sandbox_client_row):
    body = tokens(client)
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer" and body["scope"] == "webcast:fetch webcast:live_check"
    assert 3590 <= body["expires_in"] <= 3600
    stored = AccessToken.objects.get()
    assert stored.token_hash != body["access_token"] and body["access_token"] not in \
        stored.token_hash


def test_envelope_variant_and_json_requests(client, sandbox_client_row):
    configure(sandbox_client_row, response_style="envelope")
    code = get_code(client)
    response = client.post(f"{BASE}/token", json.dumps({
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "client_id": "cid", "client_secret": TEST_SECRET}), content_type="application/json")
    body = response.json()
    assert body["code"] == 200 and "error" not in body  # "error": null crashes the SDK
    data = body["data"]
    # The live spec's names: its SDK parses scopes into an enum without the alias.
    assert data["scopes"] == ["webcast:fetch", "webcast:bulk_live_check"]
    assert 30 * 86400 - 10 <= data["refresh_expires_in"] <= 30 * 86400
    bad = token_request(client, grant_type="authorization_code", code=code,
                        redirect_uri=REDIRECT)
    assert bad.json()["code"] == 400
    assert_error(bad, 400, "invalid_grant", "Authorization code expired or invalid")


def test_code_is_single_use(client, sandbox_client_row):
    code = get_code(client)
    assert exchange(client, code).status_code == 200
    assert_error(exchange(client, code), 400, "invalid_grant",
                 "Authorization code expired or invalid")


def test_code_lives_ten_minutes_by_default_and_expires(client, sandbox_client_row):
    get_code(client)
    row = AuthorizationCode.objects.get()
    left = (row.expires_at - timezone.now()).total_seconds()
    assert 590 <= left <= 600
    configure(sandbox_client_row, code_lifetime=1)
    code = get_code(client)
    time.sleep(1.1)
    assert_error(exchange(client, code), 400, "invalid_grant",
                 "Authorization code expired or invalid")


def test_code_bound_to_its_redirect_uri_and_client(client, sandbox_client_row):
    code = get_code(client)
    wrong = token_request(client, grant_type="authorization_code", code=code,
                          redirect_uri="http://127.0.0.1:9/cb")
    assert_error(wrong, 400, "invalid_grant", "Authorization code expired or invalid")
    SandboxClient.objects.create(client_id="other", client_secret="s2",
                                 redirect_uris=REDIRECT)
    other = client.post(f"{BASE}/token", {"grant_type": "authorization_code", "code": code,
                                          "redirect_uri": REDIRECT, "client_id": "other",
                                          "client_secret": "s2"})
    assert_error(other, 400, "invalid_grant")
    assert exchange(client, code).status_code == 200  # failed attempts did not burn it


@pytest.mark.parametrize(("fields", "missing"), [
    ({}, "grant_type"),
    ({"grant_type": "authorization_code", "redirect_uri": REDIRECT}, "code"),
    ({"grant_type": "authorization_code", "code": "x"}, "redirect_uri"),
    ({"grant_type": "refresh_token"}, "refresh_token"),
])
def test_missing_parameters_are_named(client, sandbox_client_row, fields, missing):
    assert_error(token_request(client, **fields), 400, "invalid_request",
                 f"Missing required parameter: {missing}")


def test_client_credentials(client, sandbox_client_row):
    wrong = client.post(f"{BASE}/token", {"grant_type": "refresh_token", "refresh_token": "x",
                                          "client_id": "cid", "client_secret": "wrong"})
    assert_error(wrong, 401, "invalid_client", "Invalid client credentials")
    unknown = client.post(f"{BASE}/token", {"grant_type": "refresh_token", "refresh_token": "x",
                                            "client_id": "nobody", "client_secret": "x"})
    assert_error(unknown, 401, "invalid_client", "Invalid client credentials")
    basic = base64.b64encode(f"cid:{TEST_SECRET}".encode()).decode()
    code = get_code(client)
    via_basic = client.post(f"{BASE}/token", {"grant_type": "authorization_code", "code": code,
                                              "redirect_uri": REDIRECT},
                            headers={"Authorization": f"Basic {basic}"})
    assert via_basic.status_code == 200


def test_unsupported_grant_type(client, sandbox_client_row):
    assert_error(token_request(client, grant_type="password"), 400, "unsupported_grant_type")


def _pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(b"v" * 40).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_pkce_verifier_must_match(client, sandbox_client_row):
    verifier, challenge = _pkce_pair()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    assert_error(exchange(client, get_code(client, **pkce)), 400, "invalid_grant")
    assert_error(exchange(client, get_code(client, **pkce), code_verifier="w" * 43), 400,
                 "invalid_grant")
    assert exchange(client, get_code(client, **pkce), code_verifier=verifier).status_code == 200


def test_refresh_rotates_and_keeps_the_grants_refresh_expiry(client, sandbox_client_row):
    configure(sandbox_client_row, response_style="envelope", refresh_lifetime=1000)
    first = tokens(client)["data"]
    time.sleep(1.1)
    second = token_request(client, grant_type="refresh_token",
                           refresh_token=first["refresh_token"]).json()["data"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["refresh_expires_in"] < first["refresh_expires_in"]  # not reset
    reused = token_request(client, grant_type="refresh_token",
                           refresh_token=first["refresh_token"])
    assert_error(reused, 400, "invalid_grant")
    third = token_request(client, grant_type="refresh_token",
                          refresh_token=second["refresh_token"])
    assert third.status_code == 200


def test_refresh_token_expires(client, sandbox_client_row):
    configure(sandbox_client_row, refresh_lifetime=1)
    body = tokens(client)
    time.sleep(1.1)
    assert_error(token_request(client, grant_type="refresh_token",
                               refresh_token=body["refresh_token"]),
                 400, "expired_token", "Refresh token has expired")


def test_lifetimes_are_configurable(client, sandbox_client_row):
    configure(sandbox_client_row, access_lifetime=2)
    body = tokens(client)
    assert body["expires_in"] == 2
    assert api(client, "webcast/fetch", body["access_token"]).status_code == 200
    time.sleep(2.1)
    assert_error(api(client, "webcast/fetch", body["access_token"]), 401, "token_expired",
                 "Access token has expired")


# -- revoke and introspect -------------------------------------------------------------

def revoke(client: Any, token: str, hint: str = "", **over: str) -> Any:
    body = {"token": token, "client_id": "cid", "client_secret": TEST_SECRET, **over}
    if hint:
        body["token_type_hint"] = hint
    return client.post(f"{BASE}/revoke", body)


def test_revoking_the_refresh_token_kills_the_grant(client, sandbox_client_row):
    body = tokens(client)
    assert revoke(client, body["refresh_token"], "refresh_token").status_code == 200
    assert_error(token_request(client, grant_type="refresh_token",
                               refresh_token=body["refresh_token"]),
                 400, "revoked_token", "Token has been revoked")
    assert_error(api(client, "webcast/fetch", body["access_token"]), 401, "revoked_token",
                 "Token has been revoked")


def test_revoking_an_access_token_leaves_the_refresh_token(client, sandbox_client_row):
    body = tokens(client)
    assert revoke(client, body["access_token"]).status_code == 200
    assert_error(api(client, "webcast/fetch", body["access_token"]), 401, "revoked_token")
    assert token_request(client, grant_type="refresh_token",
                         refresh_token=body["refresh_token"]).status_code == 200


def test_revoke_succeeds_for_unknown_tokens_but_not_bad_credentials(client,
                                                                    sandbox_client_row):
    assert revoke(client, "no-such-token").status_code == 200
    assert revoke(client, "no-such-token").json() == {"success": True}
    assert_error(revoke(client, "x", client_secret="wrong"), 401, "invalid_client")
    assert_error(revoke(client, ""), 400, "invalid_request",
                 "Missing required parameter: token")


def test_introspection(client, sandbox_client_row):
    body = tokens(client)

    def introspect(token: str) -> dict[str, Any]:
        return client.post(f"{BASE}/introspect", {"token": token, "client_id": "cid",
                                                  "client_secret": TEST_SECRET}).json()

    active = introspect(body["access_token"])
    assert active["active"] is True and active["token_type"] == "access_token"
    assert active["scope"] == "webcast:fetch webcast:live_check"
    assert active["client_id"] == "cid" and active["username"] == "sandbox_streamer"
    assert active["exp"] > active["iat"]
    assert introspect(body["refresh_token"])["token_type"] == "refresh_token"
    assert introspect("unknown") == {"active": False}
    revoke(client, body["refresh_token"])
    assert introspect(body["access_token"]) == {"active": False}


# -- userinfo and the API -------------------------------------------------------------

def test_userinfo_names_the_account(client, sandbox_client_row):
    body = tokens(client, scope="user:info")
    user = api(client, "tiktok/oauth/userinfo", body["access_token"]).json()["user"]
    assert set(user) == {"uid", "secUid", "nickName", "uniqueId", "region", "avatarUrl",
                         "roomId", "hasLivePermission", "isPrivateAccount"}
    assert user["uniqueId"] == "sandbox_streamer"
    assert user["avatarUrl"] == "http://testserver/sandbox/avatars/sandbox_streamer.svg"


def test_avatar_is_an_svg_for_known_accounts_only(client, sandbox_client_row):
    tokens(client, scope="user:info")  # the demo accounts exist once an authorization ran
    picture = client.get("/sandbox/avatars/sandbox_streamer.svg")
    assert picture.status_code == 200 and picture["Content-Type"] == "image/svg+xml"
    assert b">St</text>" in picture.content
    assert client.get("/sandbox/avatars/nobody.svg").status_code == 404
    assert client.post("/sandbox/avatars/sandbox_streamer.svg").status_code == 405


def _fill(svg: bytes) -> str:
    match = re.search(rb'<circle [^>]*fill="(#[0-9a-f]{6})"', svg)
    assert match
    return match.group(1).decode()


def test_the_demo_accounts_avatars_tell_apart(client, sandbox_client_row):
    """Two letters (of the handle's last word) and a colour per account: the demo's
    accounts, all "sandbox_...", were each an "S" before."""
    tokens(client, scope="user:info")
    pictures = {handle: client.get(f"/sandbox/avatars/{handle}.svg").content
                for handle in ("sandbox_streamer", "sandbox_viewer", "sandbox_wanderer")}
    assert b">St</text>" in pictures["sandbox_streamer"]
    assert b">Vi</text>" in pictures["sandbox_viewer"]
    assert b">Wa</text>" in pictures["sandbox_wanderer"]
    assert len({_fill(svg) for svg in pictures.values()}) == 3


def test_api_errors(client, sandbox_client_row):
    body = tokens(client)
    token = body["access_token"]
    assert_error(api(client, "webcast/fetch"), 401, "unauthorized",
                 "Missing Authorization header")
    assert_error(api(client, "webcast/fetch", Authorization="Basic abc"), 401, "unauthorized",
                 "Missing Authorization header")
    assert_error(api(client, "webcast/fetch", "esb_at_forged"), 401, "invalid_token",
                 "Access token is invalid")
    assert_error(api(client, "webcast/rankings", token), 403, "insufficient_scope",
                 "Token does not have required scope: webcast:rankings")
    # bulk_live_check accepts the documented webcast:live_check scope too.
    assert api(client, "webcast/bulk_live_check?user_numeric_ids=1", token).status_code == 200
    controls.expire_session("sandbox_streamer")
    assert_error(api(client, "webcast/fetch", token), 401, "session_expired",
                 "Underlying TikTok session has expired")
    # A new authorization is a new TikTok session.
    assert api(client, "webcast/fetch", tokens(client)["access_token"]).status_code == 200


def test_expire_access_token_control(client, sandbox_client_row):
    body = tokens(client)
    assert controls.expire_access_tokens(token=body["access_token"]) == 1
    assert_error(api(client, "webcast/fetch", body["access_token"]), 401, "token_expired")


def test_api_answers_are_deterministic(client, sandbox_client_row):
    token = tokens(client)["access_token"]
    one = client.post("/sandbox/webcast/fetch", {"uniqueId": "streamer"},
                      content_type="application/json",
                      headers={"Authorization": f"Bearer {token}"}).json()
    two = client.post("/sandbox/webcast/fetch", {"uniqueId": "streamer"},
                      content_type="application/json",
                      headers={"Authorization": f"Bearer {token}"}).json()
    assert one == two and one["room"]["uniqueId"] == "streamer"


def test_x_oauth_token_transport(client, sandbox_client_row):
    configure(sandbox_client_row, token_transport="x-oauth-token", api_key="k3y")
    token = tokens(client)["access_token"]
    assert_error(api(client, "webcast/fetch", token), 401, "unauthorized")
    assert_error(api(client, "webcast/fetch", **{"x-oauth-token": token}), 401, "unauthorized")
    ok = api(client, "webcast/fetch", **{"x-oauth-token": token, "x-api-key": "k3y"})
    assert ok.status_code == 200


# -- faults and counters ------------------------------------------------------------

def test_fail_next_fails_exactly_n_requests_of_one_endpoint(client, sandbox_client_row):
    token = tokens(client, scope="user:info webcast:fetch")["access_token"]
    controls.fail_next(2, 503, endpoint="webcast/fetch")
    assert_error(api(client, "webcast/fetch", token), 503, "temporarily_unavailable")
    assert api(client, "tiktok/oauth/userinfo", token).status_code == 200  # other endpoint
    assert_error(api(client, "webcast/fetch", token), 503, "temporarily_unavailable")
    assert api(client, "webcast/fetch", token).status_code == 200
    controls.fail_next(1)  # any endpoint, 500
    assert_error(revoke(client, "x"), 500, "server_error", "Internal server error")
    assert revoke(client, "x").status_code == 200


def test_rate_limit_and_latency(client, sandbox_client_row):
    token = tokens(client)["access_token"]
    controls.rate_limit(30, endpoint="webcast/fetch")
    limited = api(client, "webcast/fetch", token)
    assert limited.status_code == 429 and 1 <= int(limited["RateLimit-Reset"]) <= 30
    assert limited.json()["code"] == 429
    controls.rate_limit(0, endpoint="webcast/fetch")
    controls.set_latency(300, endpoint="webcast/fetch")
    started = time.monotonic()
    assert api(client, "webcast/fetch", token).status_code == 200
    assert time.monotonic() - started >= 0.3
    with pytest.raises(ValueError):
        controls.set_latency(10, endpoint="webcast/unknown")


def test_calls_are_counted_per_endpoint_and_reset(client, sandbox_client_row):
    token = tokens(client)["access_token"]
    for _ in range(3):
        api(client, "webcast/fetch", token)
    api(client, "webcast/fetch")  # refused calls count too
    assert controls.call_count("webcast/fetch") == 4
    assert controls.call_count("token") == 1 and controls.call_count("authorize") == 1
    controls.reset_counts()
    assert controls.call_counts() == {}


def test_control_json_endpoint(admin_client, sandbox_client_row):
    client = admin_client  # staff only (tests/test_sandbox_access.py: access and CSRF)
    response = client.post("/sandbox/control/api", {"action": "fail_next", "count": 1,
                                                    "status": 503, "endpoint": "token"},
                           content_type="application/json")
    assert response.status_code == 200
    assert response.json()["state"]["faults"][0]["fail_next"] == 1
    assert_error(token_request(client, grant_type="refresh_token", refresh_token="x"), 503,
                 "temporarily_unavailable")
    assert client.post("/sandbox/control/api", {"action": "reset"}).status_code == 415
    bad = client.post("/sandbox/control/api", {"action": "explode"},
                      content_type="application/json")
    assert bad.status_code == 400 and "Unknown action" in bad.json()["error"]
    assert client.get("/sandbox/control/api").json()["counts"]["token"] == 1


def test_control_page_never_shows_tokens_or_secrets(admin_client, sandbox_client_row):
    client = admin_client
    body = tokens(client)
    client.post("/sandbox/control/", {"action": "expire_session",
                                      "unique_id": "sandbox_streamer"})
    page = client.get("/sandbox/control/").content.decode()
    assert "Sandbox controls" in page and "@sandbox_streamer" in page
    for secret in (body["access_token"], body["refresh_token"], TEST_SECRET):
        assert secret not in page
    assert_error(api(client, "webcast/fetch", body["access_token"]), 401, "session_expired")


@pytest.mark.postgres  # in-memory SQLite shares one connection between server threads
@pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)
def test_counting_is_exact_under_concurrent_http(live_server, sandbox_browser):
    from concurrent.futures import ThreadPoolExecutor

    url = live_server.url + "/sandbox/webcast/fetch"

    def hit(_: int) -> int:
        return sandbox_browser.session.get(url, timeout=10).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(hit, range(30)))
    assert statuses == [401] * 30
    assert controls.call_count("webcast/fetch") == 30


# -- setup and checks --------------------------------------------------------------------

def test_ensure_demo_client_is_idempotent(db):
    sandbox, oauth = ensure_demo_client("http://127.0.0.1:8000/sandbox/",
                                        redirect_uris=["http://127.0.0.1:8000/oauth/callback/"])
    again, oauth_again = ensure_demo_client(
        "http://127.0.0.1:8000/sandbox", redirect_uris=["http://127.0.0.1:8000/oauth/callback/"])
    assert again.client_secret == sandbox.client_secret and oauth_again.pk == oauth.pk
    assert OAuthClient.objects.count() == 1 and SandboxClient.objects.count() == 1
    stored = OAuthClient.objects.get()
    assert stored.token_url == "http://127.0.0.1:8000/sandbox/tiktok/oauth/token"
    assert stored.client_secret == sandbox.client_secret and stored.fetch_userinfo


def test_system_check_warns_when_debug_is_off():
    with override_settings(DEBUG=False):
        ids = [m.id for m in run_checks(include_deployment_checks=False)]
    assert "euler_sandbox.W001" in ids
    with override_settings(DEBUG=True):
        assert "euler_sandbox.W001" not in [m.id for m in run_checks()]


def _permissions(client: Any, scope: str) -> tuple[str, str]:
    intro = client.get(f"{BASE}/authorize", params(scope=scope))
    rid = public_id(intro)
    return rid, client.get(f"{BASE}/authorize/{rid}/permissions").content.decode()


def _new(page: str) -> list[str]:
    return re.findall(r'<li class="scope new"><code>([^<]+)</code>', page)


def test_incremental_authorization_marks_the_newly_asked_scopes(client, sandbox_client_row):
    """The account last logged in with this browser (remembered like the TikTok app's
    session) already allowed this app some scopes: the others are marked "new", and the
    QR screen offers that account first."""
    _rid, first = _permissions(client, "user:info webcast:fetch")
    assert _new(first) == [] and 'id="sandbox-already"' not in first  # nobody known yet
    exchange(client, get_code(client, account="sandbox_viewer",
                              scope="user:info webcast:fetch"))
    rid, again = _permissions(client, "user:info webcast:fetch webcast:chat webcast:mute")
    assert _new(again) == ["webcast:chat", "webcast:mute"]
    assert '<li class="scope"><code>user:info</code>' in again
    assert "@sandbox_viewer already allowed Test App the others" in again
    assert "the 2 marked <strong>new</strong> are what it asks for now" in again
    qr = client.get(f"{BASE}/authorize/{rid}/qr").content.decode()
    assert '<option value="sandbox_viewer" selected>' in qr
    # Another app, or another browser: nothing to compare with, nothing marked.
    assert _new(_permissions(Client(), "user:info webcast:chat")[1]) == []


def test_nothing_is_marked_new_once_the_grant_is_revoked(client, sandbox_client_row):
    body = tokens(client, account="sandbox_streamer", scope="user:info")
    _rid, page = _permissions(client, "user:info webcast:chat")
    assert _new(page) == ["webcast:chat"]
    revoke(client, body["refresh_token"], "refresh_token")
    _rid, fresh = _permissions(client, "user:info webcast:chat")
    assert _new(fresh) == []  # a first consent again: every scope is asked anew
    assert "Last logged in with this browser as <strong>@sandbox_streamer</strong>" in fresh
