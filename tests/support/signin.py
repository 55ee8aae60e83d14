"""Signing in with TikTok through the sandbox on the loopback live server.

``signin_oauth`` (registered in ``tests/conftest.py``) is the sandbox client with slug
``tiktok`` that the login page offers; :func:`sign_in` and :func:`connect` drive the
site with Django's test client and the sandbox's screens with a
:class:`~tests.support.sandbox_fixtures.SandboxBrowser` (which picks the simulated
TikTok account). Tests using them need ``SANDBOX_DATABASES`` (transactional).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from .sandbox_fixtures import SandboxBrowser, query_of

SCOPES = "webcast:fetch user:info"
#: The sandbox's two TikTok accounts.
STREAMER, VIEWER = "sandbox_streamer", "sandbox_viewer"


@pytest.fixture
def signin_oauth(make_sandbox_oauth: Any) -> Any:
    """The sandbox client behind "Sign in with TikTok" (slug ``tiktok``, ``SCOPES``)."""
    _sandbox, oauth = make_sandbox_oauth(scopes=SCOPES, slug="tiktok")
    return oauth


def sign_in(client: Client, browser: SandboxBrowser, account: str, *, next_url: str = "",
            slug: str = "") -> Any:
    """The login page, its button, the sandbox's screens as ``account``, the callback."""
    page = client.get("/oauth/login/", {"next": next_url} if next_url else {})
    assert page.status_code == 200 and b"Sign in with TikTok" in page.content
    started = client.post("/oauth/login/", {"next": next_url, "client": slug})
    assert started.status_code == 302, started.content[:300]
    back = browser.authorize(started["Location"], account=account)
    assert urlsplit(back).path == "/oauth/callback/"
    return client.get("/oauth/callback/", query_of(back))


def connect(client: Client, browser: SandboxBrowser, account: str) -> Any:
    """Authorize (to connect, not to sign in), the sandbox's screens as ``account``, the
    callback."""
    started = client.get("/oauth/authorize/", {"next": "/current/"})
    assert started.status_code == 302, started.content[:300]
    back = browser.authorize(started["Location"], account=account)
    return client.get("/oauth/callback/", query_of(back))
