"""OAuth clients checked against Euler: registration, the admin action, the command.

Euler's answer comes from the scripted loopback provider (known, unknown,
failing) and from the sandbox over real HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command
from django.urls import reverse

from django_euler_oauth.registration import check_client, check_clients

from .support.loopback import Answer
from .support.sandbox_fixtures import SANDBOX_DATABASES

CALLBACK = "https://site.example/oauth/callback/"


def info(client_id: str, **fields: Any) -> dict[str, Any]:
    return {"code": 200, "client": {
        "client_id": client_id, "name": "App", "description": None,
        "redirect_uris": fields.pop("redirect_uris", [CALLBACK]),
        "supported_scopes": fields.pop("supported_scopes",
                                       ["webcast:fetch", "webcast:bulk_live_check"]),
        "theme": None, "mode": None, "logo": None, "animated_background": False, **fields}}


def clients_path(oauth: Any) -> str:
    return f"/tiktok/oauth/clients/{oauth.client_id}"


def test_known_registered_supported(provider, oauth):
    oauth.scopes = "webcast:fetch webcast:live_check"  # an alias of a supported scope
    oauth.save()
    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id)))
    report = check_client(oauth, callback_url=CALLBACK)
    assert report.ok and report.known and report.callback_registered
    assert report.unsupported_scopes == ()
    assert report.findings() == ["Known to Euler Stream.",
                                 f"Callback URL {CALLBACK} is registered.",
                                 "Default scopes supported."]
    assert provider.received[0].method == "GET"


def test_redirect_uri_of_the_client_wins_and_problems_are_named(provider, oauth):
    oauth.redirect_uri = "https://other.example/cb/"
    oauth.scopes = "webcast:fetch webcast:chat"
    oauth.save()
    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id)))
    report = check_client(oauth, callback_url=CALLBACK)
    assert not report.ok
    assert report.callback_url == "https://other.example/cb/"
    assert report.callback_registered is False
    assert report.unsupported_scopes == ("webcast:chat",)
    text = " ".join(report.findings())
    assert "NOT registered" in text and CALLBACK in text and "webcast:chat" in text


def test_unknown_and_unreachable(provider, oauth):
    provider.queue(clients_path(oauth), Answer(404, {"code": 404, "message": "Not found"}))
    report = check_client(oauth, callback_url=CALLBACK)
    assert report.known is False and not report.ok
    assert "knows no client" in report.findings()[0]
    provider.queue(clients_path(oauth), Answer(502, "<html>bad gateway</html>"))
    report = check_client(oauth)
    assert report.known is None and not report.ok and report.error


def test_callback_not_checked_without_a_url(provider, oauth):
    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id)))
    report = check_client(oauth)
    assert report.ok and report.callback_registered is None
    assert "not checked" in report.findings()[1]


def test_command_exits_non_zero_on_a_problem(provider, oauth, make_client, capsys):
    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id)))
    call_command("euler_oauth_check_clients", "--callback-url", CALLBACK)
    out = capsys.readouterr().out
    assert f"{oauth.slug}: OK" in out and "is registered" in out

    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id, redirect_uris=[])))
    with pytest.raises(CommandError, match=oauth.slug):
        call_command("euler_oauth_check_clients", "--callback-url", CALLBACK)
    assert "NOT registered" in capsys.readouterr().out

    with pytest.raises(CommandError, match="nope"):
        call_command("euler_oauth_check_clients", "nope")


def test_command_has_help():
    from django_euler_oauth.management.commands.euler_oauth_check_clients import Command

    assert "Euler Stream" in Command.help


def test_admin_action_reports_per_client(admin_client, provider, oauth, make_client):
    second = make_client(base=provider.url)
    site_callback = "http://testserver" + reverse("euler_oauth:callback")
    provider.queue(clients_path(oauth), Answer(200, info(oauth.client_id,
                                                         redirect_uris=[site_callback])))
    provider.queue(clients_path(second), Answer(404, {"code": 404}))
    response = admin_client.post(
        reverse("admin:django_euler_oauth_oauthclient_changelist"),
        {"action": "check_with_euler", "_selected_action": [oauth.pk, second.pk]},
        follow=True)
    assert response.status_code == 200
    shown = {m.message: m.level_tag for m in get_messages(response.wsgi_request)}
    ok = [m for m in shown if m.startswith(oauth.slug + ":")]
    bad = [m for m in shown if m.startswith(second.slug + ":")]
    assert ok and "is registered" in ok[0] and shown[ok[0]] == "success"
    assert bad and "knows no client" in bad[0] and shown[bad[0]] == "error"


@pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)
def test_against_the_sandbox(make_sandbox_oauth, live_server):
    _sandbox, oauth = make_sandbox_oauth(scopes="webcast:fetch webcast:chat")
    [report] = check_clients([oauth], callback_url=live_server.url + "/oauth/callback/")
    assert report.known and report.callback_registered, report.findings()
    assert report.ok, report.findings()
    oauth.client_id = "no-such-client"
    [report] = check_clients([oauth])
    assert report.known is False
