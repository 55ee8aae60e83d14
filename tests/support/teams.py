"""Fixtures for the team tests: a streamer's connection and a would-be delegate.

Registered in ``tests/conftest.py``. ``streamer`` is a real connection through the
sandbox granting every scope (tests using it need ``sandbox_db``); ``team_conn`` is
one on the scripted loopback provider, made directly.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_euler_oauth.models import Connection

from .sandbox_fixtures import connect_all_scopes

#: The scopes of ``team_conn``: moderation and chat, what a team shares.
TEAM_SCOPES = "webcast:mute webcast:ban webcast:chat webcast:sensitive_words"


@pytest.fixture
def moderator(django_user_model: Any) -> Any:
    """A second user ("mod"), the one the owner delegates to."""
    return django_user_model.objects.create_user("mod", "mod@example.com", "pw")


@pytest.fixture
def streamer(client: Any, user: Any, make_sandbox_oauth: Any,
             sandbox_browser: Any) -> Connection:
    """``user``'s connection through the sandbox, granting every scope of the spec."""
    return connect_all_scopes(client, user, make_sandbox_oauth, sandbox_browser)


@pytest.fixture
def team_conn(oauth: Any, user: Any, make_connection: Any) -> Any:
    """``user``'s connection to @streamer on the scripted provider, with ``TEAM_SCOPES``."""
    return make_connection(user, oauth, scope=TEAM_SCOPES, external_username="streamer")
