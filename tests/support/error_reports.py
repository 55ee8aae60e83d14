"""Django's own error reports, read for secrets.

``admin_mails`` puts ``AdminEmailHandler(include_html=True)`` on ``django.request`` (as a
site's ``LOGGING`` would) and yields the locmem outbox; :func:`reports_of` splits the
mails into their parts (subject, text, HTML) and :func:`assert_reported` /
:func:`assert_clean` search them for the secret strings. ``reporting_client``,
``reporting_conn`` and ``reporting_web`` hold :data:`SECRETS`: a client, a connection
and a logged-in browser whose unhandled errors answer 500 and are reported. The fixtures
are registered in ``tests/conftest.py``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.db import connection as db
from django.test import Client
from django.utils.log import AdminEmailHandler

from django_euler_oauth.models import Connection

CLIENT_SECRET = "CS-report-7f3e9a1b2c"
STORED_ACCESS = "AT-stored-4d5e6f7a8b"
STORED_REFRESH = "RT-stored-9c0d1e2f3a"
NEW_ACCESS = "AT-issued-5a6b7c8d9e"
NEW_REFRESH = "RT-issued-0f1e2d3c4b"
CODE = "CODE-report-3b4c5d6e7f"
#: What :func:`assert_clean` looks for unless it is given other secrets.
SECRETS = (CLIENT_SECRET, STORED_ACCESS, STORED_REFRESH, NEW_ACCESS, NEW_REFRESH, CODE)


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture
def admin_mails(settings: Any, mailoutbox: list[Any]) -> Iterator[Outbox]:
    """Django's AdminEmailHandler with HTML on django.request, as LOGGING would set it."""
    settings.ADMINS = [("Ops", "ops@example.com")]
    settings.DEBUG = False
    handler = AdminEmailHandler(include_html=True)
    handler.setLevel(logging.ERROR)
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        yield Outbox()
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def reporting_web(user: Any) -> Client:
    """The test client logged in as ``user``; an unhandled error answers 500 (and is
    reported) instead of being raised in the test."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def reporting_client(provider: Any, make_client: Any) -> Any:
    """An OAuth client on the scripted provider, with :data:`CLIENT_SECRET` and PKCE."""
    return make_client(base=provider.url, client_secret=CLIENT_SECRET, use_pkce=True)


@pytest.fixture
def reporting_conn(reporting_client: Any, make_connection: Any, user: Any) -> Connection:
    """A connection of ``reporting_client`` whose access token is still valid."""
    connection: Connection = make_connection(user, reporting_client,
                                             access_token=STORED_ACCESS,
                                             refresh_token=STORED_REFRESH)
    return connection


# --- reading the reports -----------------------------------------------------------------

class Outbox:
    """``django.core.mail.outbox`` as it is when read (the test machinery may rebind it)."""

    def __iter__(self) -> Iterator[Any]:
        return iter(mail.outbox)

    def __len__(self) -> int:
        return len(mail.outbox)


def reports_of(mails: Any) -> list[tuple[str, str]]:
    """(where, text) of every part of every mail."""
    parts = []
    for message in mails:
        parts.append((f"mail subject {message.subject!r}", message.subject))
        parts.append((f"text mail {message.subject!r}", message.body))
        for content, _mime in getattr(message, "alternatives", []):
            parts.append((f"HTML mail {message.subject!r}", content))
    return parts


def assert_clean(where: str, text: str, *secrets: str) -> None:
    for secret in secrets or SECRETS:
        assert secret not in text, f"{secret!r} appears in the {where}"


def assert_reported(mails: Any, *secrets: str) -> None:
    assert mails, "no error report was mailed"
    assert any("Traceback" in text for _where, text in reports_of(mails))
    for where, text in reports_of(mails):
        assert_clean(where, text, *secrets)


def without_source(page: str) -> str:
    """The DEBUG page minus its source excerpts (a test module's constants may hold the
    secrets it looks for)."""
    return re.sub(r'<ol[^>]*class="(pre-context|context-line|post-context)".*?</ol>', "",
                  page, flags=re.S)


# --- making a write fail -----------------------------------------------------------------

def fail_inserts_into(table: str, statement: str = "INSERT") -> Iterator[None]:
    """Every ``statement`` (INSERT, or e.g. UPDATE OF a column) on ``table`` fails."""
    if db.vendor != "sqlite":
        pytest.skip("the trigger is written for SQLite")
    with db.cursor() as cursor:
        cursor.execute(
            f"CREATE TRIGGER fail_{table} BEFORE {statement} ON {table} "
            "BEGIN SELECT RAISE(ABORT, 'injected failure: disk I/O error'); END")
    yield
    with db.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS fail_{table}")
