"""A re-authorize link is never refused for scopes already granted.

A site's ``EULER_OAUTH_KNOWN_SCOPES`` can lag behind what the provider granted (a scope
Euler added, a list trimmed by hand). ``reauthorize_url`` asks again for every granted
scope, so the authorize view allows the scopes the user's own connections for that
client hold; any other scope outside the list is still refused, with nothing changed.
The first test follows the link through the authorize view to the sandbox and back.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from django_euler_oauth.api import reauthorize_url
from django_euler_oauth.conf import DEFAULT_KNOWN_SCOPES
from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox import controls
from django_euler_oauth.state import SESSION_KEY

from .support.sandbox_fixtures import SANDBOX_DATABASES, SandboxBrowser, query_of
from .support.seed_messages import SEED_MESSAGES

#: A site whose known-scopes list does not name webcast:rankings (the provider grants it).
WITHOUT_RANKINGS = [scope for scope in DEFAULT_KNOWN_SCOPES if scope != "webcast:rankings"]


def through_the_sandbox(client: Any, browser: SandboxBrowser, url: str) -> Any:
    """The site's authorize URL -> the sandbox's screens -> the site's callback."""
    response = client.get(url)
    assert response.status_code == 302, response.content[:300]
    back = browser.authorize(response["Location"])
    assert urlsplit(back).path == "/oauth/callback/"
    return client.get("/oauth/callback/", query_of(back))


@pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)
def test_a_granted_scope_outside_the_known_list_is_asked_again(client, user,
                                                               make_sandbox_oauth,
                                                               sandbox_browser):
    _sandbox, oauth = make_sandbox_oauth(scopes="webcast:fetch", fetch_userinfo=False)
    client.force_login(user)
    first = "/oauth/authorize/?" + "&".join(
        [f"client={oauth.slug}", "scope=webcast:fetch+webcast:rankings"])
    assert through_the_sandbox(client, sandbox_browser, first).status_code == 302
    connection = Connection.objects.get(user=user, client=oauth)
    assert connection.scope_list == ["webcast:fetch", "webcast:rankings"]

    with override_settings(EULER_OAUTH_KNOWN_SCOPES=WITHOUT_RANKINGS):
        url = reauthorize_url(connection, "webcast:chat", next_url="/back/")
        assert url is not None and "webcast%3Arankings" in url
        response = through_the_sandbox(client, sandbox_browser, url)
    assert response.status_code == 302 and response["Location"] == "/back/"
    connection.refresh_from_db()
    assert connection.scope_list == ["webcast:fetch", "webcast:rankings", "webcast:chat"]
    assert controls.call_count("token") == 2  # two code exchanges
    assert Connection.objects.count() == 1


# --- what is still refused (no provider needed: the view answers before asking) ---------

def asked_scope(response: Any) -> list[str]:
    assert response.status_code == 302, response.content[:300]
    return parse_qs(urlsplit(response["Location"]).query)["scope"][0].split()


def assert_refused(client: Any, url: str) -> None:
    before = list(Connection.objects.order_by("pk").values())
    response = client.get(url)
    assert response.status_code == 400
    assert SEED_MESSAGES["invalid_scope"] in response.content.decode()
    assert SESSION_KEY not in client.session  # no pending authorization kept
    assert list(Connection.objects.order_by("pk").values()) == before


@pytest.fixture
def site(client: Any, user: Any, make_client: Any, make_connection: Any) -> Any:
    """alice signed in, her connection needing re-authorization, holding webcast:rankings."""
    oauth = make_client(base="https://provider.example")
    connection = make_connection(user, oauth, scope="webcast:fetch webcast:rankings",
                                 status=Connection.Status.REAUTHORIZATION_REQUIRED)
    client.force_login(user)
    return oauth, connection


@override_settings(EULER_OAUTH_KNOWN_SCOPES=WITHOUT_RANKINGS)
def test_the_link_of_a_connection_needing_reauthorization_is_followed(client, site):
    _oauth, connection = site
    url = reauthorize_url(connection)
    assert url is not None
    assert asked_scope(client.get(url)) == ["webcast:fetch", "webcast:rankings"]


@override_settings(EULER_OAUTH_KNOWN_SCOPES=WITHOUT_RANKINGS)
def test_an_unknown_scope_not_granted_is_still_refused(client, site):
    oauth, connection = site
    url = reauthorize_url(connection, "webcast:unheard_of")
    assert url is not None
    assert_refused(client, url)
    # Nor may a granted scope's holder smuggle a name nobody granted beside it.
    assert_refused(client, f"/oauth/authorize/?client={oauth.slug}&scope=nope")


@override_settings(EULER_OAUTH_KNOWN_SCOPES=WITHOUT_RANKINGS)
def test_only_the_users_own_live_connections_for_that_client_count(
        client, user, make_client, make_connection, django_user_model):
    """Each would allow webcast:rankings if it counted: none does."""
    oauth = make_client(base="https://provider.example")
    other = make_client(base="https://provider.example")
    granted = "webcast:fetch webcast:rankings"
    bob = django_user_model.objects.create_user("bob", "bob@example.com", "pw")
    make_connection(bob, oauth, scope=granted)  # another user's grant on this client
    make_connection(user, other, scope=granted)  # alice's grant on another client
    make_connection(user, oauth, scope=granted,  # alice's, given up
                    status=Connection.Status.REVOKED)
    client.force_login(user)
    assert_refused(client, f"/oauth/authorize/?client={oauth.slug}&scope={granted}")
