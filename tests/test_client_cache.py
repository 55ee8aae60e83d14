"""What a process keeps of the OAuth clients (the default client's id, client rows for
refreshes): edits here take effect at once, edits elsewhere within
``CLIENT_CACHE_SECONDS``, and no plaintext secret is kept."""

from __future__ import annotations

import time

from django_euler_oauth import models
from django_euler_oauth.fields import Ciphertext
from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.refresh import refresh_connection

from .support.loopback import Answer, ScriptedProvider, token_body

TOKEN = "/tiktok/oauth/token"


def test_a_refresh_keeps_no_plaintext_secret(oauth, user, make_connection, provider):
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    refresh_connection(Connection.objects.get(pk=conn.pk))
    assert provider.requests_to(TOKEN)[0].form["client_secret"] == "secret-value-1"
    kept = [client for client, _until in models._clients.values()]
    assert kept and all(isinstance(c.__dict__["client_secret"], Ciphertext) for c in kept)
    assert all("secret-value-1" not in repr(vars(c)) for c in kept)


def test_an_edit_saved_here_takes_effect_at_once(oauth, user, make_connection, provider):
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    refresh_connection(Connection.objects.get(pk=conn.pk))  # the client row is kept now
    other = ScriptedProvider().start()
    try:
        other.default(TOKEN, Answer(200, token_body("access-2", "refresh-2")))
        oauth.token_url = f"{other.url}{TOKEN}"
        oauth.client_secret = "rotated-secret"
        oauth.save()  # as the admin does
        row = refresh_connection(Connection.objects.get(pk=conn.pk), force=True)
        assert row.access_token == "access-2"
        assert other.requests_to(TOKEN)[0].form["client_secret"] == "rotated-secret"
    finally:
        other.stop()
    assert len(provider.requests_to(TOKEN)) == 1


def test_an_edit_made_elsewhere_is_seen_within_the_lifetime(oauth, user, make_connection,
                                                            provider, monkeypatch):
    monkeypatch.setattr(models, "CLIENT_CACHE_SECONDS", 0.2)
    provider.default(TOKEN, Answer(200, token_body("access-1", "refresh-1")))
    conn = make_connection(user, oauth, expires_in=-5)
    refresh_connection(Connection.objects.get(pk=conn.pk))
    assert Connection.objects.default_for(user) is not None
    # Another process deactivates the client (no signal reaches this one).
    OAuthClient.objects.filter(pk=oauth.pk).update(is_active=False)
    assert Connection.objects.default_for(user) is not None  # still trusted, briefly
    time.sleep(0.3)
    assert Connection.objects.default_for(user) is None
    assert models.cached_client("default", oauth.pk).is_active is False
