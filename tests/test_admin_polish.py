"""What an administrator sees: token life only where tokens exist, no Save on a read-only
page, a confirmation before revoking, narrow lists, and whether a secret is stored."""

from __future__ import annotations

import re

from django.db import connection as db

from django_euler_oauth.models import Connection

from .loopback import Answer

CLIENTS = "/admin/django_euler_oauth/oauthclient/"
CONNECTIONS = "/admin/django_euler_oauth/connection/"
REVOKE = "/tiktok/oauth/revoke"


def row_of(html: str, username: str) -> str:
    rows = [row for row in re.findall(r"<tr.*?</tr>", html, re.S) if username in row]
    assert len(rows) == 1, rows
    return rows[0]


def cell(row: str, field: str) -> str:
    match = re.search(rf'class="field-{field}[^"]*">(.*?)</t[dh]>', row, re.S)
    assert match, (field, row)
    return match.group(1)


def test_token_life_only_for_active_connections(admin_browser, user, oauth, make_connection,
                                                django_user_model):
    bob = django_user_model.objects.create_user("bobby", "b@example.com", "pw")
    carol = django_user_model.objects.create_user("carol", "c@example.com", "pw")
    make_connection(user, oauth)
    # Dead grants keep their old expiry dates (tokens were cleared): no time left shown.
    make_connection(bob, oauth, access_token="", refresh_token="",
                    status=Connection.Status.REAUTHORIZATION_REQUIRED)
    make_connection(carol, oauth, access_token="", refresh_token="",
                    status=Connection.Status.REVOKED)
    html = admin_browser.get(CONNECTIONS).content.decode()
    alice = row_of(html, "alice")
    assert cell(alice, "access_left") == "59 min"
    assert cell(alice, "refresh_left").startswith("29 days")
    for name, status in (("bobby", "Re-authorization required"), ("carol", "Revoked")):
        row = row_of(html, name)
        assert cell(row, "state") == status
        assert cell(row, "access_left") == cell(row, "refresh_left") == "—"


def test_list_is_narrow(admin_browser, user, oauth, make_connection):
    make_connection(user, oauth, scope="webcast:fetch webcast:rankings webcast:chat",
                    last_error="provider said something long")
    html = admin_browser.get(CONNECTIONS).content.decode()
    headers = re.findall(r'<th scope="col" class="([^"]+)"', html)
    assert len(headers) <= 6, headers  # checkbox + five columns
    assert "webcast:rankings" not in row_of(html, "alice")  # scopes on the detail page
    assert cell(row_of(html, "alice"), "state") == "Active, last refresh failed"
    client_headers = re.findall(r'<th scope="col" class="([^"]+)"',
                                admin_browser.get(CLIENTS).content.decode())
    assert len(client_headers) <= 5, client_headers


def test_read_only_connection_page_has_no_save_buttons(admin_browser, user, oauth,
                                                       make_connection):
    conn = make_connection(user, oauth)
    html = admin_browser.get(f"{CONNECTIONS}{conn.pk}/change/").content.decode()
    assert 'name="_save"' not in html and 'name="_continue"' not in html
    assert 'name="_addanother"' not in html
    assert "59 min" in html  # the page itself still renders


def test_revoke_asks_first_then_revokes(admin_browser, user, oauth, provider,
                                        make_connection):
    conn = make_connection(user, oauth, external_username="tt_alice",
                           access_token="alice-ACCESS-tok", refresh_token="alice-REFRESH-tok")
    provider.default(REVOKE, Answer(200, {}))
    first = admin_browser.post(CONNECTIONS, {"action": "revoke", "_selected_action": [conn.pk]})
    assert first.status_code == 200
    page = first.content.decode()
    assert "are you sure?" in page and "@tt_alice" in page
    assert 'name="post" value="yes"' in page and "No, take me back" in page
    assert "alice-ACCESS-tok" not in page and "alice-REFRESH-tok" not in page
    # Nothing happened yet.
    assert provider.requests_to(REVOKE) == []
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.ACTIVE

    confirmed = admin_browser.post(CONNECTIONS, {"action": "revoke", "post": "yes",
                                                 "_selected_action": [conn.pk]}, follow=True)
    assert "Revoked 1 connection." in confirmed.content.decode()
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.REVOKED
    assert len(provider.requests_to(REVOKE)) == 2


def test_secret_field_says_whether_a_secret_is_stored(admin_browser, make_client):
    with_secret = make_client(client_secret="stored-SECRET-value-1234")
    without = make_client(client_secret="")
    html = admin_browser.get(f"{CLIENTS}{with_secret.pk}/change/").content.decode()
    assert "A secret is stored." in html and "No secret stored" not in html
    assert "stored-SECRET-value-1234" not in html
    with db.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM django_euler_oauth_oauthclient WHERE id = %s",
                       [with_secret.pk])
        assert cursor.fetchone()[0] not in html
    html = admin_browser.get(f"{CLIENTS}{without.pk}/change/").content.decode()
    assert "No secret stored." in html and "A secret is stored" not in html
