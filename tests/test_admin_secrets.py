"""The admin's secrets stay out of Django's error reports.

Saving an OAuth client with a broken ``EULER_OAUTH_ENCRYPTION_KEYS`` (a host where
system checks did not run) answers 500 while the typed client secret and API key are
in the request and in the frames that encrypt them. Django's real reporting is read:
``AdminEmailHandler(include_html=True)`` on ``django.request`` with ``DEBUG=False``
(text mail and HTML alternative), and the technical 500 page of a ``DEBUG=True`` site
(the test client with ``raise_request_exception=False``). Neither shows a secret; the
POST section shows the fields, cleansed. The admin's action that reaches the provider
("Refresh tokens now") is read the same way when the database fails after the answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.test import Client

from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.views import CLEANSED

from .support.admin_pages import CLIENTS, CONNECTIONS, form_data, raw_secret
from .support.error_reports import (
    assert_clean,
    assert_reported,
    fail_inserts_into,
    reports_of,
    without_source,
)
from .support.loopback import Answer, token_body

TYPED_SECRET = "CS-typed-in-admin-8b7a6c5d"
TYPED_API_KEY = "AK-typed-in-admin-1e2f3a4b"
STORED_SECRET = "CS-stored-admin-0a9b8c7d"
STORED_ACCESS = "AT-admin-stored-6c5b4a3f"
STORED_REFRESH = "RT-admin-stored-2d1e0f9a"
NEW_ACCESS = "AT-admin-issued-7e8f9a0b"
NEW_REFRESH = "RT-admin-issued-3c4d5e6f"
GOOD_KEY = Fernet.generate_key().decode()

# Broken as a host without system checks would have them: empty, or a malformed key
# first (the good one after it must not show either).
BROKEN_KEYS = {"empty": [], "malformed-first": ["not-a-fernet-key", GOOD_KEY]}


@pytest.fixture
def staff(django_user_model: Any) -> Client:
    """A superuser's browser; a 500 answers as Django answers it, not re-raised."""
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    browser = Client(raise_request_exception=False)
    browser.force_login(admin)
    return browser


@pytest.fixture
def stored(provider: Any, make_client: Any) -> OAuthClient:
    client: OAuthClient = make_client(base=provider.url, client_secret=STORED_SECRET)
    return client


@pytest.fixture
def failing_connection_update() -> Iterator[None]:
    """Storing a token fails (the lock the refresh takes first, an UPDATE too, does not)."""
    yield from fail_inserts_into("django_euler_oauth_connection",
                                 statement="UPDATE OF access_token")


def new_client_form(**changes: str) -> dict[str, str]:
    data = {"name": "Broken", "slug": "broken", "client_id": "cid-broken",
            "new_client_secret": TYPED_SECRET, "new_api_key": TYPED_API_KEY,
            "scopes": "webcast:fetch", "is_active": "on",
            "authorize_url": "https://tiktok.eulerstream.com/tiktok/oauth/authorize",
            "token_url": "https://tiktok.eulerstream.com/tiktok/oauth/token",
            "revoke_url": "https://tiktok.eulerstream.com/tiktok/oauth/revoke",
            "api_base_url": "https://tiktok.eulerstream.com", "request_format": "form",
            "websocket_url": "wss://ws.eulerstream.com",
            "token_transport": "bearer"}
    data.update(changes)
    return data


def post_with_broken_keys(staff: Client, settings: Any, keys: list[str], url: str,
                          data: dict[str, str]) -> Any:
    settings.EULER_OAUTH_ENCRYPTION_KEYS = keys
    response = staff.post(url, data)
    assert response.status_code == 500, response.content[:300]
    return response


def assert_post_cleansed(text: str) -> None:
    """The report's POST section names the secret fields, their values starred."""
    for name in ("new_client_secret", "new_api_key"):
        assert name in text
    assert CLEANSED in text


@pytest.mark.parametrize("keys", BROKEN_KEYS.values(), ids=BROKEN_KEYS.keys())
def test_a_failing_change_mails_no_typed_secret(admin_mails, staff, stored, settings,
                                                keys):
    before = raw_secret(stored.pk)
    post_with_broken_keys(staff, settings, keys, f"{CLIENTS}{stored.pk}/change/",
                          form_data(stored, new_client_secret=TYPED_SECRET,
                                    new_api_key=TYPED_API_KEY))
    assert_reported(admin_mails, TYPED_SECRET, TYPED_API_KEY, STORED_SECRET, GOOD_KEY)
    html = [text for where, text in reports_of(admin_mails) if where.startswith("HTML")]
    assert html and "local vars" in html[0].lower()  # frames reported, only cleansed
    assert_post_cleansed(html[0])
    assert raw_secret(stored.pk) == before  # nothing changed


@pytest.mark.parametrize("keys", BROKEN_KEYS.values(), ids=BROKEN_KEYS.keys())
def test_a_failing_add_mails_no_typed_secret(admin_mails, staff, settings, keys):
    post_with_broken_keys(staff, settings, keys, f"{CLIENTS}add/", new_client_form())
    assert_reported(admin_mails, TYPED_SECRET, TYPED_API_KEY, GOOD_KEY)
    assert not OAuthClient.objects.filter(slug="broken").exists()


@pytest.mark.parametrize("page", ["add", "change"])
def test_the_debug_500_page_shows_no_typed_secret(staff, stored, settings, page):
    settings.DEBUG = True
    url = f"{CLIENTS}add/" if page == "add" else f"{CLIENTS}{stored.pk}/change/"
    data = new_client_form() if page == "add" else form_data(
        stored, new_client_secret=TYPED_SECRET, new_api_key=TYPED_API_KEY)
    response = post_with_broken_keys(staff, settings, BROKEN_KEYS["malformed-first"], url,
                                     data)
    page_text = response.content.decode()
    assert "EncryptionKeyError" in page_text and "Local vars" in page_text
    assert_post_cleansed(page_text)
    assert_clean("DEBUG technical 500 page", without_source(page_text),
                 TYPED_SECRET, TYPED_API_KEY, STORED_SECRET, GOOD_KEY)


def test_a_failing_refresh_action_mails_no_token(admin_mails, staff, stored, user,
                                                 make_connection, provider,
                                                 failing_connection_update):
    """"Refresh tokens now": the provider answers, storing the rotated tokens fails."""
    connection = make_connection(user, stored, access_token=STORED_ACCESS,
                                 refresh_token=STORED_REFRESH)
    provider.queue("/tiktok/oauth/token", Answer(200, token_body(NEW_ACCESS, NEW_REFRESH)))
    response = staff.post(CONNECTIONS, {"action": "refresh_now",
                                        "_selected_action": [connection.pk]})
    assert response.status_code == 500, response.content[:300]
    assert provider.requests_to("/tiktok/oauth/token"), "the provider was asked"
    assert_reported(admin_mails, STORED_SECRET, STORED_ACCESS, STORED_REFRESH, NEW_ACCESS,
                    NEW_REFRESH)
    assert Connection.objects.get(pk=connection.pk).refresh_token == STORED_REFRESH
