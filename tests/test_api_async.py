"""The awaitable twin of every typed API method: the same call, from async code.

Each twin has its method's parameters (one definition), checks the delegation and writes
the audit row exactly as the method does, refreshes once, and never blocks the event loop
(the loop keeps running other tasks while a call waits on the provider).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from django_euler_oauth import teams
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.endpoints import ENDPOINTS
from django_euler_oauth.errors import NotDelegated
from django_euler_oauth.models import AuditEntry
from django_euler_oauth.sandbox import controls

from .support.loopback import Answer
from .support.sandbox_fixtures import SAMPLES, sandbox_db


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_every_typed_method_has_an_awaitable_twin_with_its_parameters(endpoint):
    method = getattr(EulerAPI, endpoint.name)
    twin = getattr(EulerAPI, "a" + endpoint.name)
    assert inspect.iscoroutinefunction(twin)
    assert twin.__wrapped__ is method
    assert endpoint.name in twin.__doc__


@sandbox_db
def test_a_delegates_awaited_calls_are_checked_and_audited(streamer, user, moderator):
    teams.grant(streamer, moderator, "webcast:mute", by=user)
    api = EulerAPI(streamer, acting_user=moderator)

    async def moderate() -> Any:
        answer = await api.amute_room_user(SAMPLES["room_id"], "7200000000000000009",
                                           duration=5)
        with pytest.raises(NotDelegated):
            await api.asend_room_chat(SAMPLES["room_id"], "hi")
        return answer

    before = controls.call_counts()
    assert isinstance(async_to_sync(moderate)(), dict)
    assert controls.call_counts() != before
    rows = list(AuditEntry.objects.order_by("pk").values_list("endpoint", "outcome"))
    assert rows == [("mute_room_user", "ok"), ("send_room_chat", "not_delegated")]


@pytest.mark.django_db(transaction=True)
def test_an_awaited_call_leaves_the_event_loop_free(provider, oauth, user, make_connection):
    conn = make_connection(user, oauth, scope="webcast:mute")
    provider.default("/webcast/rooms/r1/moderation/mutes",
                     Answer(200, {"code": 200, "response": {}}, delay=0.5))
    ticks: list[float] = []

    async def tick() -> None:
        deadline = time.monotonic() + 0.45
        while time.monotonic() < deadline:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.02)

    async def both() -> None:
        await asyncio.gather(EulerAPI(conn).aretrieve_room_muted_users("r1"), tick())

    async_to_sync(both)()
    assert len(ticks) >= 10  # the loop ran the ticker all along the 0.5 s call
