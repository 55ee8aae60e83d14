"""Calling the Euler Stream API with a user's connection.

:class:`EulerAPI` sends the connection's access token the client's way
(``Authorization: Bearer`` as documented, or ``x-oauth-token`` with the
account's API key as the live service wants) and handles every documented API
error: ``token_expired`` refreshes and retries once; ``invalid_token`` and
``revoked_token`` require re-authorization; ``session_expired`` revokes and
clears the tokens; ``insufficient_scope`` names the missing scope and the URL
to re-authorize with it; 429 and 503 are retried a bounded number of times,
honouring the reset headers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

from .client import ProviderClient
from .conf import app_settings
from .errors import (
    InsufficientScope,
    InvalidToken,
    MalformedResponse,
    RateLimited,
    RevokedToken,
    SessionExpired,
    Stage,
    TemporarilyUnavailable,
    TokenExpired,
)
from .refresh import get_access_token, mark_reauthorization_required, refresh_connection
from .revocation import expire_session

if TYPE_CHECKING:
    from .models import Connection


def reauthorize_url(connection: Connection, extra_scope: str | None = None,
                    next_url: str | None = None) -> str | None:
    """The authorize URL asking again for the connection's scopes plus ``extra_scope``.

    None when the site does not include ``django_euler_oauth.urls``.
    """
    scopes = connection.scope_list
    if extra_scope and extra_scope not in scopes:
        scopes.append(extra_scope)
    query = {"client": connection.client.slug, "scope": " ".join(scopes)}
    if next_url:
        query["next"] = next_url
    try:
        base = reverse("euler_oauth:authorize")
    except NoReverseMatch:
        return None
    return base + "?" + urlencode(query)


class EulerAPI:
    """The Euler API on behalf of one connection."""

    def __init__(self, connection: Connection, *, sleep: Any = time.sleep) -> None:
        self.connection = connection
        self.provider = ProviderClient(connection.client)
        self._sleep = sleep

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None) -> Any:
        """Call ``path`` on the client's API host; the decoded answer.

        Raises a :class:`~django_euler_oauth.errors.EulerOAuthError` subclass
        (see the module docstring for which and when).
        """
        token = get_access_token(self.connection)
        refreshed = False
        retries = 0
        # Bounded: at most one refresh and API_MAX_RETRIES waits, then it raises.
        while True:
            try:
                return self.provider.api_call(method, path, token, params=params, json=json)
            except TokenExpired:
                if refreshed:
                    raise
                # Single flight: if another caller already refreshed, this only re-reads.
                refresh_connection(self.connection, rejected_token=token)
                token = self.connection.access_token
                refreshed = True
            except (InvalidToken, RevokedToken) as err:
                if not mark_reauthorization_required(self.connection, err.code, err,
                                                     rejected_token=token) \
                        and self.connection.is_active and not refreshed:
                    # Another caller replaced the token meanwhile: try the new one once.
                    token = self.connection.access_token
                    refreshed = True
                    continue
                raise
            except SessionExpired as err:
                # Refreshing cannot help: revoke both tokens, clear them, ask to reconnect.
                expire_session(self.connection, err)
                raise
            except InsufficientScope as err:
                err.reauthorize_url = reauthorize_url(  # type: ignore[attr-defined]
                    self.connection, err.missing_scope)
                raise
            except (RateLimited, TemporarilyUnavailable) as err:
                if retries >= app_settings.API_MAX_RETRIES:
                    raise
                wait = err.retry_after if err.retry_after is not None else 0.5 * 2 ** retries
                self._sleep(min(wait, app_settings.API_MAX_RETRY_WAIT))
                retries += 1

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        return self.request("POST", path, params=params or None, json=json)

    def userinfo(self) -> dict[str, Any]:
        """Who the connection belongs to (``/tiktok/oauth/userinfo``): the ``user`` object."""
        body = self.get("/tiktok/oauth/userinfo")
        user = body.get("user") if isinstance(body, dict) else None
        if not isinstance(user, dict):
            raise MalformedResponse("userinfo answer has no user object.", stage=Stage.API)
        return user
