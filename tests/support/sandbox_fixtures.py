"""Fixtures for real HTTP against the sandbox provider, served on loopback.

``sandbox_url`` is pytest-django's live server (the test project, sandbox at
``/sandbox/``); ``sandbox_oauth`` creates a sandbox client plus the matching
``OAuthClient`` whose endpoints point there. Tests using them need
``@pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)`` so the
live server sees their rows (the sandbox's tables live in the ``euler_sandbox``
alias). :class:`SandboxBrowser` walks the sandbox's screens over HTTP.
"""

from __future__ import annotations

import contextlib
import gc
import html
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from django_euler_oauth.client import get_session
from django_euler_oauth.endpoints import SPEC_SCOPES
from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.sandbox.models import SandboxClient
from django_euler_oauth.sandbox.setup import ensure_demo_client, ensure_sandbox_client

SANDBOX_DATABASES = ["default", "euler_sandbox"]
TEST_SECRET = "sandbox-test-secret"
TIMEOUT = 10


@pytest.fixture
def sandbox_url(live_server: Any) -> Iterator[str]:
    """Base URL of the sandbox on the loopback live server."""
    yield live_server.url + "/sandbox"
    # Close keep-alive sockets now: a live-server thread still waiting on one when the
    # session-wide server stops would fail to close its shared in-memory DB connection.
    hang_up(get_session())
    for browser in list(SandboxBrowser.open_browsers):
        browser.close()
    gc.collect()


def hang_up(session: requests.Session) -> None:
    """Shut down ``session``'s pooled sockets, even those a stray response still holds."""
    for adapter in session.adapters.values():
        pools = getattr(getattr(adapter, "poolmanager", None), "pools", None)
        for key in list(pools.keys()) if pools is not None else []:
            pool = pools.get(key)
            queue = getattr(getattr(pool, "pool", None), "queue", ())
            for conn in list(queue):
                sock = getattr(conn, "sock", None)
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
    session.close()


@pytest.fixture
def make_sandbox_oauth(live_server: Any, sandbox_url: str
                       ) -> Callable[..., tuple[SandboxClient, OAuthClient]]:
    """Create a sandbox client and its OAuthClient; ``options`` configure the sandbox side."""
    counter = {"n": 0}

    def make(*, scopes: str = "webcast:fetch webcast:live_check", slug: str | None = None,
             oauth_fields: dict[str, Any] | None = None,
             **options: Any) -> tuple[SandboxClient, OAuthClient]:
        counter["n"] += 1
        return ensure_demo_client(
            sandbox_url,
            redirect_uris=["http://testserver/oauth/callback/",
                           live_server.url + "/oauth/callback/"],
            slug=slug or f"sandbox-{counter['n']}", client_id=f"sandbox-client-{counter['n']}",
            client_secret=TEST_SECRET, name="Flow Test App", scopes=scopes,
            oauth_fields=oauth_fields, **options)

    return make


@pytest.fixture
def sandbox_oauth(make_sandbox_oauth: Callable[..., tuple[SandboxClient, OAuthClient]]
                  ) -> tuple[SandboxClient, OAuthClient]:
    return make_sandbox_oauth()


@pytest.fixture
def sandbox_client_row(db: Any) -> SandboxClient:
    """A sandbox client for in-process tests (Django test client, no live server)."""
    return ensure_sandbox_client(
        "cid", client_secret=TEST_SECRET, name="Test App",
        redirect_uris=["http://app.example/callback", "http://127.0.0.1:9/cb"])


_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class SandboxBrowser:
    """Walks the sandbox's authorize screens over real HTTP, like a user would."""

    open_browsers: ClassVar[set[SandboxBrowser]] = set()

    def __init__(self) -> None:
        self.session = requests.Session()
        self.pages: list[str] = []
        self.open_browsers.add(self)

    def close(self) -> None:
        hang_up(self.session)
        self.open_browsers.discard(self)

    def __enter__(self) -> SandboxBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str) -> requests.Response:
        response = self.session.get(url, timeout=TIMEOUT, allow_redirects=False)
        self.pages.append(response.text)
        return response

    @staticmethod
    def link(page: requests.Response, label: str) -> str:
        match = re.search(r'href="([^"]+)"[^>]*>' + re.escape(label) + "<", page.text)
        assert match, f"no link {label!r} on the page"
        return urljoin(page.url, html.unescape(match.group(1)))

    def post_form(self, page: requests.Response, action_part: str,
                  **fields: str) -> requests.Response:
        match = re.search(r'<form method="post" action="([^"]*' + re.escape(action_part)
                          + r')"', page.text)
        assert match, f"no form posting to {action_part!r}"
        token = _CSRF.search(page.text)
        assert token, "no CSRF token on the page"
        data = {"csrfmiddlewaretoken": token.group(1), **fields}
        return self.session.post(urljoin(page.url, html.unescape(match.group(1))), data=data,
                                 timeout=TIMEOUT, allow_redirects=False)

    def authorize(self, authorize_url: str, *, cancel_on: str | None = None,
                  account: str | None = None) -> str:
        """Introduction -> permissions -> QR -> simulated scan; the redirect back (URL)."""
        intro = self.get(authorize_url)
        assert intro.status_code == 200, intro.text[:500]
        if cancel_on == "introduction":
            return self.post_form(intro, "/cancel").headers["Location"]
        permissions = self.get(self.link(intro, "Continue"))
        assert permissions.status_code == 200
        if cancel_on == "permissions":
            return self.post_form(permissions, "/cancel").headers["Location"]
        qr = self.get(self.link(permissions, "Allow and continue"))
        assert qr.status_code == 200
        if cancel_on == "qr":
            return self.post_form(qr, "/cancel").headers["Location"]
        fields = {"account": account} if account else {}
        done = self.post_form(qr, "/confirm", **fields)
        assert done.status_code == 302, done.text[:500]
        return done.headers["Location"]


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def sandbox_browser() -> Iterator[SandboxBrowser]:
    browser = SandboxBrowser()
    yield browser
    browser.close()


# --- a connection granting every scope of the spec ------------------------------------

SAMPLES: dict[str, Any] = {
    "room_id": "7300000000000000001", "numeric_id": "7100000000000000001",
    "unique_id": "sandbox_streamer", "user_id": "7200000000000000002",
    "user_numeric_ids": ["7100000000000000001", "7100000000000000002"],
    "region": "US", "rank_type": "DAILY_RANK", "anchor_id": "7100000000000000001",
    "content": "hello from the tests", "tiktok_user_id": "7200000000000000002",
    "enabled": True, "word": "spoiler", "sec_anchor_id": "MS4wLjABAAAA-sandbox",
    "word_id": "1", "to_user_id": "7200000000000000002",
}


def connect_all_scopes(client: Any, user: Any, make_sandbox_oauth: Any,
                       browser: SandboxBrowser, **options: Any) -> Connection:
    """A real connection through the sandbox granting every spec scope."""
    options.setdefault("response_style", "envelope")
    options.setdefault("token_transport", "x-oauth-token")
    options.setdefault("api_key", "sandbox-api-key")
    _sandbox, oauth = make_sandbox_oauth(scopes=" ".join(SPEC_SCOPES), **options)
    oauth.api_key = options["api_key"]
    oauth.save()
    client.force_login(user)
    response = client.get("/oauth/authorize/", {"client": oauth.slug})
    assert response.status_code == 302, response.content[:300]
    back = browser.authorize(response["Location"])
    client.get(urlsplit(back).path, query_of(back))
    return Connection.objects.select_related("client").get(user=user, client=oauth)


#: The mark of a test that connects through the sandbox on the live server.
sandbox_db = pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)
