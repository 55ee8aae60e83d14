"""Accounts under concurrency on PostgreSQL: real threads, each on its own connection.

Two sign-ups of one new TikTok account at once end as one user, signed in twice; two
disconnects at once of a password-less user's two accounts leave one of them, so the
user always keeps a way in.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from django_euler_oauth import accounts
from django_euler_oauth.adapter import AccountAdapter
from django_euler_oauth.models import Connection

from .support.loopback import Answer
from .support.threads import in_threads

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROFILE = {"uid": "7000000000000000042", "uniqueId": "newcomer", "nickName": "New"}


class SlowAdapter(AccountAdapter):
    """A site that looks something up before allowing a sign-up (an invitation list):
    the later of two sign-ups finds the earlier one's user and account committed."""

    pauses = iter((0.1, 0.8))

    def is_signup_allowed(self, request: Any, userinfo: dict[str, Any]) -> bool:
        time.sleep(next(SlowAdapter.pauses, 0.0))
        return True


def tokens(n: int) -> Any:
    return SimpleNamespace(access_token=f"access-{n}", refresh_token=f"refresh-{n}",
                           scope="webcast:fetch user:info", expires_at=None,
                           refresh_expires_at=None)


def test_two_sign_ups_of_one_new_account_end_as_one_user(make_client, settings):
    settings.EULER_OAUTH_ACCOUNT_ADAPTER = "tests.test_accounts_pg.SlowAdapter"
    oauth = make_client(fetch_userinfo=True, scopes="webcast:fetch user:info")
    counter = iter(range(100))
    lock = threading.Lock()

    def sign_in() -> Any:
        with lock:
            n = next(counter)
        request = RequestFactory().get("/oauth/callback/")
        request.session = SessionStore()
        return accounts.sign_in(request, oauth, tokens(n), dict(PROFILE))

    results = in_threads(2, sign_in)
    assert not [r for r in results if isinstance(r, Exception)], results
    (first, created_first), (second, created_second) = results
    assert first.pk == second.pk and first.user_id == second.user_id
    assert sorted([created_first, created_second]) == [False, True]
    assert get_user_model().objects.count() == 1
    assert Connection.objects.count() == 1


def test_two_disconnects_at_once_leave_a_way_in(make_client, make_connection,
                                                django_user_model, monkeypatch, provider):
    provider.default("/tiktok/oauth/revoke", Answer(200, {}))
    oauth = make_client(base=provider.url, fetch_userinfo=True,
                        scopes="webcast:fetch user:info")
    user = django_user_model.objects.create_user("streamer")  # no usable password
    first = make_connection(user, oauth, external_id="uid-1", external_username="one")
    second = make_connection(user, oauth, external_id="uid-2", external_username="two")
    real = accounts.has_other_way_in

    def slow_check(connection: Connection) -> bool:  # widens the window between the two
        answer = real(connection)
        time.sleep(0.3)
        return answer

    monkeypatch.setattr(accounts, "has_other_way_in", slow_check)
    rows = [Connection.objects.get(pk=first.pk), Connection.objects.get(pk=second.pk)]
    turn = iter(rows)
    lock = threading.Lock()

    def disconnect() -> Any:
        with lock:
            row = next(turn)
        return accounts.disconnect_account(row)

    results = in_threads(2, disconnect)
    refused = [r for r in results if isinstance(r, accounts.LastWayIn)]
    assert len(refused) == 1, results
    assert Connection.objects.filter(status=Connection.Status.ACTIVE).count() == 1
