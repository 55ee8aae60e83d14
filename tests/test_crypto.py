"""Encryption at rest: ciphertext in the database, lazy decryption, key rotation."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection as db
from django.test import override_settings

from django_euler_oauth import crypto
from django_euler_oauth.answers import TokenSet
from django_euler_oauth.errors import EncryptionKeyError
from django_euler_oauth.models import Connection, OAuthClient

# The key tests/settings.py configures, and two others made for these tests.
OLD_KEY = "qZ4P0wq5lH2rL0h7pZ6gq0m2cZ9Q3Yx8v1b2n3m4k5A="
NEW_KEY = Fernet.generate_key().decode()
OTHER_KEY = Fernet.generate_key().decode()

ACCESS = "plain-access-token-AAAA1111"
REFRESH = "plain-refresh-token-BBBB2222"
SECRET = "plain-client-secret-CCCC3333"


def raw_row(table: str, pk: int, *columns: str) -> tuple:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()


def raw_connection(pk: int) -> tuple[str, str]:
    return raw_row("django_euler_oauth_connection", pk, "access_token", "refresh_token")


def raw_secret(pk: int) -> str:
    return raw_row("django_euler_oauth_oauthclient", pk, "client_secret")[0]


@pytest.fixture
def stored(user, make_client, make_connection):
    oauth = make_client(client_secret=SECRET)
    conn = make_connection(user, oauth, access_token=ACCESS, refresh_token=REFRESH)
    return oauth, conn


def test_database_holds_only_ciphertext(stored):
    oauth, conn = stored
    access, refresh = raw_connection(conn.pk)
    secret = raw_secret(oauth.pk)
    for raw, plain in ((access, ACCESS), (refresh, REFRESH), (secret, SECRET)):
        assert plain not in raw
        assert raw.startswith("gAAAAA")  # a Fernet token
        assert Fernet(OLD_KEY).decrypt(raw.encode()).decode() == plain
    # Same plaintext, different ciphertext (Fernet IVs): nothing to correlate.
    other = Connection.objects.get(pk=conn.pk)
    other.access_token = ACCESS
    other.save()
    assert raw_connection(conn.pk)[0] != access


def test_values_round_trip(stored):
    oauth, conn = stored
    row = Connection.objects.get(pk=conn.pk)
    assert row.access_token == ACCESS and row.refresh_token == REFRESH
    assert OAuthClient.objects.get(pk=oauth.pk).client_secret == SECRET


def test_empty_token_is_stored_empty(user, make_client, make_connection):
    conn = make_connection(user, make_client(), access_token="", refresh_token="")
    assert raw_connection(conn.pk) == ("", "")
    assert Connection.objects.get(pk=conn.pk).access_token == ""


def test_loading_decrypts_nothing_until_a_token_is_read(stored):
    _oauth, conn = stored
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[OTHER_KEY]):
        row = Connection.objects.select_related("client").get(pk=conn.pk)
        # Everything but the tokens is usable without a working key.
        assert row.status == Connection.Status.ACTIVE
        assert row.scope == "webcast:fetch"
        assert row.client.slug
        assert repr(row) and str(row)
        with pytest.raises(EncryptionKeyError) as excinfo:
            row.access_token  # noqa: B018
        message = str(excinfo.value)
        assert "Connection.access_token" in message
        assert f"pk={conn.pk}" in message
        assert "EULER_OAUTH_ENCRYPTION_KEYS" in message
        with pytest.raises(EncryptionKeyError, match=r"Connection\.refresh_token"):
            row.refresh_token  # noqa: B018
        with pytest.raises(EncryptionKeyError, match=r"OAuthClient\.client_secret"):
            row.client.client_secret  # noqa: B018
    # With the right key back, the same instance decrypts on the next read.
    assert row.access_token == ACCESS


def test_deferred_token_is_decrypted_on_read(stored):
    _oauth, conn = stored
    row = Connection.objects.defer("access_token").get(pk=conn.pk)
    assert row.access_token == ACCESS


def test_wrong_key_never_yields_an_empty_token(stored):
    _oauth, conn = stored
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[OTHER_KEY]):
        row = Connection.objects.get(pk=conn.pk)
        for _ in range(2):  # a failed read is not cached as ""
            with pytest.raises(EncryptionKeyError):
                row.access_token  # noqa: B018


def test_missing_keys_give_a_clear_error(stored, monkeypatch):
    _oauth, conn = stored
    monkeypatch.delenv("EULER_OAUTH_ENCRYPTION_KEYS", raising=False)
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[]):
        row = Connection.objects.get(pk=conn.pk)
        with pytest.raises(EncryptionKeyError, match="EULER_OAUTH_ENCRYPTION_KEYS is empty"):
            row.access_token  # noqa: B018
        with pytest.raises(EncryptionKeyError):
            Connection.objects.filter(pk=conn.pk).get().__class__(
                user_id=conn.user_id, client_id=conn.client_id, access_token="x"
            ).save()


def test_invalid_key_gives_a_clear_error_without_echoing_it(stored):
    _oauth, conn = stored
    bad = "this-is-not-a-fernet-key"
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[bad]):
        row = Connection.objects.get(pk=conn.pk)
        with pytest.raises(EncryptionKeyError) as excinfo:
            row.access_token  # noqa: B018
        assert "EULER_OAUTH_ENCRYPTION_KEYS[0]" in str(excinfo.value)
        assert bad not in str(excinfo.value)


def test_saving_unread_values_keeps_their_ciphertext(stored):
    oauth, conn = stored
    before = raw_connection(conn.pk)
    secret_before = raw_secret(oauth.pk)
    # Even with no key able to decrypt them, untouched values are written back as-is.
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[OTHER_KEY]):
        row = Connection.objects.select_related("client").get(pk=conn.pk)
        row.scope = "webcast:fetch webcast:chat"
        row.save()
        row.client.name = "Renamed"
        row.client.save()
    assert raw_connection(conn.pk) == before
    assert raw_secret(oauth.pk) == secret_before
    fresh = Connection.objects.get(pk=conn.pk)
    assert fresh.access_token == ACCESS and fresh.scope == "webcast:fetch webcast:chat"


def test_key_rotation(stored):
    _oauth, conn = stored
    old_access, _ = raw_connection(conn.pk)
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[NEW_KEY, OLD_KEY]):
        # The new key comes first; the old one still decrypts what it wrote.
        row = Connection.objects.get(pk=conn.pk)
        assert row.access_token == ACCESS
        assert not crypto.is_current(old_access)
        rotated = crypto.rotate(old_access)
        assert crypto.is_current(rotated)
        assert Fernet(NEW_KEY).decrypt(rotated.encode()).decode() == ACCESS
        # New writes use the newest key.
        row.access_token = "after-rotation"
        row.save()
        assert crypto.is_current(raw_connection(conn.pk)[0])
        # An unread value saved back stays on the old key until rotated.
        again = Connection.objects.get(pk=conn.pk)
        again.save()
        assert not crypto.is_current(raw_connection(conn.pk)[1])
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=[NEW_KEY]):
        # Old key dropped: rotated values read, unrotated ones fail loudly.
        assert crypto.decrypt(rotated) == ACCESS
        row = Connection.objects.get(pk=conn.pk)
        assert row.access_token == "after-rotation"
        with pytest.raises(EncryptionKeyError):
            row.refresh_token  # noqa: B018
        with pytest.raises(EncryptionKeyError):
            crypto.rotate(old_access)


def test_keys_from_a_comma_separated_string():
    with override_settings(EULER_OAUTH_ENCRYPTION_KEYS=f"{NEW_KEY}, {OLD_KEY}"):
        token = Fernet(OLD_KEY).encrypt(b"x").decode()
        assert crypto.decrypt(token) == "x"
        assert crypto.is_current(crypto.encrypt("y"))


def test_repr_and_str_never_show_secrets(stored):
    _oauth, conn = stored
    row = Connection.objects.select_related("client").get(pk=conn.pk)
    row.access_token  # noqa: B018  (decrypted and cached on the instance)
    row.client.client_secret  # noqa: B018
    shown = " ".join([repr(row), str(row), repr(row.client), str(row.client),
                      repr(row.__dict__.get("refresh_token"))])
    for plain in (ACCESS, REFRESH, SECRET):
        assert plain not in shown
    raw = raw_connection(conn.pk)
    assert raw[0] not in shown and raw[1] not in shown
    tokens = TokenSet(access_token=ACCESS, refresh_token=REFRESH, token_type="Bearer",
                      expires_in=3600, refresh_expires_in=None, scope="webcast:fetch")
    assert ACCESS not in repr(tokens) and REFRESH not in repr(tokens)
    assert ACCESS not in str(tokens) and REFRESH not in str(tokens)


def test_dumpdata_writes_no_plaintext(stored):
    oauth, conn = stored
    # Read the values first so the instances cached in memory hold plaintext.
    Connection.objects.get(pk=conn.pk).access_token  # noqa: B018
    out = io.StringIO()
    call_command("dumpdata", "django_euler_oauth", stdout=out)
    dumped = out.getvalue()
    for plain in (ACCESS, REFRESH, SECRET):
        assert plain not in dumped
    objects = {(o["model"], o["pk"]): o["fields"] for o in json.loads(dumped)}
    fields = objects[("django_euler_oauth.connection", conn.pk)]
    client_fields = objects[("django_euler_oauth.oauthclient", oauth.pk)]
    # What is dumped is ciphertext for the same values.
    assert crypto.decrypt(fields["access_token"]) == ACCESS
    assert crypto.decrypt(fields["refresh_token"]) == REFRESH
    assert crypto.decrypt(client_fields["client_secret"]) == SECRET


def test_dumpdata_then_loaddata_keeps_tokens(stored, tmp_path):
    _oauth, conn = stored
    out = io.StringIO()
    call_command("dumpdata", "django_euler_oauth", stdout=out)
    fixture = tmp_path / "euler.json"
    fixture.write_text(out.getvalue())
    Connection.objects.all().delete()
    OAuthClient.objects.all().delete()
    call_command("loaddata", str(fixture), verbosity=0)
    row = Connection.objects.select_related("client").get(pk=conn.pk)
    assert row.access_token == ACCESS and row.refresh_token == REFRESH
    assert row.client.client_secret == SECRET


def test_serializing_a_fresh_instance_writes_no_plaintext(user, make_client):
    from django.core import serializers

    oauth = make_client(client_secret=SECRET)
    unsaved = Connection(user=user, client=oauth, access_token=ACCESS, refresh_token=REFRESH)
    dumped = serializers.serialize("json", [unsaved, oauth])
    for plain in (ACCESS, REFRESH, SECRET):
        assert plain not in dumped
