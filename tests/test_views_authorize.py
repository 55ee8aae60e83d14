"""The authorize view: login, client resolution, scopes, the redirect to the provider."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from django_euler_oauth.state import SESSION_KEY

AUTHORIZE = "/oauth/authorize/"
DOCUMENTED = {"client_id", "redirect_uri", "response_type", "scope", "state"}


def params_of(response):
    assert response.status_code == 302, response.content[:500]
    location = urlsplit(response["Location"])
    return location, {k: v[0] for k, v in parse_qs(location.query).items()}


def assert_stays_on_site(response):
    assert response.status_code != 302 or not response["Location"].startswith("http")
    assert "Location" not in response


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_requires_login(client, make_client):
    make_client()
    response = client.get(AUTHORIZE, {"scope": "webcast:fetch"})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    assert "eulerstream" not in response["Location"]


def test_post_is_refused(logged_in, make_client):
    make_client()
    assert logged_in.post(AUTHORIZE).status_code == 405


def test_redirect_has_exactly_the_documented_parameters(logged_in, make_client):
    oauth = make_client(base="https://provider.example")
    location, params = params_of(logged_in.get(AUTHORIZE, {"scope": "webcast:fetch"}))
    assert f"{location.scheme}://{location.netloc}{location.path}" == \
        "https://provider.example/tiktok/oauth/authorize"
    assert set(params) == DOCUMENTED
    assert params["client_id"] == oauth.client_id
    assert params["response_type"] == "code"
    assert params["scope"] == "webcast:fetch"
    assert params["redirect_uri"] == "http://testserver/oauth/callback/"
    assert len(params["state"]) >= 43
    assert "secret-value" not in response_text(location)


def response_text(location):
    return location.geturl()


def test_redirect_is_not_cached(logged_in, make_client):
    make_client()
    response = logged_in.get(AUTHORIZE)
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_default_scopes_of_the_client(logged_in, make_client):
    make_client(scopes="webcast:fetch webcast:rankings")
    _loc, params = params_of(logged_in.get(AUTHORIZE))
    assert params["scope"] == "webcast:fetch webcast:rankings"


def test_blank_scope_means_the_client_defaults(logged_in, make_client):
    # A form or template that sends "scope=" asks for nothing in particular.
    make_client(scopes="webcast:fetch webcast:chat")
    _loc, params = params_of(logged_in.get(AUTHORIZE, {"scope": "  "}))
    assert params["scope"] == "webcast:fetch webcast:chat"


def test_no_scope_at_all_is_an_error(logged_in, make_client):
    make_client(scopes="")
    response = logged_in.get(AUTHORIZE)
    assert response.status_code == 400
    assert_stays_on_site(response)
    assert "Invalid permissions requested." in response.content.decode()


def test_requested_scopes_are_deduplicated_in_order(logged_in, make_client):
    make_client()
    _loc, params = params_of(logged_in.get(
        AUTHORIZE, {"scope": "webcast:chat webcast:fetch  webcast:chat"}))
    assert params["scope"] == "webcast:chat webcast:fetch"


@pytest.mark.parametrize("scope", ["webcast:invalid_scope", "webcast:fetch admin:all",
                                   "<script>alert(1)</script>"])
def test_unknown_scope_never_leaves_the_site(logged_in, make_client, scope):
    make_client()
    response = logged_in.get(AUTHORIZE, {"scope": scope})
    assert response.status_code == 400
    assert_stays_on_site(response)
    body = response.content.decode()
    assert "Invalid permissions requested." in body
    assert "<script>alert(1)</script>" not in body
    assert SESSION_KEY not in logged_in.session  # nothing pending


def test_known_scopes_setting(logged_in, make_client):
    make_client()
    with override_settings(EULER_OAUTH_KNOWN_SCOPES=["webcast:fetch", "webcast:new_thing"]):
        _loc, params = params_of(logged_in.get(AUTHORIZE, {"scope": "webcast:new_thing"}))
        assert params["scope"] == "webcast:new_thing"
        assert logged_in.get(AUTHORIZE, {"scope": "webcast:chat"}).status_code == 400


def test_oversized_scope_is_refused(logged_in, make_client):
    make_client()
    response = logged_in.get(AUTHORIZE, {"scope": "webcast:fetch " * 500})
    assert response.status_code == 400
    assert_stays_on_site(response)


def test_unknown_client_is_a_clear_error(logged_in, make_client):
    make_client()
    response = logged_in.get(AUTHORIZE, {"client": "nope"})
    assert response.status_code == 404
    assert_stays_on_site(response)
    assert "This TikTok connection is not available." in response.content.decode()


def test_inactive_client_is_a_clear_error(logged_in, make_client):
    make_client()
    inactive = make_client(is_active=False)
    response = logged_in.get(AUTHORIZE, {"client": inactive.slug})
    assert response.status_code == 404
    assert_stays_on_site(response)


def test_named_client(logged_in, make_client):
    make_client()
    second = make_client()
    _loc, params = params_of(logged_in.get(AUTHORIZE, {"client": second.slug}))
    assert params["client_id"] == second.client_id


def test_default_client_setting(logged_in, make_client):
    make_client()
    chosen = make_client()
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT=chosen.slug):
        _loc, params = params_of(logged_in.get(AUTHORIZE))
    assert params["client_id"] == chosen.client_id


def test_default_client_setting_naming_nothing(logged_in, make_client):
    make_client()
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT="missing"):
        response = logged_in.get(AUTHORIZE)
    assert response.status_code == 404
    assert_stays_on_site(response)


def test_the_only_active_client_is_the_default(logged_in, make_client):
    only = make_client()
    make_client(is_active=False)
    _loc, params = params_of(logged_in.get(AUTHORIZE))
    assert params["client_id"] == only.client_id


def test_ambiguous_default_is_an_error(logged_in, make_client):
    make_client()
    make_client()
    response = logged_in.get(AUTHORIZE)
    assert response.status_code == 404
    assert_stays_on_site(response)


def test_no_client_at_all_is_an_error(logged_in, db):
    response = logged_in.get(AUTHORIZE)
    assert response.status_code == 404
    assert_stays_on_site(response)


def test_redirect_uri_set_on_the_client(logged_in, make_client):
    make_client(redirect_uri="https://app.example/tiktok/callback/")
    _loc, params = params_of(logged_in.get(AUTHORIZE))
    assert params["redirect_uri"] == "https://app.example/tiktok/callback/"


def test_redirect_uri_built_from_a_secure_request(logged_in, make_client):
    make_client()
    _loc, params = params_of(logged_in.get(AUTHORIZE, secure=True, HTTP_HOST="localhost"))
    assert params["redirect_uri"] == "https://localhost/oauth/callback/"


def test_pkce_when_the_client_enables_it(logged_in, make_client):
    make_client(use_pkce=True)
    _loc, params = params_of(logged_in.get(AUTHORIZE))
    assert set(params) == DOCUMENTED | {"code_challenge", "code_challenge_method"}
    assert params["code_challenge_method"] == "S256"


def test_each_tab_gets_its_own_state(logged_in, make_client):
    make_client()
    states = {params_of(logged_in.get(AUTHORIZE))[1]["state"] for _ in range(3)}
    assert len(states) == 3
    assert len(logged_in.session[SESSION_KEY]) == 3
