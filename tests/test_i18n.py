"""Translations: the app ships a German catalog, compiled, that covers every string the
package marks; a user whose language is German sees the error page, the views' messages,
the account and team pages and the named missing permission in German; makemessages
works on the package."""

from __future__ import annotations

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation

import django_euler_oauth
from django_euler_oauth import errors

PACKAGE = Path(django_euler_oauth.__file__).parent
CATALOG = PACKAGE / "locale" / "de" / "LC_MESSAGES"
LOCALIZED = {
    "LANGUAGES": [("en", "English"), ("de", "Deutsch")],
    "MIDDLEWARE": [*settings.MIDDLEWARE[:2], "django.middleware.locale.LocaleMiddleware",
                   *settings.MIDDLEWARE[2:]],
}

FRIENDLY = sorted({cls for cls in vars(errors).values()
                   if isinstance(cls, type) and issubclass(cls, errors.EulerOAuthError)
                   and cls.message}, key=lambda cls: cls.__name__)


def _unformat(mo: Path) -> str:
    """A compiled catalog as sorted PO text (msgunfmt), to compare two of them."""
    return subprocess.run(["msgunfmt", str(mo)], capture_output=True, text=True, check=True,
                          timeout=30).stdout


def test_the_catalog_is_shipped_and_compiled(tmp_path):
    po, mo = CATALOG / "django.po", CATALOG / "django.mo"
    assert po.is_file() and mo.is_file()
    compiled = gettext.GNUTranslations(mo.open("rb"))
    assert compiled.gettext("Try again") == "Erneut versuchen"
    if not (shutil.which("msgfmt") and shutil.which("msgunfmt")):
        pytest.skip("gettext tools not installed")
    # The .po is valid and the shipped .mo is what it compiles to (not a stale one).
    fresh = tmp_path / "django.mo"
    result = subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(po)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert _unformat(mo) == _unformat(fresh)


@pytest.mark.parametrize("cls", FRIENDLY, ids=lambda cls: cls.__name__)
def test_every_friendly_message_has_a_german_translation(cls):
    english = str(cls.message)
    with translation.override("de"):
        german = cls().friendly_message
    assert german and german != english, cls


def test_the_missing_permission_is_named_in_the_users_language():
    err = errors.error_for_code("insufficient_scope",
                                "Token does not have required scope: webcast:chat")
    assert err.friendly_message == ("Additional permission required: webcast:chat. "
                                    "Please reconnect and allow it.")
    with translation.override("de"):
        assert err.friendly_message == ("Zusätzliche Berechtigung erforderlich: webcast:chat. "
                                        "Bitte verbinde dich erneut und erlaube sie.")
    # Without a named scope: the documented text.
    assert errors.error_for_code("insufficient_scope").friendly_message == \
        "Additional permissions required. Please reconnect."


@override_settings(**LOCALIZED)
def test_a_german_user_sees_the_error_page_in_german(browser, oauth):
    response = browser.get("/oauth/callback/", {"state": "forged"},
                           HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    html = response.content.decode()
    assert response.status_code == 400
    assert '<html lang="de"' in html
    assert "Wir konnten dein TikTok-Konto nicht verbinden" in html
    assert ("Dieser Verbindungsversuch ist abgelaufen oder wurde in einem anderen Browser "
            "begonnen. Bitte fange noch einmal an.") in html
    assert "Erneut versuchen" in html and "Zurück zur Website" in html
    # An English reader gets English.
    english = browser.get("/oauth/callback/", {"state": "forged"},
                          HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="en"' in english and "Try again" in english


@override_settings(**LOCALIZED)
def test_a_german_user_sees_the_views_messages_in_german(browser, oauth):
    response = browser.post("/oauth/disconnect/", {"next": "/"},
                            HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == \
        ["Es ist kein TikTok-Konto verbunden."]


def test_makemessages_keeps_the_catalog(tmp_path, monkeypatch):
    """makemessages runs on the package (it failed without locale/) and loses nothing."""
    if not shutil.which("xgettext"):
        pytest.skip("gettext tools not installed")
    copy = tmp_path / "django_euler_oauth"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(copy)
    call_command("makemessages", locale=["de"], ignore_patterns=["sandbox/*", "migrations/*"],
                 no_location=True, verbosity=0)
    fresh = (copy / "locale/de/LC_MESSAGES/django.po").read_text()
    assert "#, fuzzy\nmsgid \"Try again\"" not in fresh
    compiled = subprocess.run(["msgfmt", "--statistics", "-o", str(tmp_path / "fresh.mo"),
                               "-"], input=fresh.encode(), capture_output=True, check=True,
                              timeout=30)
    # Every string the package marks today has a German translation, none left fuzzy.
    stats = compiled.stderr.decode()
    assert "fuzzy" not in stats and "untranslated" not in stats, stats
    regenerated = gettext.GNUTranslations((tmp_path / "fresh.mo").open("rb"))
    shipped = gettext.GNUTranslations((CATALOG / "django.mo").open("rb"))
    # Every message the source marks today is translated in the shipped catalog.
    for cls in FRIENDLY:
        with translation.override(None):
            msgid = str(cls.message)
        assert regenerated.gettext(msgid) == shipped.gettext(msgid) != msgid, msgid


@override_settings(**LOCALIZED)
@pytest.mark.django_db
@pytest.mark.parametrize("path, german, english", [
    ("/oauth/login/", "Mit TikTok anmelden", "Sign in with TikTok"),
    ("/oauth/accounts/", "Deine TikTok-Konten", "Your TikTok accounts"),
    ("/oauth/team/", "Lade jemanden mit diesen Berechtigungen ein",
     "Invite someone with these permissions"),
    ("/oauth/team/audit/", "Was mit deinem Konto getan wurde",
     "What was done with your account"),
])
def test_a_german_user_sees_the_account_and_team_pages_in_german(client, team_conn, user, path,
                                                                  german, english):
    client.force_login(user)
    html = client.get(path, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert '<html lang="de"' in html and german in html and english not in html
    assert english in client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
