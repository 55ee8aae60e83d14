"""Key rotation while the site is serving, and what a removed key does.

- PostgreSQL (``-m postgres``): 300 connections, six threads refreshing (through
  a loopback provider that rotates refresh tokens and refuses a used one) and
  reading tokens while ``euler_oauth_rotate_keys`` runs in another thread. Then
  the old key is dropped: every token decrypts and is the last one the provider
  issued for its connection (so no rotated refresh token was lost: each
  refreshes once more), and raw SQL shows only current-key ciphertext.
- SQLite: the same, sequentially: refreshes between the command's batches, of
  connections both ahead of and behind it.
- A removed old key without rotating: reading, refreshing, the API and the
  middleware raise ``EncryptionKeyError`` naming model, field and pk (never an
  empty token), and the rotate and refresh commands exit non-zero naming every
  value they could not read, changing nothing.
"""

from __future__ import annotations

import datetime
import io
import random
import threading
import time
from collections import Counter
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import connection as db
from django.db import connections
from django.utils import timezone

from django_euler_oauth import crypto, maintenance, signals
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import EncryptionKeyError
from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.refresh import get_access_token, refresh_connection

from .support.loopback import Answer, Received, RotatingTokenEndpoint
from .support.raw_sql import raw_values

TOKEN = "/tiktok/oauth/token"
OLD_KEY = "qZ4P0wq5lH2rL0h7pZ6gq0m2cZ9Q3Yx8v1b2n3m4k5A="  # tests/settings.py's key
NEW_KEY = Fernet.generate_key().decode()
DEADLINE = 60.0  # seconds the live rotation may take before the test fails


class ChainEndpoint(RotatingTokenEndpoint):
    """A rotating token endpoint that remembers what replaced each refresh token."""

    def __init__(self, *initial: str, delay: float = 0.0) -> None:
        super().__init__(*initial, delay=delay)
        self.successor: dict[str, tuple[str, str]] = {}

    def _answer(self, request: Received) -> Answer:
        answer = super()._answer(request)
        if answer.status == 200:
            with self._lock:
                self.successor[request.form["refresh_token"]] = (
                    answer.body["access_token"], answer.body["refresh_token"])
        return answer

    def last_issued(self, access: str, refresh: str) -> tuple[str, str]:
        """The tokens the provider last issued down the chain that starts at ``refresh``."""
        with self._lock:
            for _ in range(len(self.successor) + 1):
                if refresh not in self.successor:
                    return access, refresh
                access, refresh = self.successor[refresh]
        raise AssertionError("a cycle in the refresh chain")


def make_connections(client: OAuthClient, django_user_model: Any, count: int,
                     expired_every: int = 3) -> list[int]:
    """``count`` connections (tokens ``a-i``/``r-i``); every ``expired_every``-th expired."""
    users = django_user_model.objects.bulk_create(
        [django_user_model(username=f"rot{i}") for i in range(count)])
    if users[0].pk is None:
        users = list(django_user_model.objects.filter(username__startswith="rot")
                     .order_by("pk"))
    now = timezone.now()
    Connection.objects.bulk_create([
        Connection(user=user, client=client, access_token=f"a-{i}", refresh_token=f"r-{i}",
                   scope="webcast:fetch",
                   expires_at=now + datetime.timedelta(
                       seconds=-5 if i % expired_every == 0 else 3600),
                   refresh_expires_at=now + datetime.timedelta(days=30))
        for i, user in enumerate(users)])
    return list(Connection.objects.filter(client=client).order_by("pk")
                .values_list("pk", flat=True))




class Refreshed:
    """Counts ``token_refreshed`` (sent in any thread)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        signals.token_refreshed.connect(self.receive, weak=False, dispatch_uid="rotation-live")

    def receive(self, sender: Any, **kwargs: Any) -> None:
        with self._lock:
            self.count += 1

    def close(self) -> None:
        signals.token_refreshed.disconnect(dispatch_uid="rotation-live")


def check_after_rotation(pks: list[int], endpoint: ChainEndpoint, settings: Any,
                         secret: str) -> None:
    """With only the new key: everything decrypts, is current, and is the provider's last."""
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]
    raw = raw_values()
    assert len(raw) == 2 * len(pks) + 1
    current = Fernet(NEW_KEY)
    for name, value in raw.items():
        assert value, f"{name} is empty"
        current.decrypt(value.encode())  # raises InvalidToken if not new-key ciphertext
    assert OAuthClient.objects.get().client_secret == secret
    rows = {row.pk: row for row in Connection.objects.all()}
    for index, pk in enumerate(pks):
        row = rows[pk]
        expected = endpoint.last_issued(f"a-{index}", f"r-{index}")
        assert (row.access_token, row.refresh_token) == expected, f"connection {pk}"
        assert row.status == Connection.Status.ACTIVE
    # No rotated refresh token was lost: each one the site holds still refreshes.
    endpoint.delay = 0.0
    before = endpoint.issued
    for pk in pks:
        refresh_connection(Connection.objects.get(pk=pk), force=True)
    assert endpoint.issued == before + len(pks)
    assert endpoint.rejected == 0
    assert Connection.objects.filter(status=Connection.Status.ACTIVE).count() == len(pks)


@pytest.fixture
def oauth(make_client: Any, provider: Any) -> OAuthClient:
    client: OAuthClient = make_client(base=provider.url)
    return client


# --- while serving (PostgreSQL) --------------------------------------------------------------

@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_rotation_while_refreshing_and_reading_loses_nothing(oauth, provider, django_user_model,
                                                             settings):
    assert db.vendor == "postgresql"
    count, threads = 300, 6
    pks = make_connections(oauth, django_user_model, count)
    index_of = {pk: i for i, pk in enumerate(pks)}
    endpoint = ChainEndpoint(*(f"r-{i}" for i in range(count)), delay=0.003)
    provider.handle(TOKEN, endpoint)
    refreshed = Refreshed()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]  # step 1: the new key first

    stop = threading.Event()
    errors: list[str] = []
    refresh_times: list[float] = []
    reads = Counter[str]()
    lock = threading.Lock()

    def serve(seed: int) -> None:
        rng = random.Random(seed)
        deadline = time.monotonic() + DEADLINE
        try:
            for _ in range(5000):  # bounded in count as well as in time
                if stop.is_set() or time.monotonic() > deadline:
                    return
                pk = rng.choice(pks)
                try:
                    row = Connection.objects.select_related("client").get(pk=pk)
                    if rng.random() < 0.4:
                        refresh_connection(row, force=True)
                        with lock:
                            refresh_times.append(time.monotonic())
                    else:
                        token = get_access_token(row)  # refreshes the expired third once
                        if token != f"a-{index_of[pk]}" and not token.startswith("access-"):
                            raise AssertionError(f"connection {pk} read a foreign token")
                        with lock:
                            reads["token"] += 1
                except Exception as err:
                    with lock:
                        errors.append(f"{pk}: {type(err).__name__}: {err}")
                    return
        finally:
            connections.close_all()

    workers = [threading.Thread(target=serve, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    warm_deadline = time.monotonic() + 20
    while len(refresh_times) < 30 and time.monotonic() < warm_deadline and not errors:
        time.sleep(0.01)

    output = io.StringIO()
    outcome: dict[str, Any] = {}

    def rotate() -> None:
        try:
            call_command("euler_oauth_rotate_keys", "--batch-size", "20", stdout=output)
        except BaseException as err:  # reported below
            outcome["error"] = err
        finally:
            connections.close_all()

    rotation_began = time.monotonic()
    rotator = threading.Thread(target=rotate, daemon=True)
    rotator.start()
    rotator.join(timeout=DEADLINE)
    rotation_ended = time.monotonic()
    assert not rotator.is_alive(), "the rotation did not finish in time"
    time.sleep(0.2)  # a little more traffic after the rotation
    stop.set()
    for worker in workers:
        worker.join(timeout=DEADLINE)
    assert not any(worker.is_alive() for worker in workers)
    refreshed.close()

    assert not errors, errors[:5]
    assert "error" not in outcome, outcome
    assert "Re-encrypted" in output.getvalue()
    during = sum(rotation_began <= t <= rotation_ended for t in refresh_times)
    assert during > 0, "no refresh overlapped the rotation: the test proved nothing"
    assert refreshed.count == endpoint.issued  # one signal per refresh the provider answered
    check_after_rotation(pks, endpoint, settings, "secret-value-1")
    print(f"\nrotation of {count} connections in {rotation_ended - rotation_began:.2f}s "
          f"with {threads} threads serving: {during} refreshes during it, "
          f"{len(refresh_times)} forced refreshes and {reads['token']} token reads in all, "
          f"provider issued {endpoint.issued}, rejected {endpoint.rejected}")


# --- sequentially (SQLite and PostgreSQL alike) ----------------------------------------------

@pytest.mark.django_db
def test_rotation_between_refreshes_loses_nothing(oauth, provider, django_user_model, settings):
    count = 30
    pks = make_connections(oauth, django_user_model, count)
    endpoint = ChainEndpoint(*(f"r-{i}" for i in range(count)))
    provider.handle(TOKEN, endpoint)
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    ahead_and_behind: list[tuple[int, int]] = []

    def between_batches(model: str, summary: maintenance.RotateSummary) -> None:
        if model != "Connection" or summary.last_pk is None:
            return
        last = summary.last_pk
        behind = max(pk for pk in pks if pk <= last)
        ahead = [pk for pk in pks if pk > last]
        # A connection already rotated and one not yet: each refreshed, its token read.
        for pk in [behind, *ahead[:1]]:
            row = refresh_connection(Connection.objects.get(pk=pk), force=True)
            assert row.access_token.startswith("access-")
        ahead_and_behind.append((behind, ahead[0] if ahead else 0))

    summary = maintenance.rotate_keys(batch_size=7, progress=between_batches)
    assert not summary.errors
    assert len(ahead_and_behind) == 5  # batches of 7 over 30 rows
    # Tokens the refreshes stored ahead of the command were already current: not rotated twice.
    assert summary.current == 2 * 4  # the next row's two tokens, after each full batch
    assert summary.rotated == 2 * count + 1 - summary.current
    # The command agrees there is nothing left to do, and exits 0.
    out = io.StringIO()
    call_command("euler_oauth_rotate_keys", stdout=out)
    assert f"Re-encrypted 0 values, {2 * count + 1} already current" in out.getvalue()
    check_after_rotation(pks, endpoint, settings, "secret-value-1")


# --- a removed key, without rotating -------------------------------------------------------------

def run_command(*argv: str, capsys: Any) -> tuple[int, str]:
    """``manage.py <argv>`` as cron runs it: (exit code, stdout + stderr)."""
    code = 0
    try:
        ManagementUtility(["manage.py", *argv]).execute()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.django_db
def test_removed_key_is_a_clear_error_never_an_empty_token(oauth, provider, django_user_model,
                                                           settings, client, capsys):
    pks = make_connections(oauth, django_user_model, 3, expired_every=2)  # 0 and 2 expired
    endpoint = ChainEndpoint(*(f"r-{i}" for i in range(3)))
    provider.handle(TOKEN, endpoint)
    before = raw_values()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]  # the old key removed, nothing rotated

    def names(pk: int) -> list[str]:
        return [f"Connection.access_token of Connection pk={pk}",
                f"Connection.refresh_token of Connection pk={pk}"]

    # Reading names model, field and row; it never hands out "" or the ciphertext.
    for pk in pks:
        row = Connection.objects.get(pk=pk)
        for field, name in zip(("access_token", "refresh_token"), names(pk), strict=True):
            with pytest.raises(EncryptionKeyError) as info:
                getattr(row, field)
            assert name in str(info.value)
            assert before[f"c{pk}.{field[0]}"] not in str(info.value)
    with pytest.raises(EncryptionKeyError, match=f"OAuthClient.client_secret of OAuthClient "
                                                 f"pk={oauth.pk}"):
        _ = OAuthClient.objects.get().client_secret
    # Every way to a token: an error, not a falsy token (a view could not tell why).
    fresh, expired = (Connection.objects.get(pk=pks[1]), Connection.objects.get(pk=pks[0]))
    with pytest.raises(EncryptionKeyError, match=f"pk={pks[1]}"):
        get_access_token(fresh)
    with pytest.raises(EncryptionKeyError, match=f"pk={pks[0]}"):
        refresh_connection(expired)
    with pytest.raises(EncryptionKeyError):
        EulerAPI(Connection.objects.get(pk=pks[1])).get("/webcast/rankings")
    client.force_login(Connection.objects.get(pk=pks[1]).user)
    with pytest.raises(EncryptionKeyError, match=f"pk={pks[1]}"):
        client.get("/whoami/")
    assert provider.received == []  # nothing reached the provider

    # The rotate command names each value it cannot read and exits 1, changing nothing.
    code, output = run_command("euler_oauth_rotate_keys", capsys=capsys)
    assert code == 1
    assert "Re-encrypted 0 values" in output and "7 values could not be re-encrypted" in output
    for pk in pks:
        for name in names(pk):
            assert name in output
    assert f"OAuthClient.client_secret of OAuthClient pk={oauth.pk}" in output
    assert not any(value in output for value in before.values())
    # The refresh command fails loudly too, naming the connections and the cause.
    code, output = run_command("euler_oauth_refresh", capsys=capsys)
    assert code == 1
    assert "EncryptionKeyError" in output
    assert output.split("Connections: ")[1].split()[:2] == [f"{pks[0]},", str(pks[2])]
    assert raw_values() == before

    # Putting the old key back (after the new one) restores everything; then rotate.
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert [Connection.objects.get(pk=pk).refresh_token for pk in pks] == ["r-0", "r-1", "r-2"]
    code, output = run_command("euler_oauth_rotate_keys", capsys=capsys)
    assert code == 0 and "Re-encrypted 7 values, 0 already current" in output
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]
    assert [Connection.objects.get(pk=pk).access_token for pk in pks] == ["a-0", "a-1", "a-2"]


@pytest.mark.django_db
def test_key_removed_after_a_partial_rotation_names_exactly_the_rest(oauth, django_user_model,
                                                                     settings, capsys):
    pks = make_connections(oauth, django_user_model, 5)
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = io.StringIO()
    call_command("euler_oauth_rotate_keys", "--start-after", str(pks[1]), stdout=out)
    assert "Re-encrypted 7 values" in out.getvalue()  # the secret and connections 3 to 5
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]  # removed too early
    for index, pk in enumerate(pks[2:], start=2):
        assert Connection.objects.get(pk=pk).refresh_token == f"r-{index}"
    for pk in pks[:2]:
        with pytest.raises(EncryptionKeyError, match=f"Connection.refresh_token of Connection "
                                                     f"pk={pk}"):
            _ = Connection.objects.get(pk=pk).refresh_token
    code, output = run_command("euler_oauth_rotate_keys", capsys=capsys)
    assert code == 1
    assert "4 values could not be re-encrypted" in output
    assert "Re-encrypted 0 values, 7 already current" in output
    named = {line.split(" of ")[1].split(":")[0] for line in output.splitlines()
             if line.startswith("Cannot re-encrypt")}
    assert named == {f"Connection pk={pk}" for pk in pks[:2]}
    with pytest.raises(CommandError):
        call_command("euler_oauth_rotate_keys", stdout=io.StringIO())


def test_current_key_check_is_by_the_first_key(settings):
    # The raw-SQL checks above rest on this: new-key ciphertext is "current", old is not.
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert crypto.is_current(Fernet(NEW_KEY).encrypt(b"x").decode())
    assert not crypto.is_current(Fernet(OLD_KEY).encrypt(b"x").decode())
