"""Commands that tell a newcomer what is wrong: ``euler_oauth_rotate_keys --check`` names
every stored value the keys cannot decrypt (writing nothing), and
``euler_oauth_check_clients`` checks the redirect URI by default (``--site-url``)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection as db
from django.test import override_settings

from .support.commands import make_many, run
from .support.loopback import Answer

OLD_KEY = "qZ4P0wq5lH2rL0h7pZ6gq0m2cZ9Q3Yx8v1b2n3m4k5A="  # the test settings' key
NEW_KEY = Fernet.generate_key().decode()


def raw_values() -> dict[tuple[str, int], tuple[str, ...]]:
    with db.cursor() as cursor:
        cursor.execute("SELECT id, access_token, refresh_token FROM "
                       "django_euler_oauth_connection")
        rows = {("c", pk): (a, r) for pk, a, r in cursor.fetchall()}
        cursor.execute("SELECT id, client_secret, api_key FROM django_euler_oauth_oauthclient")
        rows.update({("o", pk): (s, k) for pk, s, k in cursor.fetchall()})
    return rows


# --- euler_oauth_rotate_keys --check ------------------------------------------------------

def test_check_passes_and_writes_nothing(oauth, django_user_model, settings):
    make_many(oauth, django_user_model, 3)
    before = raw_values()
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]  # a rotation is due
    output = run("euler_oauth_rotate_keys", "--check")
    assert "All 7 stored values decrypt" in output
    assert "7 not yet under the newest key" in output
    assert raw_values() == before  # nothing re-encrypted


def test_check_names_every_value_no_key_decrypts(oauth, django_user_model, settings):
    pks = make_many(oauth, django_user_model, 3)
    foreign = Fernet(Fernet.generate_key()).encrypt(b"lost").decode()
    with db.cursor() as cursor:
        cursor.execute("UPDATE django_euler_oauth_connection SET access_token = %s "
                       "WHERE id IN (%s, %s)", [foreign, pks[0], pks[2]])
        cursor.execute("UPDATE django_euler_oauth_oauthclient SET api_key = %s WHERE id = %s",
                       [foreign, oauth.pk])
    before = raw_values()
    with pytest.raises(CommandError) as info:
        run("euler_oauth_rotate_keys", "--check", "--batch-size", "1")
    message = str(info.value)
    for pk in (pks[0], pks[2]):
        assert f"Connection.access_token pk={pk}" in message
    assert f"Connection.access_token pk={pks[1]}" not in message
    assert f"OAuthClient.api_key pk={oauth.pk}" in message
    assert "3 of 8 stored values cannot be decrypted" in message
    assert foreign not in message and "lost" not in message
    assert raw_values() == before


def test_rotation_reencrypts_the_api_key_too(make_client, settings):
    client = make_client(api_key="the-api-key")
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    run("euler_oauth_rotate_keys")
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [NEW_KEY]
    client.refresh_from_db()
    assert client.api_key == "the-api-key"


# --- euler_oauth_check_clients: the redirect URI is checked by default -------------------

def clients_path(oauth) -> str:
    return f"/tiktok/oauth/clients/{oauth.client_id}"


def info(client_id: str, redirect_uris: list[str]) -> dict:
    return {"code": 200, "client": {"client_id": client_id, "name": "App",
                                    "redirect_uris": redirect_uris,
                                    "supported_scopes": ["webcast:fetch"]}}


@pytest.mark.parametrize(("hosts", "site"), [
    (["*"], "http://127.0.0.1:8000"),
    ([], "http://127.0.0.1:8000"),
    (["localhost", "127.0.0.1"], "http://localhost:8000"),
    ([".example.com", "www.example.com"], "https://www.example.com"),
])
def test_default_site_url_from_allowed_hosts(provider, oauth, capsys, hosts, site):
    registered = "https://site.example/oauth/callback/"
    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id, [registered])))
    with override_settings(ALLOWED_HOSTS=hosts), pytest.raises(CommandError, match=oauth.slug):
        call_command("euler_oauth_check_clients")
    out = capsys.readouterr().out
    assert f"Callback URL {site}/oauth/callback/ is NOT registered" in out
    assert "--site-url" in out


def test_site_url_option(provider, oauth, capsys):
    registered = "https://site.example/oauth/callback/"
    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id, [registered])))
    call_command("euler_oauth_check_clients", "--site-url", "https://site.example/")
    out = capsys.readouterr().out
    assert f"{oauth.slug}: OK" in out and f"Callback URL {registered} is registered" in out


def test_site_url_must_be_absolute(oauth):
    with pytest.raises(CommandError, match="--site-url"):
        call_command("euler_oauth_check_clients", "--site-url", "site.example")


def test_site_url_help():
    from django_euler_oauth.management.commands.euler_oauth_check_clients import Command

    parser = Command().create_parser("manage.py", "euler_oauth_check_clients")
    assert "--site-url" in parser.format_help() and "ALLOWED_HOSTS" in parser.format_help()
