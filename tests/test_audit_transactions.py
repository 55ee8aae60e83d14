"""Audit rows outlive the caller's transaction, on SQLite and on PostgreSQL.

A delegate's call is made as the streamer: its row must stay whatever the
request's transaction does next. Under ``ATOMIC_REQUESTS`` a refused call let
out as a 403, and a mute that reached the provider in a request failing with a
500 afterwards, both end in a rollback; so does a plain ``transaction.atomic``
block left by an exception. Each keeps exactly one row. Outside any transaction
the row is written at once, as before; a transaction that commits keeps its row
once (never doubled).

Rows whose own connection is rolled back with them are not written behind the
caller's back; a full queue or a row that cannot be written in time is a warning.
The tests taking ``vendor`` run twice: ``[sqlite]`` in the default suite,
``[postgresql]`` with ``-m postgres`` on the throwaway cluster.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any

import pytest
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client
from django.urls import include, path

from django_euler_oauth import audit, teams
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.endpoints import ENDPOINTS_BY_NAME
from django_euler_oauth.errors import NotDelegated
from django_euler_oauth.models import AuditEntry, Connection
from django_euler_oauth.sandbox import controls

from .support.sandbox_fixtures import SAMPLES, SANDBOX_DATABASES

VIEWER = "7200000000000000042"
SETTLE = 10.0  # seconds the background writer is given (it needs milliseconds)


def refused_chat(request: HttpRequest, pk: int) -> HttpResponse:
    """A delegate without ``webcast:chat`` sends a chat: NotDelegated escapes (a 403)."""
    EulerAPI.for_request(request, Connection.objects.select_related("client").get(pk=pk)) \
        .send_room_chat(SAMPLES["room_id"], "hi")
    return HttpResponse("sent")


def mute_then_fail(request: HttpRequest, pk: int) -> HttpResponse:
    """A mute that reaches the provider, then the request fails (a 500)."""
    EulerAPI.for_request(request, Connection.objects.select_related("client").get(pk=pk)) \
        .mute_room_user(SAMPLES["room_id"], VIEWER, duration=5)
    raise RuntimeError("the request fails after the call")


def in_transaction(request: HttpRequest) -> HttpResponse:
    """Whether the view runs inside a transaction (ATOMIC_REQUESTS took effect)."""
    return JsonResponse({"atomic": not transaction.get_autocommit()})


urlpatterns = [
    path("audit-tx/refused/<int:pk>/", refused_chat),
    path("audit-tx/mute-then-fail/<int:pk>/", mute_then_fail),
    path("audit-tx/in-transaction/", in_transaction),
    path("", include("tests.urls")),
]

pytestmark = [pytest.mark.urls("tests.test_audit_transactions"),
              pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)]


@pytest.fixture(params=[pytest.param("sqlite", id="sqlite"),
                        pytest.param("postgresql", id="postgresql",
                                     marks=pytest.mark.postgres)])
def vendor(request: Any) -> str:
    """The database the test is meant for: it must be the one the suite runs on."""
    if connections["default"].vendor != request.param:
        pytest.skip(f"runs on {request.param}, not {connections['default'].vendor}")
    return str(request.param)


@pytest.fixture
def delegate(vendor: str, streamer: Connection, user: Any, moderator: Any) -> Any:
    """The moderator, delegated ``webcast:mute`` only on the streamer's connection."""
    teams.grant(streamer, moderator, "webcast:mute", by=user)
    return moderator


@pytest.fixture
def atomic_requests(monkeypatch: pytest.MonkeyPatch, delegate: Any) -> Client:
    """ATOMIC_REQUESTS on for the default database; the delegate's browser (no raising)."""
    monkeypatch.setitem(connections["default"].settings_dict, "ATOMIC_REQUESTS", True)
    web = Client(raise_request_exception=False)
    web.force_login(delegate)
    assert web.get("/audit-tx/in-transaction/").json() == {"atomic": True}
    return web


def rows_of(who: Any) -> list[tuple[str, str, str]]:
    """The delegate's audit rows, once the background writer has finished."""
    assert audit.flush(SETTLE)
    return list(AuditEntry.objects.filter(acting_user=who).order_by("pk")
                .values_list("endpoint", "outcome", "target"))


def test_atomic_requests_keep_the_row_of_a_refused_call_answered_403(
        atomic_requests, streamer, delegate):
    before = controls.call_counts()
    response = atomic_requests.get(f"/audit-tx/refused/{streamer.pk}/")
    assert response.status_code == 403
    assert controls.call_counts() == before  # refused before reaching the provider
    assert rows_of(delegate) == [("send_room_chat", "not_delegated", "")]


def test_atomic_requests_keep_the_row_of_a_mute_made_before_the_request_failed(
        atomic_requests, streamer, delegate):
    before = controls.call_counts()
    response = atomic_requests.get(f"/audit-tx/mute-then-fail/{streamer.pk}/")
    assert response.status_code == 500
    assert controls.call_counts() != before  # the mute reached the provider
    assert rows_of(delegate) == [("mute_room_user", "ok", VIEWER)]


def test_a_rolled_back_atomic_block_keeps_the_row_of_a_refused_call(streamer, delegate):
    api = EulerAPI(streamer, acting_user=delegate)
    with pytest.raises(NotDelegated), transaction.atomic():
        api.send_room_chat(SAMPLES["room_id"], "hi")
    assert rows_of(delegate) == [("send_room_chat", "not_delegated", "")]


def test_a_rolled_back_atomic_block_keeps_the_row_of_a_call_that_reached_the_provider(
        streamer, delegate):
    api = EulerAPI(streamer, acting_user=delegate)
    with pytest.raises(RuntimeError), transaction.atomic():
        api.mute_room_user(SAMPLES["room_id"], VIEWER, duration=5)
        raise RuntimeError("fails after the call")
    assert rows_of(delegate) == [("mute_room_user", "ok", VIEWER)]


def test_a_rolled_back_savepoint_in_an_open_transaction_never_makes_the_caller_wait(
        vendor, streamer, delegate, django_user_model):
    """The outer transaction has written (on SQLite it holds the only write lock): the
    row of the savepoint rolled back is written independently, on PostgreSQL at once,
    on SQLite when the outer transaction ends; the caller goes on meanwhile."""
    api = EulerAPI(streamer, acting_user=delegate)
    with transaction.atomic():
        django_user_model.objects.create_user("someone-else")
        started = time.monotonic()
        with pytest.raises(NotDelegated), transaction.atomic():
            api.send_room_chat(SAMPLES["room_id"], "hi")
        assert time.monotonic() - started < 1.0
        if vendor == "postgresql":
            assert audit.flush(SETTLE)  # written on a connection of its own, committed
            assert AuditEntry.objects.filter(acting_user=delegate).count() == 1
        else:
            assert not audit.flush(0.2)  # waits for this transaction's write lock
    assert rows_of(delegate) == [("send_room_chat", "not_delegated", "")]


def test_a_caller_rolled_back_with_the_row_is_left_out_of_it(
        vendor, streamer, django_user_model):
    """The acting user was created in the transaction that rolled back: the row is kept
    without them (as deleting the user would leave it)."""
    with pytest.raises(NotDelegated), transaction.atomic():
        stranger = django_user_model.objects.create_user("passer-by")
        EulerAPI(streamer, acting_user=stranger).send_room_chat(SAMPLES["room_id"], "hi")
    assert audit.flush(SETTLE)
    assert list(AuditEntry.objects.filter(connection=streamer).values_list(
        "acting_user", "endpoint", "outcome")) == [(None, "send_room_chat", "not_delegated")]


def test_calls_on_a_connection_rolled_back_with_them_leave_nothing_to_write(
        vendor, streamer, delegate, django_user_model, make_connection, caplog):
    """A connection created in the transaction that rolls back takes its calls' rows
    with it: the writer is not asked to write them (in a ``TestCase``, nothing is ever
    committed, and nothing must touch the database behind the test's back)."""
    caplog.set_level(logging.DEBUG, logger="django_euler_oauth.audit")
    with pytest.raises(NotDelegated), transaction.atomic():
        owner = django_user_model.objects.create_user("other-streamer")
        fresh = make_connection(owner, streamer.client, external_id="other",
                                scope="webcast:chat")
        EulerAPI(fresh, acting_user=delegate).send_room_chat(SAMPLES["room_id"], "hi")
    assert rows_of(delegate) == []
    assert "Audit row" not in caplog.text  # neither written nor dropped: never handed over


def test_a_savepoints_row_on_a_connection_created_in_the_open_transaction_waits_for_it(
        vendor, streamer, delegate, django_user_model, make_connection):
    """The connection is created in the outer transaction, the call's savepoint rolls
    back: the row is written once the connection is committed (not before: it would
    refer to a row nobody else can see yet)."""
    with transaction.atomic():
        owner = django_user_model.objects.create_user("other-streamer")
        fresh = make_connection(owner, streamer.client, external_id="other",
                                scope="webcast:chat")
        with pytest.raises(NotDelegated), transaction.atomic():
            EulerAPI(fresh, acting_user=delegate).send_room_chat(SAMPLES["room_id"], "hi")
        assert audit.flush(SETTLE)  # nothing handed over yet
        assert not AuditEntry.objects.filter(acting_user=delegate).exists()
    assert rows_of(delegate) == [("send_room_chat", "not_delegated", "")]


def test_a_committed_transaction_keeps_its_row_once(streamer, delegate):
    api = EulerAPI(streamer, acting_user=delegate)
    with transaction.atomic():
        with pytest.raises(NotDelegated):
            api.send_room_chat(SAMPLES["room_id"], "hi")
        # In the caller's transaction, the row is there at once.
        assert AuditEntry.objects.filter(acting_user=delegate).count() == 1
    assert rows_of(delegate) == [("send_room_chat", "not_delegated", "")]


def test_outside_a_transaction_the_row_is_written_at_once(streamer, delegate):
    assert transaction.get_autocommit()
    with pytest.raises(NotDelegated):
        EulerAPI(streamer, acting_user=delegate).send_room_chat(SAMPLES["room_id"], "hi")
    # No flush: the row is committed already.
    assert list(AuditEntry.objects.filter(acting_user=delegate).values_list(
        "endpoint", "outcome")) == [("send_room_chat", "not_delegated")]
    entry = audit.record(streamer, delegate, ENDPOINTS_BY_NAME["mute_room_user"],
                         {"room_id": SAMPLES["room_id"], "user_id": VIEWER})
    assert entry is not None and entry.pk is not None
    assert AuditEntry.objects.filter(pk=entry.pk, outcome="ok", target=VIEWER).exists()
    for secret in (streamer.access_token, streamer.refresh_token):
        assert secret not in repr(list(AuditEntry.objects.values()))


def test_a_full_queue_drops_the_row_with_a_warning_naming_connection_and_endpoint(
        vendor, streamer, delegate, monkeypatch, caplog):
    monkeypatch.setattr(audit, "MAX_PENDING", 0)
    caplog.set_level(logging.WARNING, logger="django_euler_oauth.audit")
    with pytest.raises(NotDelegated), transaction.atomic():
        EulerAPI(streamer, acting_user=delegate).send_room_chat(SAMPLES["room_id"], "hi")
    assert f"connection {streamer.pk}, endpoint send_room_chat" in caplog.text
    assert "dropped" in caplog.text
    assert streamer.access_token not in caplog.text
    assert streamer.refresh_token not in caplog.text
    assert rows_of(delegate) == []


@pytest.mark.parametrize("vendor", ["sqlite"], indirect=True)
def test_a_row_that_cannot_be_written_in_time_is_given_up_with_a_warning(
        vendor, streamer, delegate, monkeypatch, caplog, django_user_model):
    """SQLite (only there does the writer wait for the caller's transaction): the caller
    keeps the write lock longer than the writer may try; it gives up, bounded."""
    monkeypatch.setattr(audit, "RETRY_SECONDS", 0.3)
    caplog.set_level(logging.WARNING, logger="django_euler_oauth.audit")
    with transaction.atomic():
        django_user_model.objects.create_user("someone-else")
        with pytest.raises(NotDelegated), transaction.atomic():
            EulerAPI(streamer, acting_user=delegate).send_room_chat(SAMPLES["room_id"], "hi")
        assert audit.flush(SETTLE)  # done with it: given up
    assert f"connection {streamer.pk}, endpoint send_room_chat" in caplog.text
    assert "not written after" in caplog.text
    assert rows_of(delegate) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_a_writer_of_its_own():
    assert audit.flush(SETTLE)  # the parent's writer has run (or had nothing to do)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:  # the child: no thread, no queue, no rows of its parent's
        fresh = False
        try:
            writer = audit._writer
            fresh = writer.pid == os.getpid() and writer._thread is None \
                and writer._queue.empty() and audit.flush(0.1)
        finally:
            os._exit(0 if fresh else 1)  # never back into the parent's test session
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
