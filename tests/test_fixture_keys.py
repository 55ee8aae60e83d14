"""``loaddata`` with values encrypted under a key we do not have.

The fixture is made by ``dumpdata`` (ciphertext, as the app writes it) under one key
and loaded by ``loaddata`` where only another key is configured. Before: the
ciphertext was taken for a token, encrypted again and stored; reading it handed out
the ciphertext as the access token. Now: EncryptionKeyError naming model, field and
pk, and nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from django_euler_oauth.errors import EncryptionKeyError
from django_euler_oauth.models import Connection, OAuthClient

OTHER_KEY = Fernet.generate_key().decode()


@pytest.fixture
def fixture_file(tmp_path: Path, make_client: Any, make_connection: Any, user: Any) -> Path:
    client = make_client(client_secret="secret-from-elsewhere")
    conn = make_connection(user, client, access_token="access-from-elsewhere",
                           refresh_token="refresh-from-elsewhere")
    path = tmp_path / "connections.json"
    call_command("dumpdata", "django_euler_oauth.oauthclient", "django_euler_oauth.connection",
                 output=str(path), verbosity=0)
    assert "access-from-elsewhere" not in path.read_text()  # ciphertext only
    Connection.objects.filter(pk=conn.pk).delete()
    OAuthClient.objects.filter(pk=client.pk).delete()
    return path


def test_loaddata_under_a_missing_key_names_what_and_writes_nothing(fixture_file, settings):
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [OTHER_KEY]
    with pytest.raises(EncryptionKeyError) as caught:
        call_command("loaddata", str(fixture_file), verbosity=0)
    message = str(caught.value)
    assert "OAuthClient.client_secret" in message and "pk=" in message, message
    assert "secret-from-elsewhere" not in message
    assert not OAuthClient.objects.exists() and not Connection.objects.exists()


def test_loaddata_names_the_connection_field_too(fixture_file, settings):
    """The client is there already (made here): the connection's tokens are refused."""
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [OTHER_KEY, *settings.EULER_OAUTH_ENCRYPTION_KEYS]
    call_command("loaddata", str(fixture_file), verbosity=0)  # both keys: loads
    assert Connection.objects.get().access_token == "access-from-elsewhere"
    Connection.objects.all().delete()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [OTHER_KEY]
    OAuthClient.objects.update(client_secret="")  # readable under the new key
    rows = [row for row in json.loads(fixture_file.read_text())
            if row["model"] == "django_euler_oauth.connection"]
    only_connections = fixture_file.with_name("only-connections.json")
    only_connections.write_text(json.dumps(rows))
    with pytest.raises(EncryptionKeyError) as caught:
        call_command("loaddata", str(only_connections), verbosity=0)
    message = str(caught.value)
    assert "Connection." in message and f"pk={rows[0]['pk']}" in message, message
    assert not Connection.objects.exists()


def test_loaddata_with_the_key_keeps_the_tokens(fixture_file):
    call_command("loaddata", str(fixture_file), verbosity=0)
    conn = Connection.objects.get()
    assert (conn.access_token, conn.refresh_token) == ("access-from-elsewhere",
                                                       "refresh-from-elsewhere")
    assert conn.client.client_secret == "secret-from-elsewhere"
