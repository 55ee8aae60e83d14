"""``manage.py euler_oauth_sandbox_setup`` and the sandbox's ``migrate`` (both databases).

The test project routes the app at ``oauth/`` and the sandbox at ``sandbox/``
(``tests/urls.py``); ``tests/test_new_site.py`` runs both commands in a new project.
"""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError
from django.test import override_settings

from django_euler_oauth.models import OAuthClient
from django_euler_oauth.sandbox.management.commands.migrate import Command as Migrate
from django_euler_oauth.sandbox.models import FakeAccount, SandboxClient

from .support.sandbox_fixtures import SANDBOX_DATABASES

#: A URLconf routing neither the app nor the sandbox (for ROOT_URLCONF=__name__).
urlpatterns: list[Any] = []

both_databases = pytest.mark.django_db(databases=SANDBOX_DATABASES)


def setup(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("euler_oauth_sandbox_setup", *args, stdout=out, **options)
    return out.getvalue()


@both_databases
def test_it_registers_the_routed_callback_and_points_the_client_at_the_sandbox():
    out = setup(site_url="http://127.0.0.1:8000")
    sandbox = SandboxClient.objects.get()
    oauth = OAuthClient.objects.get()
    assert sandbox.redirect_uris == "http://127.0.0.1:8000/oauth/callback/"
    assert (oauth.slug, oauth.client_id, oauth.redirect_uri) == ("sandbox", sandbox.client_id, "")
    assert oauth.authorize_url == "http://127.0.0.1:8000/sandbox/tiktok/oauth/authorize"
    assert oauth.token_url == "http://127.0.0.1:8000/sandbox/tiktok/oauth/token"
    assert oauth.websocket_url == "ws://127.0.0.1:8000/sandbox/ws"
    assert oauth.scopes == "user:info webcast:fetch webcast:bulk_live_check webcast:rankings"
    assert FakeAccount.objects.count() == 3
    assert "OAuth client 'sandbox' created" in out
    assert "http://127.0.0.1:8000/oauth/callback/" in out
    assert "@sandbox_streamer, @sandbox_viewer" in out
    assert "http://127.0.0.1:8000/oauth/accounts/" in out
    # Never a secret: the client secret, the API key (sandbox side and site side).
    assert sandbox.client_secret and sandbox.client_secret not in out
    assert sandbox.api_key and sandbox.api_key not in out
    assert oauth.client_secret not in out and oauth.api_key not in out
    assert "not the default" not in out


@both_databases
def test_running_it_again_moves_the_client_and_keeps_its_secret():
    setup(site_url="http://127.0.0.1:8000")
    secret = SandboxClient.objects.get().client_secret
    out = setup("--site-url", "https://dev.example:9443/", "--prefix", "/oauth",
                "--sandbox-prefix", "sandbox/", "--slug", "sandbox",
                "--scopes", "user:info webcast:chat")
    assert "OAuth client 'sandbox' updated" in out
    sandbox = SandboxClient.objects.get()
    assert sandbox.redirect_uris == "https://dev.example:9443/oauth/callback/"
    assert sandbox.client_secret == secret
    oauth = OAuthClient.objects.get()
    assert oauth.token_url == "https://dev.example:9443/sandbox/tiktok/oauth/token"
    assert oauth.scopes == "user:info webcast:chat"


@both_databases
def test_it_says_when_the_client_is_not_the_default(make_client):
    make_client()
    out = setup(site_url="http://127.0.0.1:8000")
    assert "not the default client (other OAuth clients are active)" in out
    assert 'EULER_OAUTH_DEFAULT_CLIENT = "sandbox"' in out


@both_databases
@pytest.mark.parametrize(("options", "said"), [
    ({"site_url": "127.0.0.1:8000"}, "--site-url must be an absolute http(s) URL"),
    ({"site_url": "ftp://127.0.0.1"}, "--site-url must be an absolute http(s) URL"),
    ({"site_url": ""}, "--site-url must be an absolute http(s) URL"),
    ({"site_url": "http://127.0.0.1:8000/oauth/"}, "scheme, host and port only"),
    ({"site_url": "http://127.0.0.1:8000/?next=/"}, "scheme, host and port only"),
    ({"site_url": "http://127.0.0.1:99999"}, "--site-url must be an absolute http(s) URL"),
    ({"prefix": "tiktok/"}, "--prefix /tiktok/ does not match the URLconf, which routes "
                            "django_euler_oauth.urls under /oauth/"),
    ({"sandbox_prefix": "/"}, "--sandbox-prefix / does not match the URLconf"),
    ({"prefix": "a b/"}, "--prefix must be a URL path prefix"),
    ({"slug": "not a slug"}, "Not a client slug"),
    ({"scopes": "user:info webcast:everything"}, "'webcast:everything' is not one"),
    ({"scopes": "  "}, "--scopes must name at least one scope"),
])
def test_bad_input_is_a_clear_error_and_changes_nothing(options, said):
    options = {"site_url": "http://127.0.0.1:8000", **options}
    with pytest.raises(CommandError) as raised:
        setup(**options)
    assert said in str(raised.value)
    assert not OAuthClient.objects.exists() and not SandboxClient.objects.exists()


@both_databases
@override_settings(ROOT_URLCONF=__name__)
def test_a_urlconf_without_the_apps_needs_the_prefixes():
    with pytest.raises(CommandError, match=r"does not route django_euler_oauth\.urls"):
        setup(site_url="http://127.0.0.1:8000")
    assert not OAuthClient.objects.exists()
    # Served by another URLconf (a host-based one): the prefixes say where.
    setup(site_url="http://127.0.0.1:8000", prefix="oauth/", sandbox_prefix="fake/")
    assert SandboxClient.objects.get().redirect_uris == "http://127.0.0.1:8000/oauth/callback/"
    assert OAuthClient.objects.get().token_url == "http://127.0.0.1:8000/fake/tiktok/oauth/token"


# --- migrate ---------------------------------------------------------------------------

def typed(*argv: str) -> str:
    """``manage.py migrate ARGV`` as typed at the command line; its output."""
    out = io.StringIO()
    Migrate(stdout=out, stderr=io.StringIO()).run_from_argv(["manage.py", "migrate", *argv])
    return out.getvalue()


HEADING = "Now the sandbox's database ('euler_sandbox')"


def test_the_sandbox_app_provides_migrate():
    assert get_commands()["migrate"] == "django_euler_oauth.sandbox"


@both_databases
def test_typed_migrate_migrates_the_sandbox_database_too():
    out = typed()
    assert out.count("Operations to perform:") == 2
    assert HEADING in out
    assert HEADING in typed("euler_sandbox")


@both_databases
@pytest.mark.parametrize("argv", [("--database", "default"), ("--database", "euler_sandbox"),
                                  ("auth",)])
def test_migrate_with_a_database_or_another_app_is_djangos(argv):
    out = typed(*argv)
    assert out.count("Operations to perform:") == 1
    assert HEADING not in out


@pytest.mark.django_db  # the default database only: call_command() must not touch the other
def test_migrate_from_code_stays_one_database():
    out = io.StringIO()
    call_command("migrate", stdout=out, interactive=False)
    assert out.getvalue().count("Operations to perform:") == 1


def test_without_the_sandbox_database_migrate_is_djangos(monkeypatch):
    from django_euler_oauth.sandbox.management.commands import migrate

    command = Migrate()
    command.every_database = True
    typed_plain = {"database": None, "app_label": None}
    assert command._databases(typed_plain) == ["default", "euler_sandbox"]
    monkeypatch.setattr(migrate, "settings", SimpleNamespace(DATABASES={"default": {}}))
    assert command._databases(typed_plain) == ["default"]
