"""Management commands: euler_oauth_refresh, euler_oauth_rotate_keys, euler_oauth_cleanup."""

from __future__ import annotations

import datetime
import threading
import time

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_euler_oauth import crypto
from django_euler_oauth.locking import locked_connection
from django_euler_oauth.models import Connection, OAuthClient

from .support.commands import make_many, run
from .support.loopback import Answer, Received, RotatingTokenEndpoint
from .support.raw_sql import raw_values

TOKEN = "/tiktok/oauth/token"
OLD_KEY = "qZ4P0wq5lH2rL0h7pZ6gq0m2cZ9Q3Yx8v1b2n3m4k5A="  # tests/settings.py's key
NEW_KEY = Fernet.generate_key().decode()


# --- euler_oauth_refresh ---------------------------------------------------------------

def test_refresh_streams_in_chunks_and_refreshes_each_once(provider, oauth, django_user_model,
                                                           recorder):
    endpoint = RotatingTokenEndpoint(*(f"r-{i}" for i in range(30)))
    provider.handle(TOKEN, endpoint)
    pks = make_many(oauth, django_user_model, 30)
    make_many(oauth, django_user_model, 3, expires_in=7200, prefix="fresh")  # outside window
    with CaptureQueriesContext(db) as ctx:
        output = run("euler_oauth_refresh", "--chunk-size", "7", "--within", "600")
    assert sorted(endpoint.used) == sorted(f"r-{i}" for i in range(30))
    assert endpoint.rejected == 0
    assert "Refreshed 30, skipped 0, reauthorization required 0, failed 0 (of 30" in output
    # Streaming: one keyset query per chunk of at most 7 pks, never the whole table.
    chunk_queries = [q["sql"] for q in ctx.captured_queries
                     if "LIMIT 7" in q["sql"] and "django_euler_oauth_connection" in q["sql"]]
    assert len(chunk_queries) == 5  # 7+7+7+7+2
    assert output.count("queued") == 5
    rows = Connection.objects.filter(pk__in=pks)
    assert all(row.access_token.startswith("access-") for row in rows)
    assert recorder.count("token_refreshed") == 30


def test_refresh_dry_run_asks_nothing(provider, oauth, django_user_model):
    make_many(oauth, django_user_model, 4)
    output = run("euler_oauth_refresh", "--dry-run")
    assert "Dry run: 4 connections" in output and provider.received == []


def test_refresh_reports_failures_and_exits_non_zero(provider, oauth, django_user_model,
                                                     recorder):
    endpoint = RotatingTokenEndpoint(*(f"r-{i}" for i in range(1, 5)))

    def answer(request: Received) -> Answer:
        if request.form.get("refresh_token") == "r-4":
            return Answer(503, "")
        return endpoint(request)

    provider.handle(TOKEN, answer)
    make_many(oauth, django_user_model, 5)  # r-0 is unknown to the provider: dead grant
    with pytest.raises(CommandError) as info:
        run("euler_oauth_refresh")
    message = str(info.value)
    assert "Refreshed 3, skipped 0, reauthorization required 1, failed 1" in message
    assert "temporarily_unavailable: 1" in message
    assert recorder.count("reauthorization_required") == 1
    assert recorder.count("refresh_failed") == 1
    # Nothing is lost: a second run refreshes only what still needs it.
    provider.handle(TOKEN, endpoint)
    endpoint.live.add("r-4")
    assert "Refreshed 1, skipped 0" in run("euler_oauth_refresh")


def test_refresh_rejects_bad_arguments(db):
    with pytest.raises(CommandError):
        run("euler_oauth_refresh", "--workers", "0")
    with pytest.raises(CommandError):
        run("euler_oauth_refresh", "--within", "-1")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_refresh_200_connections_concurrently_on_postgres(provider, oauth, django_user_model,
                                                          recorder):
    endpoint = RotatingTokenEndpoint(*(f"r-{i}" for i in range(200)), delay=0.05)

    def answer(request: Received) -> Answer:
        if request.form.get("refresh_token") == "r-7":
            return Answer(500, {"error": "server_error"})
        return endpoint(request)

    provider.handle(TOKEN, answer)
    make_many(oauth, django_user_model, 200)
    started = time.monotonic()
    with CaptureQueriesContext(db) as ctx, pytest.raises(CommandError) as info:
        run("euler_oauth_refresh", "--workers", "8", "--chunk-size", "25")
    elapsed = time.monotonic() - started
    assert "Refreshed 199, skipped 0, reauthorization required 0, failed 1" in str(info.value)
    assert "server_error: 1" in str(info.value)
    assert len(endpoint.used) == 199 and len(set(endpoint.used)) == 199
    assert endpoint.rejected == 0
    assert len(provider.requests_to(TOKEN)) == 200  # each connection asked once
    assert endpoint.max_in_flight >= 2, "refreshes did not overlap"
    # Sequential would take at least 200 x 0.05 s at the provider alone.
    assert elapsed < 200 * 0.05 * 2
    chunk_queries = [q for q in ctx.captured_queries if "LIMIT 25" in q["sql"]]
    assert len(chunk_queries) == 9  # 8 chunks of 25, then an empty one
    print(f"200 refreshes, 8 workers, provider delay 50 ms: {elapsed:.2f}s, "
          f"max in flight {endpoint.max_in_flight}")


# --- euler_oauth_rotate_keys ---------------------------------------------------------



def plaintexts() -> dict[str, str]:
    values = {}
    for conn in Connection.objects.all():
        values[f"c{conn.pk}.a"], values[f"c{conn.pk}.r"] = conn.access_token, conn.refresh_token
    for client in OAuthClient.objects.all():
        values[f"o{client.pk}.s"] = client.client_secret
    return values


def test_rotate_keys_reencrypts_everything_idempotently(oauth, django_user_model, settings):
    make_many(oauth, django_user_model, 5)
    before_raw, before_plain = raw_values(), plaintexts()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    output = run("euler_oauth_rotate_keys", "--batch-size", "2")
    assert "Re-encrypted 11 values, 0 already current" in output
    after = raw_values()
    assert all(after[key] != before_raw[key] for key in before_raw)
    assert all(crypto.is_current(value) for value in after.values())
    # The old key can go now.
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]
    assert plaintexts() == before_plain
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert "Re-encrypted 0 values, 11 already current" in run("euler_oauth_rotate_keys")
    assert raw_values() == after


def test_rotate_keys_resumes_after_a_pk(oauth, django_user_model, settings):
    pks = make_many(oauth, django_user_model, 4)
    before = raw_values()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    output = run("euler_oauth_rotate_keys", "--start-after", str(pks[1]))
    assert "Re-encrypted 5 values" in output  # the client secret + 2 x 2 tokens
    after = raw_values()
    for pk in pks[:2]:
        assert after[f"c{pk}.a"] == before[f"c{pk}.a"]
    for pk in pks[2:]:
        assert after[f"c{pk}.a"] != before[f"c{pk}.a"]
    assert "Re-encrypted 4 values, 5 already current" in run("euler_oauth_rotate_keys")


def test_rotate_keys_does_not_lose_a_token_stored_meanwhile(oauth, django_user_model, settings,
                                                            monkeypatch):
    pks = make_many(oauth, django_user_model, 3)
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    target = pks[1]
    real_rotate = crypto.rotate
    fired = []

    def rotate_with_a_refresh_in_between(ciphertext: str, what: str = "a value") -> str:
        rotated = real_rotate(ciphertext, what)
        if f"pk={target}" in what and not fired:
            fired.append(what)
            # A refresh of this connection commits between our read and our write.
            row = Connection.objects.get(pk=target)
            row.access_token, row.refresh_token = "access-new", "refresh-new"
            row.save()
        return rotated

    monkeypatch.setattr(crypto, "rotate", rotate_with_a_refresh_in_between)
    output = run("euler_oauth_rotate_keys")
    assert fired and "(1 changed meanwhile)" in output
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]
    row = Connection.objects.get(pk=target)
    assert (row.access_token, row.refresh_token) == ("access-new", "refresh-new")
    assert Connection.objects.get(pk=pks[0]).access_token == "a-0"


def test_rotate_keys_names_rows_no_key_decrypts(oauth, django_user_model, settings):
    pks = make_many(oauth, django_user_model, 3)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    with db.cursor() as cursor:
        cursor.execute("UPDATE django_euler_oauth_connection SET access_token = %s WHERE id = %s",
                       [foreign, pks[1]])
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    with pytest.raises(CommandError) as info:
        run("euler_oauth_rotate_keys")
    message = str(info.value)
    assert f"Connection.access_token of Connection pk={pks[1]}" in message
    assert "lost" not in message and foreign not in message
    assert "Re-encrypted 6 values" in message  # everything else was done
    assert Connection.objects.get(pk=pks[2]).access_token == "a-2"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rotate_keys_waits_for_an_inflight_refresh_on_postgres(oauth, django_user_model,
                                                               settings):
    from django.db import connections

    pks = make_many(oauth, django_user_model, 3)
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    holding = threading.Event()

    def refresh_in_flight() -> None:
        try:
            with locked_connection(pks[1]) as row:
                holding.set()
                time.sleep(0.5)  # the provider is answering
                row.access_token, row.refresh_token = "access-new", "refresh-new"
                row.save()
        finally:
            connections.close_all()

    thread = threading.Thread(target=refresh_in_flight, daemon=True)
    thread.start()
    assert holding.wait(10)
    run("euler_oauth_rotate_keys", "--batch-size", "10")
    thread.join(timeout=30)
    assert not thread.is_alive()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]
    row = Connection.objects.get(pk=pks[1])
    assert (row.access_token, row.refresh_token) == ("access-new", "refresh-new")
    assert Connection.objects.get(pk=pks[0]).access_token == "a-0"


# --- euler_oauth_cleanup -----------------------------------------------------------

def test_cleanup_marks_expired_refresh_tokens_once(oauth, django_user_model, recorder):
    pks = make_many(oauth, django_user_model, 4)
    past = timezone.now() - datetime.timedelta(minutes=1)
    Connection.objects.filter(pk__in=pks[:2]).update(refresh_expires_at=past)
    Connection.objects.filter(pk=pks[2]).update(
        refresh_expires_at=past, status=Connection.Status.REVOKED)
    output = run("euler_oauth_cleanup", "--chunk-size", "1")
    assert "Marked 2 connections" in output and "clearsessions" in output
    statuses = dict(Connection.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in pks] == ["reauthorization_required"] * 2 + [
        "revoked", "active"]
    assert set(Connection.objects.filter(pk__in=pks[:2]).values_list("status_reason",
                                                                     flat=True)) == {
        "expired_token"}
    assert [e["reason"] for e in recorder.of("reauthorization_required")] == [
        "expired_token"] * 2
    assert "Marked 0 connections" in run("euler_oauth_cleanup")
    assert recorder.count("reauthorization_required") == 2


def test_commands_have_help():
    from django.core.management import load_command_class

    for name in ("euler_oauth_refresh", "euler_oauth_rotate_keys", "euler_oauth_cleanup"):
        assert load_command_class("django_euler_oauth", name).help
