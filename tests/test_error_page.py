"""The error page a user lands on: in the site's layout, styled by a static file (no inline
style a CSP would block), the provider's words labelled only when they are the provider's,
no internal words or raw codes in the text, and a way back that keeps next/client/scope."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import override_settings

import django_euler_oauth

from .support.loopback import Answer
from .support.seed_messages import SEED_MESSAGES

AUTHORIZE = "/oauth/authorize/"
CALLBACK = "/oauth/callback/"
TOKEN = "/tiktok/oauth/token"
STATE_MESSAGE = ("This connection attempt has expired or was started in another browser. "
                 "Please start again.")


def visible_text(html: str) -> str:
    """What a reader sees: tags (and their attributes) and comments removed."""
    html = re.sub(r"<!--.*?-->", " ", html, flags=re.S)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def retry_link(html: str) -> dict[str, list[str]] | None:
    match = re.search(r'<a class="euler-oauth-button" href="([^"]+)"', html)
    if match is None:
        return None
    url = urlsplit(unescape(match.group(1)))
    assert url.path == AUTHORIZE
    return parse_qs(url.query)


def start(browser, **params):
    response = browser.get(AUTHORIZE, params)
    assert response.status_code == 302, response.content[:300]
    return {k: v[0] for k, v in parse_qs(urlsplit(response["Location"]).query).items()}


def test_layout_is_the_overridable_base_with_a_static_stylesheet(browser, oauth):
    response = browser.get(CALLBACK, {"state": "forged", "code": "c"})
    assert response.status_code == 400
    html = response.content.decode()
    templates = [t.name for t in response.templates]
    assert "django_euler_oauth/error.html" in templates
    assert "django_euler_oauth/base.html" in templates
    # No inline style (Django 6's CSP middleware blocks it): a same-origin stylesheet.
    assert "<style" not in html and " style=" not in html
    href = f"{settings.STATIC_URL}django_euler_oauth/euler_oauth.css"
    assert f'<link rel="stylesheet" href="{href}">' in html
    css = Path(django_euler_oauth.__file__).parent / "static/django_euler_oauth/euler_oauth.css"
    assert ".euler-oauth-error" in css.read_text()
    assert re.search(r'<a href="/" class="euler-oauth-home">Back to the site</a>', html)
    assert '<html lang="en-us"' in html  # the active language, not a fixed "en"


def test_no_page_of_the_app_has_inline_style():
    """Every page the app renders (accounts, team, audit, errors) passes a CSP with
    ``style-src 'self'``: styles live in the static stylesheet only."""
    folder = Path(django_euler_oauth.__file__).parent / "templates"
    inline = [str(path.relative_to(folder)) for path in folder.rglob("*.html")
              if re.search(r"<style|\sstyle=", path.read_text())]
    assert inline == []


def test_a_project_overrides_the_base_template(browser, oauth, tmp_path):
    folder = tmp_path / "django_euler_oauth"
    folder.mkdir()
    (folder / "base.html").write_text(
        '<!DOCTYPE html><html><body><nav id="site-nav"><a href="/home/">My site</a></nav>'
        "{% block content %}{% endblock %}</body></html>")
    engine = {**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}
    with override_settings(TEMPLATES=[engine]):
        html = browser.get(CALLBACK, {"state": "forged"}).content.decode()
    assert '<nav id="site-nav"><a href="/home/">My site</a></nav>' in html
    assert STATE_MESSAGE in visible_text(html)


def test_local_state_error_shows_no_internal_words(browser, oauth):
    start(browser, next="/dashboard/")
    html = browser.get(CALLBACK, {"state": "forged", "code": "c"}).content.decode()
    text = visible_text(html)
    assert STATE_MESSAGE in text
    for internal in ("replayed", "forged", "Euler Stream said", "Details from",
                     "unknown to this browser session"):
        assert internal not in text, internal
    assert "Try again" in text


def test_unknown_client_names_no_slug_and_offers_no_pointless_retry(browser, oauth):
    response = browser.get(AUTHORIZE, {"client": "internal-slug-xyz", "next": "/dash/"})
    assert response.status_code == 404
    html = response.content.decode()
    assert "internal-slug-xyz" not in html
    text = visible_text(html)
    assert SEED_MESSAGES["invalid_client"] not in text  # ours, not the provider's
    assert "This TikTok connection is not available. Please contact support." in text
    assert "Euler Stream said" not in text and "Try again" not in text
    assert re.search(r'<a href="/dash/">Back to where you were</a>', html)


def test_scope_refused_here_is_not_labelled_as_the_providers(browser, oauth):
    response = browser.get(AUTHORIZE, {"scope": "webcast:fetch bogus:thing", "next": "/dash/",
                                       "client": oauth.slug})
    assert response.status_code == 400
    html = response.content.decode()
    text = visible_text(html)
    assert SEED_MESSAGES["invalid_scope"] in text
    assert "Euler Stream said" not in text and "bogus:thing" not in text
    assert "invalid_scope" not in text  # no raw code in what the user reads
    # Try again keeps where the user was going and the client; the refused scope would
    # be refused again, so it asks for the defaults.
    assert retry_link(html) == {"next": ["/dash/"], "client": [oauth.slug]}


def test_provider_words_are_labelled_and_retry_keeps_the_attempt(browser, oauth, provider):
    params = start(browser, next="/dash/", client=oauth.slug,
                   scope="webcast:fetch webcast:rankings")
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant",
                                       "error_description": "Authorization code <b>used</b>"}))
    response = browser.get(CALLBACK, {"code": "the-code", "state": params["state"]})
    assert response.status_code == 400
    html = response.content.decode()
    text = visible_text(html)
    assert SEED_MESSAGES["invalid_grant"] in text
    assert "Euler Stream said: Authorization code <b>used</b>" in text  # escaped, shown
    assert "<b>used</b>" not in html
    assert "invalid_grant" not in text
    assert 'data-error-code="invalid_grant"' in html  # for support, not in the text
    assert retry_link(html) == {"next": ["/dash/"], "client": [oauth.slug],
                                "scope": ["webcast:fetch webcast:rankings"]}


def test_our_own_transport_words_are_not_the_providers(browser, oauth, provider):
    params = start(browser)
    provider.queue(TOKEN, Answer(200, "<html>login</html>"))
    html = browser.get(CALLBACK, {"code": "c", "state": params["state"]}).content.decode()
    text = visible_text(html)
    assert "Euler Stream sent an answer we could not understand." in text
    assert "Euler Stream said" not in text and "not JSON" not in text


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x"])
def test_retry_never_keeps_a_foreign_next(browser, oauth, target):
    html = browser.get(AUTHORIZE, {"scope": "bogus", "next": target}).content.decode()
    link = retry_link(html)
    assert link is not None and "next" not in link
    assert "evil.example" not in html
