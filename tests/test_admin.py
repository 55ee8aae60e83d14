"""Admin screens: the secret is write-only, tokens never shown, actions reach the provider.

And what an administrator sees: token life only where tokens exist, no Save on a read-only
page, a confirmation before revoking, narrow lists, and whether a secret is stored.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection as db

from django_euler_oauth.models import Connection, OAuthClient

from .support.admin_pages import CLIENTS, CONNECTIONS, form_data, raw_secret
from .support.loopback import Answer, token_body

SECRET = "admin-secret-PLAINTEXT-9876"
TOKEN = "/tiktok/oauth/token"
REVOKE = "/tiktok/oauth/revoke"


@pytest.fixture
def oauth(provider, make_client):
    return make_client(base=provider.url, client_secret=SECRET)


# --- OAuth clients ---------------------------------------------------------------

def test_change_page_never_shows_the_secret(admin_browser, oauth):
    response = admin_browser.get(f"{CLIENTS}{oauth.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="new_client_secret"' in html and 'type="password"' in html
    assert SECRET not in html
    assert raw_secret(oauth.pk) not in html  # nor its ciphertext


def test_list_and_add_pages_never_show_the_secret(admin_browser, oauth):
    for url in (CLIENTS, f"{CLIENTS}add/", f"{CLIENTS}?q={oauth.slug}"):
        response = admin_browser.get(url)
        assert response.status_code == 200
        assert SECRET not in response.content.decode()


def test_blank_secret_keeps_the_stored_one(admin_browser, oauth):
    before = raw_secret(oauth.pk)
    response = admin_browser.post(f"{CLIENTS}{oauth.pk}/change/",
                                  form_data(oauth, name="Renamed"))
    assert response.status_code == 302, response.content.decode()[:2000]
    fresh = OAuthClient.objects.get(pk=oauth.pk)
    assert fresh.name == "Renamed"
    assert fresh.client_secret == SECRET
    assert raw_secret(oauth.pk) == before


def test_new_secret_replaces_the_stored_one(admin_browser, oauth):
    response = admin_browser.post(f"{CLIENTS}{oauth.pk}/change/",
                                  form_data(oauth, new_client_secret="brand-new-secret-1"))
    assert response.status_code == 302
    assert OAuthClient.objects.get(pk=oauth.pk).client_secret == "brand-new-secret-1"
    assert "brand-new-secret-1" not in raw_secret(oauth.pk)


def test_invalid_form_does_not_echo_the_new_secret(admin_browser, oauth):
    response = admin_browser.post(f"{CLIENTS}{oauth.pk}/change/",
                                  form_data(oauth, client_id="",
                                            new_client_secret="typed-secret-555"))
    assert response.status_code == 200  # the form comes back with an error
    html = response.content.decode()
    assert "typed-secret-555" not in html and SECRET not in html
    assert OAuthClient.objects.get(pk=oauth.pk).client_secret == SECRET


def test_creating_without_a_secret_is_refused(admin_browser, oauth):
    data = form_data(oauth, slug="fresh", name="Fresh", client_id="cid-fresh")
    response = admin_browser.post(f"{CLIENTS}add/", data)
    assert response.status_code == 200
    assert "A new OAuth client needs its secret." in response.content.decode()
    assert not OAuthClient.objects.filter(slug="fresh").exists()


def test_creating_with_a_secret(admin_browser, oauth):
    data = form_data(oauth, slug="fresh", name="Fresh", client_id="cid-fresh",
                     new_client_secret="fresh-secret-42")
    response = admin_browser.post(f"{CLIENTS}add/", data)
    assert response.status_code == 302
    created = OAuthClient.objects.get(slug="fresh")
    assert created.client_secret == "fresh-secret-42"
    assert "fresh-secret-42" not in raw_secret(created.pk)


# --- connections -----------------------------------------------------------------

@pytest.fixture
def connections(user, oauth, make_connection, make_client, django_user_model):
    other_client = make_client()
    bob = django_user_model.objects.create_user("bobby", "bob@example.com", "pw")
    carol = django_user_model.objects.create_user("carol", "carol@example.com", "pw")
    return {
        "alice": make_connection(user, oauth, access_token="alice-ACCESS-tok",
                                 refresh_token="alice-REFRESH-tok", external_username="tt_alice"),
        "bob": make_connection(bob, other_client, access_token="bob-ACCESS-tok",
                               refresh_token="bob-REFRESH-tok",
                               status=Connection.Status.REAUTHORIZATION_REQUIRED),
        "carol": make_connection(carol, oauth, access_token="carol-ACCESS-tok",
                                 refresh_token="carol-REFRESH-tok", last_error="timed out"),
    }


TOKENS = ("alice-ACCESS-tok", "alice-REFRESH-tok", "bob-ACCESS-tok", "bob-REFRESH-tok",
          "carol-ACCESS-tok", "carol-REFRESH-tok", SECRET)


def listed(response):
    return {c.pk for c in response.context["cl"].result_list}


def test_changelist_never_shows_tokens_and_shows_time_left(admin_browser, connections):
    response = admin_browser.get(CONNECTIONS)
    assert response.status_code == 200
    html = response.content.decode()
    for secret in TOKENS:
        assert secret not in html
    assert "59 min" in html  # access token: about an hour left
    assert "29 days 23 h" in html  # refresh token: about 30 days left
    assert "@tt_alice" in html


def test_change_page_never_shows_tokens(admin_browser, connections):
    conn = connections["alice"]
    response = admin_browser.get(f"{CONNECTIONS}{conn.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    for secret in TOKENS:
        assert secret not in html
    with db.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM django_euler_oauth_connection "
                       "WHERE id = %s", [conn.pk])
        for ciphertext in cursor.fetchone():
            assert ciphertext not in html
    assert "59 min" in html


def test_expired_token_shows_expired(admin_browser, user, oauth, make_connection):
    make_connection(user, oauth, expires_in=-60)
    assert "expired" in admin_browser.get(CONNECTIONS).content.decode()


def test_no_add_page(admin_browser, connections):
    assert admin_browser.get(f"{CONNECTIONS}add/").status_code == 403


def test_filter_by_status(admin_browser, connections):
    response = admin_browser.get(CONNECTIONS, {"status__exact": "reauthorization_required"})
    assert listed(response) == {connections["bob"].pk}
    response = admin_browser.get(CONNECTIONS, {"status__exact": "active"})
    assert listed(response) == {connections["alice"].pk, connections["carol"].pk}


def test_filter_by_client(admin_browser, connections, oauth):
    response = admin_browser.get(CONNECTIONS, {"client__id__exact": oauth.pk})
    assert listed(response) == {connections["alice"].pk, connections["carol"].pk}


def test_needs_attention_filter(admin_browser, connections):
    assert listed(admin_browser.get(CONNECTIONS, {"attention": "reauth"})) == \
        {connections["bob"].pk}
    assert listed(admin_browser.get(CONNECTIONS, {"attention": "failing"})) == \
        {connections["carol"].pk}
    assert len(listed(admin_browser.get(CONNECTIONS))) == 3


def test_search_by_username(admin_browser, connections):
    assert listed(admin_browser.get(CONNECTIONS, {"q": "bobby"})) == {connections["bob"].pk}
    assert listed(admin_browser.get(CONNECTIONS, {"q": "tt_alice"})) == \
        {connections["alice"].pk}
    assert listed(admin_browser.get(CONNECTIONS, {"q": "carol@example.com"})) == \
        {connections["carol"].pk}


def test_refresh_action(admin_browser, connections, provider, oauth):
    conn = connections["alice"]
    provider.queue(TOKEN, Answer(200, token_body("alice-new-access", "alice-new-refresh")))
    response = admin_browser.post(CONNECTIONS, {"action": "refresh_now",
                                                "_selected_action": [conn.pk]}, follow=True)
    assert response.status_code == 200
    sent = provider.requests_to(TOKEN)
    assert len(sent) == 1
    assert sent[0].form["grant_type"] == "refresh_token"
    assert sent[0].form["refresh_token"] == "alice-REFRESH-tok"
    assert sent[0].form["client_secret"] == SECRET
    row = Connection.objects.get(pk=conn.pk)
    assert row.access_token == "alice-new-access" and row.refresh_token == "alice-new-refresh"
    html = response.content.decode()
    assert "Refreshed 1 connection." in html
    assert "alice-new-access" not in html


def test_refresh_action_reports_failures(admin_browser, connections, provider):
    conn = connections["alice"]
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant"}))
    response = admin_browser.post(CONNECTIONS, {"action": "refresh_now",
                                                "_selected_action": [conn.pk]}, follow=True)
    html = response.content.decode()
    assert "invalid_grant" in html
    assert "alice-REFRESH-tok" not in html
    row = Connection.objects.get(pk=conn.pk)
    assert row.status == Connection.Status.REAUTHORIZATION_REQUIRED


def test_revoke_action(admin_browser, connections, provider, oauth):
    conn = connections["alice"]
    provider.default(REVOKE, Answer(200, {}))
    response = admin_browser.post(CONNECTIONS, {"action": "revoke", "post": "yes",
                                                "_selected_action": [conn.pk]}, follow=True)
    assert response.status_code == 200
    assert [r.form["token"] for r in provider.requests_to(REVOKE)] == \
        ["alice-REFRESH-tok", "alice-ACCESS-tok"]
    row = Connection.objects.get(pk=conn.pk)
    assert row.status == Connection.Status.REVOKED
    assert row.access_token == "" and row.refresh_token == ""
    assert "Revoked 1 connection." in response.content.decode()
    # The others are untouched.
    assert Connection.objects.get(pk=connections["carol"].pk).access_token == "carol-ACCESS-tok"


def test_revoke_action_when_the_provider_is_down(admin_browser, connections, provider):
    conn = connections["alice"]
    provider.default(REVOKE, Answer(503, "down"))
    response = admin_browser.post(CONNECTIONS, {"action": "revoke", "post": "yes",
                                                "_selected_action": [conn.pk]}, follow=True)
    assert Connection.objects.get(pk=conn.pk).status == Connection.Status.REVOKED
    assert "could not confirm" in response.content.decode()


def test_staff_without_permission_cannot_see_connections(client, django_user_model,
                                                         connections):
    staff = django_user_model.objects.create_user("staff", "s@example.com", "pw", is_staff=True)
    client.force_login(staff)
    assert client.get(CONNECTIONS).status_code == 403


# --- TikTok accounts: handle, avatar, uid ----------------------------------------

def test_connection_shows_the_account_handle_avatar_and_uid(admin_browser, user, oauth,
                                                           make_connection):
    conn = make_connection(user, oauth, external_id="7100000000000000001",
                           external_username="tt_alice", external_nickname="Alice Live",
                           external_avatar_url="https://p16.example/alice.jpeg")
    html = admin_browser.get(f"{CONNECTIONS}{conn.pk}/change/").content.decode()
    assert "@tt_alice <small>(7100000000000000001)</small>" in html
    assert '<img src="https://p16.example/alice.jpeg"' in html
    assert "Alice Live" in html
    listing = admin_browser.get(CONNECTIONS).content.decode()
    assert "@tt_alice <small>(7100000000000000001)</small>" in listing


def test_avatar_url_is_escaped(admin_browser, user, oauth, make_connection):
    conn = make_connection(user, oauth, external_username="tt_x",
                           external_avatar_url='https://p16.example/a.jpeg"><script>x()</script>')
    html = admin_browser.get(f"{CONNECTIONS}{conn.pk}/change/").content.decode()
    assert "<script>x()</script>" not in html
    assert "&quot;&gt;&lt;script&gt;" in html


def test_search_by_uid_is_exact(admin_browser, connections, user, oauth, make_connection):
    conn = make_connection(user, oauth, external_id="7100000000000000042",
                           external_username="tt_second")
    assert listed(admin_browser.get(CONNECTIONS, {"q": "7100000000000000042"})) == {conn.pk}
    assert listed(admin_browser.get(CONNECTIONS, {"q": "71000000000000000"})) == set()


def test_user_page_lists_the_users_connections_without_tokens(admin_browser, user,
                                                             connections):
    response = admin_browser.get(f"/admin/auth/user/{user.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "TikTok connections" in html
    assert "tt_alice" in html
    assert f"/admin/django_euler_oauth/connection/{connections['alice'].pk}/change/" in html
    for secret in TOKENS:
        assert secret not in html
    # The inline is read-only: saving the user leaves the connection as it was.
    assert 'name="euler_connections-0-external_username"' not in html


# --- what an administrator sees -------------------------------------------------

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


def test_the_default_scopes_box_shows_them_all(admin_browser, oauth):
    """A dozen scopes run to 200 characters: a wrapping box as wide as the admin's text
    areas, not a one-line input that showed the first three; saved on one line."""
    every = ("user:info webcast:fetch webcast:bulk_live_check webcast:rankings webcast:mute "
             "webcast:ban webcast:comments webcast:sensitive_words webcast:moderators "
             "webcast:live_analytics webcast:user_earnings")
    OAuthClient.objects.filter(pk=oauth.pk).update(scopes=every)
    html = admin_browser.get(f"{CLIENTS}{oauth.pk}/change/").content.decode()
    box = re.search(r'<textarea name="scopes"[^>]*>\s*([^<]*)</textarea>', html)
    assert box, "the scopes are not in a text area"
    assert 'class="vLargeTextField"' in box.group(0) and 'rows="3"' in box.group(0)
    assert box.group(1).strip() == every
    typed = "user:info\r\nwebcast:fetch   webcast:mute\n"
    response = admin_browser.post(f"{CLIENTS}{oauth.pk}/change/",
                                  form_data(oauth, scopes=typed))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert OAuthClient.objects.get(pk=oauth.pk).scopes == "user:info webcast:fetch webcast:mute"
