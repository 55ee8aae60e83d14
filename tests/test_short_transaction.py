"""The refresh's short transaction on PostgreSQL (issue #13, item 2).

Outside any transaction, through psycopg 3 with client-side binding, a refresh sends
two statements: ``BEGIN; SELECT ... FOR UPDATE`` and ``UPDATE ...; COMMIT``. These
tests hold it to what the four-statement transaction guaranteed: the row is
committed before any signal is sent, a receiver may open transactions of its own,
every failure rolls back and frees the lock, the lock wait stays bounded, and where
a short transaction cannot be had (an outer transaction, a save receiver,
server-side binding) the ordinary one is used. PostgreSQL only (``-m postgres``);
every other reader of the row is another thread with its own database connection.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection as db
from django.db import connections, transaction
from django.db.models.signals import pre_save

from django_euler_oauth import signals
from django_euler_oauth.errors import InvalidGrant, RetryableError, TransportError
from django_euler_oauth.locking import commit_suffix, locked_connection
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import Outcome, refresh_connection, refresh_if_expiring

from .loopback import Answer, token_body

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


def test_a_refresh_is_two_statements_committed_before_the_signal(
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
    assert len(statements) == 2, statements  # the receiver's reads are on another connection
    assert statements[0].startswith("BEGIN; SELECT") and "FOR UPDATE" in statements[0]
    assert statements[1].startswith("UPDATE") and statements[1].endswith("; COMMIT")
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
        with db.cursor() as cursor:  # the short transaction's lock_timeout ended with it
            cursor.execute("SHOW lock_timeout")
            assert cursor.fetchone()[0] == "0"
    finally:
        release.set()
        holder.join(WAIT)
    assert not provider.requests_to(TOKEN)
    assert refresh_connection(Connection.objects.get(pk=conn.pk)).access_token == "access-1"


def _receiver_on_save(seen: list[bool]) -> Callable[..., None]:
    def receiver(sender: Any, **kwargs: Any) -> None:
        seen.append(db.in_atomic_block)
    return receiver


@pytest.mark.parametrize("where", ["outer transaction", "save receiver",
                                   "server-side binding"])
def test_the_ordinary_transaction_where_a_short_one_cannot_be_had(
        provider, oauth, make_connection, user, statements, where):
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    row = Connection.objects.get(pk=conn.pk)
    seen: list[bool] = []
    receiver = _receiver_on_save(seen)
    if where == "save receiver":
        pre_save.connect(receiver, sender=Connection)
    if where == "server-side binding":  # several statements in one query are refused there
        db.ensure_connection()
        db.connection.cursor_factory = psycopg.Cursor
    try:
        del statements[:]
        if where == "outer transaction":
            with transaction.atomic():
                refresh_connection(row)
        else:
            refresh_connection(row)
    finally:
        pre_save.disconnect(receiver, sender=Connection)
        if where == "server-side binding":
            db.close()
    assert row.access_token == "access-1"
    assert not any(sql.startswith("BEGIN") or "COMMIT" in sql for sql in statements), statements
    assert any("FOR UPDATE" in sql for sql in statements)
    if where == "save receiver":
        assert seen == [True]  # the receiver ran inside the ordinary transaction
    assert stored(conn.pk)["access_token"] == "access-1"


def test_a_nested_lock_joins_the_short_transaction(oauth, make_connection, user, django_user_model):
    first = make_connection(user, oauth)
    other = make_connection(django_user_model.objects.create_user("bob"), oauth)
    with locked_connection(first.pk, short=True) as outer_row:
        with locked_connection(other.pk) as inner_row:
            assert commit_suffix(db.alias) == ""  # the inner block must not commit
            inner_row.status_reason = "inner"
            Connection.objects.save_fields(inner_row, ("status_reason",), last=True)
        assert not idle()  # still the outer transaction
        outer_row.status_reason = "outer"
        Connection.objects.save_fields(outer_row, ("status_reason",), last=True)
        assert idle()  # committed by that last write
    assert elsewhere(lambda: sorted(Connection.objects.filter(pk__in=[first.pk, other.pk])
                                    .values_list("status_reason", flat=True))) == ["inner",
                                                                                   "outer"]


def test_a_failed_nested_block_rolls_back_the_whole_short_transaction(oauth, make_connection,
                                                                      user, django_user_model):
    first = make_connection(user, oauth)
    other = make_connection(django_user_model.objects.create_user("bob"), oauth)
    with pytest.raises(TransportError):
        with locked_connection(first.pk, short=True) as outer_row:
            outer_row.status_reason = "outer"
            Connection.objects.save_fields(outer_row, ("status_reason",))
            with locked_connection(other.pk):
                raise TransportError("the provider went away")
    assert idle()
    assert Connection.objects.get(pk=first.pk).status_reason == ""
    assert lock_is_free(first.pk) and lock_is_free(other.pk)


def test_logged_queries_still_show_the_refresh(provider, oauth, make_connection, user,
                                               django_user_model):
    """While queries are logged (DEBUG, assertNumQueries), the refresh's statements are
    logged too: the kept cursor is not used then."""
    from django.test.utils import CaptureQueriesContext

    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    before = make_connection(user, oauth, expires_in=-5)
    refresh_connection(Connection.objects.get(pk=before.pk))  # a cursor is kept from here
    conn = make_connection(django_user_model.objects.create_user("bob"), oauth, expires_in=-5)
    with CaptureQueriesContext(db) as logged:
        refresh_connection(Connection.objects.get(pk=conn.pk))
    sql = [query["sql"] for query in logged.captured_queries]
    assert sum(1 for text in sql if text.startswith("BEGIN; SELECT")) == 1, sql
    assert sum(1 for text in sql if text.startswith("UPDATE") and "COMMIT" in text) == 1, sql


def test_a_refresh_after_the_database_connection_was_replaced(provider, oauth,
                                                              make_connection, user):
    provider.handle(TOKEN, lambda received: Answer(200, token_body(
        f"access-{len(provider.requests_to(TOKEN))}", "refresh-x")))
    first = make_connection(user, oauth, expires_in=-5)
    assert refresh_connection(Connection.objects.get(pk=first.pk)).access_token == "access-1"
    db.close()  # the cursor kept for the refresh path belonged to the old session
    Connection.objects.filter(pk=first.pk).update(
        expires_at=Connection.objects.get(pk=first.pk).expires_at
        - datetime.timedelta(days=1))
    assert refresh_connection(Connection.objects.get(pk=first.pk)).access_token == "access-2"
    assert stored(first.pk)["access_token"] == "access-2" and idle()
