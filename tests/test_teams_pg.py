"""Teams on PostgreSQL: many delegates at once on one streamer's connection.

Sixteen delegates call with an expired access token: the owner's connection is
refreshed once at the provider (the same single-flight refresh the owner's own
calls use). The owner disconnects while a delegate calls: every call either
succeeded or was refused cleanly, and after the disconnect nothing reaches the
provider.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections

from django_euler_oauth import teams
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import EulerOAuthError, NotDelegated
from django_euler_oauth.models import AuditEntry, Connection
from django_euler_oauth.revocation import disconnect
from django_euler_oauth.sandbox import controls

from .support.sandbox_fixtures import SAMPLES, SANDBOX_DATABASES, connect_all_scopes

pytestmark = [pytest.mark.postgres,
              pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)]

DELEGATES = 16
DEADLINE = 60


def in_thread(work: Any) -> Any:
    def run(*args: Any) -> Any:
        try:
            return work(*args)
        finally:
            connections.close_all()
    return run


def test_sixteen_delegates_with_an_expired_token_refresh_once(
        client, user, make_sandbox_oauth, sandbox_browser, django_user_model):
    streamer = connect_all_scopes(client, user, make_sandbox_oauth, sandbox_browser)
    moderators = [django_user_model.objects.create_user(f"mod{i}") for i in range(DELEGATES)]
    for moderator in moderators:
        teams.grant(streamer, moderator, "webcast:mute webcast:ban", by=user)
    old = streamer.access_token
    assert controls.expire_access_tokens(unique_id="sandbox_streamer") == 1
    tokens_before = controls.call_count("token")
    barrier = threading.Barrier(DELEGATES, timeout=DEADLINE)

    @in_thread
    def call(moderator: Any) -> Any:
        row = Connection.objects.select_related("client").get(pk=streamer.pk)
        barrier.wait()
        return EulerAPI(row, acting_user=moderator).retrieve_room_muted_users(
            SAMPLES["room_id"])

    with ThreadPoolExecutor(DELEGATES) as pool:
        answers = list(pool.map(call, moderators, timeout=DEADLINE))
    assert all(isinstance(answer, dict) for answer in answers)
    assert controls.call_count("token") == tokens_before + 1
    streamer.refresh_from_db()
    assert streamer.access_token != old
    assert AuditEntry.objects.filter(outcome="ok").count() == DELEGATES


def test_owner_disconnects_while_a_delegate_calls(
        client, user, make_sandbox_oauth, sandbox_browser, django_user_model):
    streamer = connect_all_scopes(client, user, make_sandbox_oauth, sandbox_browser)
    moderator = django_user_model.objects.create_user("mod")
    teams.grant(streamer, moderator, "webcast:mute", by=user)
    started = threading.Event()
    outcomes: list[str] = []

    @in_thread
    def keep_muting() -> None:
        for i in range(40):  # bounded
            row = Connection.objects.select_related("client").get(pk=streamer.pk)
            try:
                EulerAPI(row, acting_user=moderator).mute_room_user(
                    SAMPLES["room_id"], f"72000000000000000{i:02d}")
                outcomes.append("ok")
            except NotDelegated:
                outcomes.append("refused")
                return
            except EulerOAuthError as err:  # the token revoked mid-call
                outcomes.append(err.code)
            started.set()

    worker = threading.Thread(target=keep_muting)
    worker.start()
    assert started.wait(DEADLINE)
    disconnect(Connection.objects.get(pk=streamer.pk))
    worker.join(DEADLINE)
    assert not worker.is_alive()
    assert outcomes[0] == "ok" and outcomes[-1] == "refused"
    assert set(outcomes) <= {"ok", "refused", "revoked_token", "invalid_token"}
    before = controls.call_counts()
    row = Connection.objects.select_related("client").get(pk=streamer.pk)
    with pytest.raises(NotDelegated):
        EulerAPI(row, acting_user=moderator).mute_room_user(SAMPLES["room_id"],
                                                            "7200000000000000099")
    assert controls.call_counts() == before
    assert AuditEntry.objects.filter(acting_user=moderator).count() == len(outcomes) + 1
    assert row.delegations.live().count() == 0
