"""Authorization state: unguessable, session- and user-bound, single use, short-lived."""

from __future__ import annotations

import base64
import hashlib

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory, override_settings

from django_euler_oauth import state as state_store
from django_euler_oauth.errors import StateError


@pytest.fixture
def make_request(user):
    def make(session=None, who=user):
        request = RequestFactory().get("/oauth/callback/")
        request.session = session if session is not None else SessionStore()
        request.user = who
        return request
    return make


def begin(request, **kwargs):
    values = {"client": "main", "scope": "webcast:fetch", "redirect_uri": "https://s/cb/",
              "next_url": "/next/", "use_pkce": False}
    values.update(kwargs)
    return state_store.begin(request, **values)


def test_state_is_unguessable(make_request):
    request = make_request()
    states = {begin(request)[0].state for _ in range(5)}
    with override_settings(EULER_OAUTH_MAX_PENDING_STATES=1000):
        states |= {begin(make_request())[0].state for _ in range(200)}
    assert len(states) == 205
    for value in states:
        assert len(value) >= 43  # 32 random bytes, base64url
        assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_")


def test_round_trip_and_single_use(make_request):
    request = make_request()
    pending, challenge = begin(request, next_url="/back/")
    assert challenge is None and pending.code_verifier == ""
    got = state_store.consume(request, pending.state)
    assert (got.client, got.scope, got.redirect_uri, got.next_url) == \
        ("main", "webcast:fetch", "https://s/cb/", "/back/")
    with pytest.raises(StateError):
        state_store.consume(request, pending.state)


def test_pkce_pair_is_stored_with_the_state(make_request):
    request = make_request()
    pending, challenge = begin(request, use_pkce=True)
    got = state_store.consume(request, pending.state)
    digest = hashlib.sha256(got.code_verifier.encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == challenge


def test_repr_hides_state_and_verifier(make_request):
    pending, _ = begin(make_request(), use_pkce=True)
    assert pending.state not in repr(pending)
    assert pending.code_verifier not in repr(pending)


@pytest.mark.parametrize("given", [None, "", "x" * 513, "not-the-state"])
def test_bad_states_are_refused(make_request, given):
    request = make_request()
    pending, _ = begin(request)
    with pytest.raises(StateError):
        state_store.consume(request, given)
    # The real one still works: a bad attempt does not burn it.
    assert state_store.consume(request, pending.state).client == "main"


def test_tampered_state_is_refused(make_request):
    request = make_request()
    pending, _ = begin(request)
    tampered = pending.state[:-1] + ("A" if pending.state[-1] != "A" else "B")
    with pytest.raises(StateError):
        state_store.consume(request, tampered)
    with pytest.raises(StateError):
        state_store.consume(request, pending.state.upper() if pending.state.upper() !=
                            pending.state else pending.state.lower())


def test_state_from_another_session_is_refused(make_request):
    pending, _ = begin(make_request())
    with pytest.raises(StateError):
        state_store.consume(make_request(), pending.state)


def test_state_for_another_user_is_refused(make_request, django_user_model):
    session = SessionStore()
    pending, _ = begin(make_request(session=session))
    mallory = django_user_model.objects.create_user("mallory", "m@example.com", "pw")
    with pytest.raises(StateError, match="another user"):
        state_store.consume(make_request(session=session, who=mallory), pending.state)
    with pytest.raises(StateError):
        state_store.consume(make_request(session=session, who=AnonymousUser()), pending.state)


def test_expired_state_is_refused(make_request):
    request = make_request()
    pending, _ = begin(request)
    entries = request.session[state_store.SESSION_KEY]
    entries[0]["created"] -= 601
    request.session[state_store.SESSION_KEY] = entries
    with pytest.raises(StateError, match="expired"):
        state_store.consume(request, pending.state)


def test_state_lifetime_setting(make_request):
    request = make_request()
    pending, _ = begin(request)
    entries = request.session[state_store.SESSION_KEY]
    entries[0]["created"] -= 100
    request.session[state_store.SESSION_KEY] = entries
    with override_settings(EULER_OAUTH_STATE_LIFETIME=60):
        with pytest.raises(StateError):
            state_store.consume(request, pending.state)
    pending, _ = begin(request)
    entries = request.session[state_store.SESSION_KEY]
    entries[-1]["created"] -= 100
    request.session[state_store.SESSION_KEY] = entries
    with override_settings(EULER_OAUTH_STATE_LIFETIME=300):
        assert state_store.consume(request, pending.state)


def test_several_tabs(make_request):
    request = make_request()
    first, _ = begin(request, scope="webcast:fetch")
    second, _ = begin(request, scope="webcast:chat")
    assert state_store.consume(request, second.state).scope == "webcast:chat"
    assert state_store.consume(request, first.state).scope == "webcast:fetch"


def test_max_pending_states_drops_the_oldest(make_request):
    request = make_request()
    with override_settings(EULER_OAUTH_MAX_PENDING_STATES=3):
        made = [begin(request)[0] for _ in range(4)]
        assert len(request.session[state_store.SESSION_KEY]) == 3
        with pytest.raises(StateError):
            state_store.consume(request, made[0].state)
        for pending in made[1:]:
            assert state_store.consume(request, pending.state)


def test_damaged_session_entry_is_refused(make_request):
    request = make_request()
    pending, _ = begin(request)
    entries = request.session[state_store.SESSION_KEY]
    entries[0]["unexpected"] = "field"
    request.session[state_store.SESSION_KEY] = entries
    with pytest.raises(StateError):
        state_store.consume(request, pending.state)
    request.session[state_store.SESSION_KEY] = "garbage"
    with pytest.raises(StateError):
        state_store.consume(request, pending.state)


def test_purge_expired(make_request):
    request = make_request()
    begin(request)
    keep, _ = begin(request)
    entries = request.session[state_store.SESSION_KEY]
    entries[0]["created"] -= 10_000
    request.session[state_store.SESSION_KEY] = entries
    state_store.purge_expired(request)
    assert [e["state"] for e in request.session[state_store.SESSION_KEY]] == [keep.state]
