"""Quick end-to-end pass over the core against the scripted loopback provider."""

from urllib.parse import parse_qs, urlsplit

from django.db import connection as db

from django_euler_oauth.models import Connection

from .support.loopback import Answer, token_body


def test_connect_flow_stores_encrypted_tokens(client, user, provider, make_client):
    oauth = make_client(base=provider.url)
    client.force_login(user)
    response = client.get("/oauth/authorize/", {"scope": "webcast:fetch", "next": "/done/"})
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    params = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert set(params) == {"client_id", "redirect_uri", "response_type", "scope", "state"}
    provider.queue("/tiktok/oauth/token", Answer(200, token_body("acc-xyz", "ref-xyz")))
    response = client.get("/oauth/callback/", {"code": "c0de", "state": params["state"]})
    assert response.status_code == 302 and response["Location"] == "/done/"
    stored = Connection.objects.get(user=user, client=oauth)
    assert stored.access_token == "acc-xyz" and stored.refresh_token == "ref-xyz"
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM django_euler_oauth_connection")
        raw = cursor.fetchone()
    assert "acc-xyz" not in raw[0] and raw[0].startswith("gAAAA")
    sent = provider.requests_to("/tiktok/oauth/token")[0].form
    assert sent["grant_type"] == "authorization_code" and sent["code"] == "c0de"
    # Replaying the same state fails and leaves the connection alone.
    response = client.get("/oauth/callback/", {"code": "other", "state": params["state"]})
    assert response.status_code == 400
    assert Connection.objects.get(pk=stored.pk).access_token == "acc-xyz"


def test_middleware_refreshes_expired_token(client, user, provider, make_client,
                                            make_connection):
    oauth = make_client(base=provider.url)
    make_connection(user, oauth, expires_in=-10)
    provider.queue("/tiktok/oauth/token", Answer(200, token_body("fresh-access", "fresh-ref")))
    client.force_login(user)
    data = client.get("/whoami/").json()
    assert data == {"connected": True, "has_token": True, "token_length": len("fresh-access")}
    row = Connection.objects.get(user=user)
    assert row.refresh_token == "fresh-ref"
    assert len(provider.requests_to("/tiktok/oauth/token")) == 1
