"""Migration 0003_accounts on a database holding rows of the one-connection-per-user era."""

from __future__ import annotations

import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

APP = "django_euler_oauth"
BEFORE, AFTER = (APP, "0002_oauthclient_api_key"), (APP, "0003_accounts")


def _migrate(target: tuple[str, str]) -> object:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return MigrationExecutor(connection).loader.project_state([target]).apps


@pytest.fixture
def old_rows() -> dict[str, int]:
    """Connections as the old code could leave them, stored before the migration."""
    apps = _migrate(BEFORE)
    user_model = apps.get_model("auth", "User")
    client_model = apps.get_model(APP, "OAuthClient")
    connection_model = apps.get_model(APP, "Connection")
    client = client_model.objects.create(slug="tiktok", name="TikTok", client_id="cid")
    other = client_model.objects.create(slug="other", name="Other", client_id="cid-2")
    now = timezone.now()
    made = {}
    for name, who, uid, when, on in [
            ("alice", "alice", "7001", now - datetime.timedelta(days=3), client),
            ("bob", "bob", "7001", now - datetime.timedelta(days=1), client),  # same account
            ("carol", "carol", "", now, client),                              # userinfo off
            ("alice-other", "alice", "7001", now, other)]:                    # other client
        user, _ = user_model.objects.get_or_create(username=who)
        made[name] = connection_model.objects.create(
            user=user, client=on, external_id=uid, external_username="streamer" if uid else "",
            access_token="", refresh_token="", scope="webcast:fetch", status="active",
            connected_at=when).pk
    yield made
    # Back to the latest of every app: migrating this one back also unapplied the apps
    # whose migrations depend on it (the LIVE app's tables).
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_every_row_is_kept_and_no_account_is_shared(old_rows):
    apps = _migrate(AFTER)
    rows = {row.pk: row for row in apps.get_model(APP, "Connection").objects.all()}
    assert set(rows) == set(old_rows.values())
    alice, bob = rows[old_rows["alice"]], rows[old_rows["bob"]]
    # The most recent connection keeps the account; the older one asks to reconnect.
    assert (bob.external_id, bob.status) == ("7001", "active")
    assert (alice.external_id, alice.status, alice.status_reason) == (
        "", "reauthorization_required", "account_conflict")
    assert rows[old_rows["alice-other"]].external_id == "7001"  # another client: its own
    assert rows[old_rows["carol"]].status == "active"


def test_the_new_constraints_hold(old_rows):
    apps = _migrate(AFTER)
    model = apps.get_model(APP, "Connection")
    bob = model.objects.get(pk=old_rows["bob"])
    carol = model.objects.get(pk=old_rows["carol"])
    with pytest.raises(IntegrityError), transaction.atomic():  # the account is bob's
        model.objects.create(user_id=carol.user_id, client_id=bob.client_id, external_id="7001",
                             access_token="", refresh_token="")
    with pytest.raises(IntegrityError), transaction.atomic():  # unknown account: one per user
        model.objects.create(user_id=carol.user_id, client_id=carol.client_id, external_id="",
                             access_token="", refresh_token="")
    # A user may hold a second, different account for the same client.
    model.objects.create(user_id=bob.user_id, client_id=bob.client_id, external_id="7002",
                         access_token="", refresh_token="")
