"""The refresh's transaction on PostgreSQL: plain ``transaction.atomic`` + ``select_for_update``.

The row is committed before any signal is sent, a receiver may open transactions of its
own, no code that is not ours runs between the provider's answer and the commit of the
rotated token (save receivers, log handlers), every failure rolls back and frees the
lock, the lock wait stays bounded, and a database session the server closed is replaced
as Django does (``CONN_HEALTH_CHECKS``). PostgreSQL only (``-m postgres``); every other
reader of the row is another thread with its own database connection.
"""


from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.db import close_old_connections, connections, transaction
from django.db import connection as db
from django.db.models.signals import post_save, pre_save

from django_euler_oauth import signals
from django_euler_oauth.errors import InvalidGrant, RetryableError
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import Outcome, refresh_connection, refresh_if_expiring

from .support.loopback import Answer, token_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TOKEN = "/tiktok/oauth/token"
IDLE = psycopg.pq.TransactionStatus.IDLE
WAIT = 30.0


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """The SQL this thread's connection sends while the test runs."""
    sent: list[str] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool,
                context: Any) -> Any:
        sent.append(sql)
        return execute(sql, params, many, context)

    with db.execute_wrapper(wrapper):
        yield sent


def elsewhere(work: Callable[[], Any]) -> Any:
    """``work()`` in another thread, on a database connection of its own."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = work()
        except BaseException as err:  # raised again below
            result["error"] = err
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(WAIT)
    assert not thread.is_alive(), "the other connection hung"
    if "error" in result:
        raise result["error"]
    return result["value"]


def stored(pk: int) -> dict[str, Any]:
    """What another connection sees of connection ``pk`` (committed data only)."""
    def read() -> dict[str, Any]:
        row = Connection.objects.get(pk=pk)
        return {"access_token": row.access_token, "refresh_token": row.refresh_token,
                "status": row.status, "last_error": row.last_error}
    return elsewhere(read)


def lock_is_free(pk: int) -> bool:
    """Whether another connection can take connection ``pk``'s row lock at once."""
    def take() -> bool:
        with transaction.atomic():
            try:
                Connection.objects.select_for_update(nowait=True).get(pk=pk)
            except Exception:  # psycopg's LockNotAvailable, wrapped by Django
                return False
        return True
    return elsewhere(take)


def idle() -> bool:
    return db.connection is not None and db.connection.pgconn.transaction_status == IDLE


def test_a_refresh_is_one_transaction_committed_before_the_signal(
        provider, oauth, make_connection, user, statements):
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    seen_by_receiver: list[dict[str, Any]] = []

    def receiver(sender: Any, connection: Connection, **kwargs: Any) -> None:
        seen_by_receiver.append(stored(connection.pk))

    signals.token_refreshed.connect(receiver)
    try:
        del statements[:]
        outcome = refresh_if_expiring(conn.pk, within=datetime.timedelta(0))
        assert outcome == (Outcome.REFRESHED, "")
    finally:
        signals.token_refreshed.disconnect(receiver)
    # Plain ORM statements inside transaction.atomic: the bounded lock wait, the locked
    # read, one UPDATE (the receiver's reads are on another connection).
    assert "lock_timeout" in statements[0], statements
    assert sum("FOR UPDATE" in sql for sql in statements) == 1, statements
    assert [sql.split()[0] for sql in statements if sql.startswith("UPDATE")] == ["UPDATE"]
    assert not any("COMMIT" in sql or sql.startswith("BEGIN") for sql in statements)
    # The signal came after the commit: another connection already saw the new tokens.
    assert seen_by_receiver == [{"access_token": "access-1", "refresh_token": "refresh-1",
                                 "status": "active", "last_error": ""}]
    assert idle() and lock_is_free(conn.pk)


def test_a_receiver_may_open_a_transaction_of_its_own(provider, oauth, make_connection, user):
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    noted: list[str] = []

    def receiver(sender: Any, connection: Connection, **kwargs: Any) -> None:
        with transaction.atomic():
            Connection.objects.filter(pk=connection.pk).update(status_reason="noted")
            noted.append(connection.access_token)

    signals.token_refreshed.connect(receiver)
    try:
        row = refresh_connection(Connection.objects.get(pk=conn.pk))
    finally:
        signals.token_refreshed.disconnect(receiver)
    assert row.access_token == "access-1" and noted == ["access-1"]
    assert Connection.objects.get(pk=conn.pk).status_reason == "noted"
    assert idle()


@pytest.fixture
def seen_at_signal() -> Iterator[Callable[[Any], list[dict[str, Any]]]]:
    """``watch(signal)``: what another connection saw of the row when ``signal`` came."""
    seen: list[dict[str, Any]] = []
    watched: list[tuple[Any, Any]] = []

    def receiver(sender: Any, connection: Connection, **kwargs: Any) -> None:
        seen.append(stored(connection.pk))

    def watch(signal: Any) -> list[dict[str, Any]]:
        signal.connect(receiver)
        watched.append((signal, receiver))
        return seen

    yield watch
    for signal, watcher in watched:
        signal.disconnect(watcher)


def test_a_transient_failure_is_committed_then_signalled(provider, oauth, make_connection,
                                                        user, recorder, seen_at_signal):
    provider.default(TOKEN, Answer(503, {"error": "temporarily_unavailable"}))
    conn = make_connection(user, oauth, expires_in=-5)
    seen = seen_at_signal(signals.refresh_failed)
    with pytest.raises(RetryableError):
        refresh_connection(Connection.objects.get(pk=conn.pk))
    assert len(seen) == 1
    assert seen[0]["access_token"] == "access-0" and seen[0]["refresh_token"] == "refresh-0"
    assert seen[0]["last_error"] != ""  # the one thing a failed refresh stores, committed
    assert recorder.count("refresh_failed") == 1 and recorder.count("token_refreshed") == 0
    assert idle() and lock_is_free(conn.pk)


def test_a_dead_grant_is_committed_then_signalled(provider, oauth, make_connection, user,
                                                 recorder, seen_at_signal):
    provider.default(TOKEN, Answer(400, {"error": "invalid_grant"}))
    conn = make_connection(user, oauth, expires_in=-5)
    seen = seen_at_signal(signals.reauthorization_required)
    with pytest.raises(InvalidGrant):
        refresh_connection(Connection.objects.get(pk=conn.pk))
    assert [row["status"] for row in seen] == ["reauthorization_required"]
    assert recorder.count("reauthorization_required") == 1
    assert idle() and lock_is_free(conn.pk)


def test_an_unexpected_error_rolls_back_and_frees_the_lock(provider, oauth, make_connection,
                                                          user, monkeypatch, recorder):
    conn = make_connection(user, oauth, expires_in=-5)

    def broken(self: Any, refresh_token: str, **kwargs: Any) -> Any:
        # Write through the ORM first: the rollback must undo it.
        Connection.objects.filter(pk=conn.pk).update(status_reason="half-done")
        raise ZeroDivisionError("a bug in the middle of the refresh")

    monkeypatch.setattr("django_euler_oauth.refresh.ProviderClient.refresh", broken)
    with pytest.raises(ZeroDivisionError):
        refresh_connection(Connection.objects.get(pk=conn.pk))
    assert idle() and lock_is_free(conn.pk)
    row = Connection.objects.get(pk=conn.pk)  # this connection is usable as before
    assert (row.status_reason, row.access_token) == ("", "access-0")
    assert recorder.count("token_refreshed") + recorder.count("refresh_failed") == 0


def test_the_lock_wait_stays_bounded(provider, oauth, make_connection, user, settings):
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    settings.EULER_OAUTH_LOCK_TIMEOUT = 0.5
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with transaction.atomic():
            Connection.objects.select_for_update().get(pk=conn.pk)
            holding.set()
            release.wait(WAIT)

    holder = threading.Thread(target=lambda: elsewhere(hold), daemon=True)
    holder.start()
    try:
        assert holding.wait(WAIT)
        with pytest.raises(RetryableError):
            refresh_connection(Connection.objects.get(pk=conn.pk), force=True)
        assert idle()
        with db.cursor() as cursor:  # SET LOCAL: the lock_timeout ended with the transaction
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "0"
    finally:
        release.set()
        holder.join(WAIT)
    assert not provider.requests_to(TOKEN)
    assert refresh_connection(Connection.objects.get(pk=conn.pk)).access_token == "access-1"


def test_an_outer_transaction_keeps_its_lock_timeout(provider, oauth, make_connection, user):
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    with transaction.atomic():  # ATOMIC_REQUESTS
        with db.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '7s'")
        assert refresh_connection(Connection.objects.get(pk=conn.pk)).access_token == "access-1"
        with db.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "7s"
    assert stored(conn.pk)["access_token"] == "access-1"


class _DatabaseLogHandler(logging.Handler):
    """A log handler that writes each record through the ORM in a transaction of its own
    (as a "database log" package does)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.seen: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        pk = int(record.args[0]) if isinstance(record.args, tuple) else 0
        with transaction.atomic():
            Connection.objects.filter(pk=pk).update(status_reason="logged")
        self.seen.append({"in_atomic_block": db.in_atomic_block, **stored(pk)})


def test_a_database_log_handler_runs_after_the_failure_is_committed(
        provider, oauth, make_connection, user, recorder):
    provider.default(TOKEN, Answer(503, {"error": "temporarily_unavailable"}))
    conn = make_connection(user, oauth, expires_in=-5)
    handler = _DatabaseLogHandler()
    logger = logging.getLogger("django_euler_oauth.refresh")
    logger.addHandler(handler)
    try:
        with pytest.raises(RetryableError):  # the typed error, not a ProgrammingError
            refresh_connection(Connection.objects.get(pk=conn.pk))
    finally:
        logger.removeHandler(handler)
    assert len(handler.seen) == 1
    # The handler ran outside the refresh's transaction and saw the failure committed.
    assert handler.seen[0]["in_atomic_block"] is False
    assert handler.seen[0]["last_error"] != ""
    row = Connection.objects.get(pk=conn.pk)
    assert row.last_error != "" and row.status_reason == "logged"
    assert (row.access_token, row.refresh_token) == ("access-0", "refresh-0")
    assert recorder.count("refresh_failed") == 1
    assert idle() and lock_is_free(conn.pk)


@pytest.mark.parametrize("signal", [pre_save, post_save])
def test_no_save_receiver_runs_between_the_answer_and_the_commit(
        provider, oauth, make_connection, user, signal):
    """A receiver that fails (or opens ``atomic()``) cannot lose a rotated refresh token:
    the provider has already spent the old one."""
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    calls: list[str] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append("called")
        with transaction.atomic():
            Connection.objects.get_or_create(pk=conn.pk)
        raise RuntimeError("a receiver of the site's")

    signal.connect(receiver, sender=Connection)
    try:
        row = refresh_connection(Connection.objects.get(pk=conn.pk))
    finally:
        signal.disconnect(receiver, sender=Connection)
    assert calls == []
    assert row.access_token == "access-1"
    assert stored(conn.pk)["refresh_token"] == "refresh-1"
    assert idle() and lock_is_free(conn.pk)


def test_a_session_the_server_closed_is_replaced(provider, oauth, make_connection, user,
                                                 settings):
    """With persistent connections and health checks, a refresh after the database
    server ended the session reconnects instead of failing."""
    provider.handle(TOKEN, lambda received: Answer(200, token_body(
        f"access-{len(provider.requests_to(TOKEN))}", "refresh-x")))
    conn = make_connection(user, oauth, expires_in=-5)
    db.settings_dict["CONN_MAX_AGE"] = 600
    db.settings_dict["CONN_HEALTH_CHECKS"] = True
    try:
        close_old_connections()  # a request starts
        assert refresh_connection(Connection.objects.get(pk=conn.pk)).access_token == "access-1"
        row = Connection.objects.get(pk=conn.pk)
        row.expires_at -= datetime.timedelta(days=1)
        row.save(update_fields=["expires_at"])
        close_old_connections()  # the request ends: the session is kept (CONN_MAX_AGE)
        pid = db.connection.info.backend_pid
        assert elsewhere(lambda: _terminate(pid))
        close_old_connections()  # the next request starts
        # The refresh is the first thing this request sends to the database.
        assert refresh_connection(row).access_token == "access-2"
        assert db.connection.info.backend_pid != pid
    finally:
        db.settings_dict["CONN_MAX_AGE"] = 0
        db.settings_dict["CONN_HEALTH_CHECKS"] = False
    assert stored(conn.pk)["access_token"] == "access-2" and idle()


def _terminate(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        return bool(cursor.fetchone()[0])
