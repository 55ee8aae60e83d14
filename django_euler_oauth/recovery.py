"""What an API error does to a connection, for :class:`~django_euler_oauth.api.EulerAPI`
and the SDK helper (:mod:`~django_euler_oauth.sdk`) alike.

:func:`with_connection_token` makes one request with the connection's access token and
turns each documented error into its outcome: ``token_expired`` refreshes (single flight)
and retries once; ``invalid_token``/``revoked_token`` require re-authorization;
``session_expired`` revokes and clears the tokens; ``insufficient_scope`` gains the URL to
re-authorize with; 429 and 503 wait and retry a bounded number of times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from django.views.decorators.debug import sensitive_variables

from .conf import app_settings
from .errors import (
    InsufficientScope,
    InvalidToken,
    RateLimited,
    RevokedToken,
    SessionExpired,
    TemporarilyUnavailable,
    TokenExpired,
)
from .refresh import get_access_token, mark_reauthorization_required, refresh_connection
from .revocation import expire_session
from .scopes import reauthorize_url

if TYPE_CHECKING:
    from .models import Connection

T = TypeVar("T")

__all__ = ["with_connection_token"]


@sensitive_variables("token")
def with_connection_token(connection: Connection, attempt: Callable[[str], T], *,
                          sleep: Callable[[float], Any] = time.sleep) -> T:
    """``attempt(access_token)`` with the documented outcomes of an API error.

    ``attempt`` makes one request with the token and raises our exceptions
    for error answers. ``token_expired`` refreshes (single flight: a refresh
    another caller already made is only re-read) and tries once more;
    ``invalid_token``/``revoked_token`` mark the connection for
    re-authorization only while the refused token is still the stored one
    (else the newer token is tried once); ``session_expired`` revokes and
    clears the tokens; ``insufficient_scope`` gains ``reauthorize_url``; 429
    and 503 wait (the reset headers, capped) and retry up to
    ``EULER_OAUTH_API_MAX_RETRIES`` times. Anything else is raised as is.
    """
    token = get_access_token(connection)
    refreshed = False
    retries = 0
    # Bounded: one try, at most one refresh (or newer token), API_MAX_RETRIES waits.
    for _ in range(2 + max(0, app_settings.API_MAX_RETRIES)):
        try:
            return attempt(token)
        except TokenExpired:
            if refreshed:
                raise
            # Single flight: if another caller already refreshed, this only re-reads.
            refresh_connection(connection, rejected_token=token)
            token = connection.access_token
            refreshed = True
        except (InvalidToken, RevokedToken) as err:
            if not mark_reauthorization_required(connection, err.code, err,
                                                 rejected_token=token) \
                    and connection.is_active and not refreshed:
                # Another caller replaced the token meanwhile: try the new one once.
                token = connection.access_token
                refreshed = True
                continue
            raise
        except SessionExpired as err:
            # Refreshing cannot help: revoke both tokens, clear them, ask to reconnect;
            # unless the refused token is no longer stored (a reconnect meanwhile).
            if not expire_session(connection, err, rejected_token=token) \
                    and connection.is_active and not refreshed:
                token = connection.access_token
                refreshed = True
                continue
            raise
        except InsufficientScope as err:
            err.reauthorize_url = reauthorize_url(  # type: ignore[attr-defined]
                connection, err.missing_scope)
            raise
        except (RateLimited, TemporarilyUnavailable) as err:
            if retries >= app_settings.API_MAX_RETRIES:
                raise
            wait = err.retry_after if err.retry_after is not None else 0.5 * 2 ** retries
            sleep(min(wait, app_settings.API_MAX_RETRY_WAIT))
            retries += 1
    raise AssertionError("unreachable: every path above returns or raises")
