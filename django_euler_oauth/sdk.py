"""Euler's official Python SDK (``eulerapisdk``) with a connection's tokens.

Install the extra (``pip install django-euler-oauth[sdk]``), then::

    from EulerApiSdk.api.tik_tok_live_moderation import mute_room_user
    from django_euler_oauth import sdk

    answer = sdk.call(connection, mute_room_user, room_id, user_id="123")

:func:`call` gives the SDK function ``client=`` (an ``AuthenticatedClient`` on
the OAuth client's API host, sending the account's API key as ``X-Api-Key``)
and ``x_oauth_token=`` (the connection's access token, refreshed first when
near expiry), reads the answer's status and error code, and handles it exactly
like :class:`~django_euler_oauth.api.EulerAPI` (the same code:
:func:`~django_euler_oauth.recovery.with_connection_token`): ``token_expired``
refreshes once (single flight) and retries, ``session_expired`` revokes and
clears, ``invalid_token``/``revoked_token`` require re-authorization, 429/503
are retried a bounded number of times, 500 raises a
:class:`~django_euler_oauth.errors.RetryableError`. It returns the SDK's parsed
model (or a :class:`~django_euler_oauth.client.BinaryAnswer` for the
protobuf-answering connect endpoints). Its requests go through the process-wide
``requests`` session with the deadline and size limits of every provider call
(:mod:`~django_euler_oauth.sdk_transport`), and no API key, token or client
secret shows in Django's error reports.

The SDK is imported lazily: the rest of the app works without it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.views.decorators.debug import sensitive_variables

from .answers import BinaryAnswer, check_answer
from .api import EulerAPI
from .client import ProviderClient
from .endpoints import ENDPOINTS_BY_NAME
from .errors import (
    ConfigurationError,
    EulerOAuthError,
    MalformedResponse,
    NotDelegated,
    Stage,
    TransportError,
)
from .recovery import with_connection_token
from .refresh import get_access_token

if TYPE_CHECKING:
    from .models import Connection, OAuthClient

__all__ = ["call", "euler_sdk", "sdk_client"]


def _sdk() -> ModuleType:
    try:
        import EulerApiSdk
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ConfigurationError(
            "Euler's SDK is not installed: pip install 'django-euler-oauth[sdk]'."
        ) from err
    return EulerApiSdk


@sensitive_variables()
def sdk_client(oauth_client: OAuthClient) -> Any:
    """An SDK client on ``oauth_client``'s API host with its API key as ``X-Api-Key``.

    An ``EulerApiSdk.AuthenticatedClient`` (its ``repr`` hides the key; a plain
    ``Client`` when no API key is configured) whose requests go through
    :class:`~django_euler_oauth.sdk_transport.ProviderTransport`: the process-wide
    session, ``EULER_OAUTH_HTTP_TIMEOUT`` for each call as a whole, the size limits,
    redirects not followed. Use it as a context manager, or close it, when done.
    """
    sdk = _sdk()
    from .sdk_transport import KeyedClient, sdk_options

    options = sdk_options(oauth_client)
    key = ProviderClient(oauth_client).api_key
    if not key:
        return sdk.Client(**options)
    return KeyedClient(token=key, auth_header_name="X-Api-Key", prefix="", **options)


def _delegate_of(connection: Connection) -> Any:
    """The delegate a connection handed out by the request acts for, or None (the owner;
    see ``Connection.acting_user``)."""
    acting = getattr(connection, "acting_user", None)
    if acting is not None and getattr(acting, "pk", None) != connection.user_id:
        return acting
    return None


@sensitive_variables()
def euler_sdk(connection: Connection) -> tuple[Any, str]:
    """``(client, access_token)`` for calling SDK functions yourself.

    ``access_token`` is valid now (refreshed first when near expiry); pass it
    as ``x_oauth_token=``. Errors in the answers are then yours to handle:
    :func:`call` handles them for you. A connection delegated to the request's user
    raises :class:`~django_euler_oauth.errors.NotDelegated`: its token is only for its
    owner (:func:`call` checks and audits a delegate's calls instead).
    """
    if _delegate_of(connection) is not None:
        raise NotDelegated("This TikTok account is delegated to you: its token is only "
                           "for its owner. Use sdk.call(), which checks the delegation.")
    return sdk_client(connection.client), get_access_token(connection)


def _sync_detailed(function: Any) -> Callable[..., Any]:
    """The ``sync_detailed`` of an SDK endpoint module (or of the module of a function)."""
    module: ModuleType | None
    if isinstance(function, ModuleType):
        module = function
    else:
        if getattr(function, "__name__", "") == "sync_detailed":
            return function
        module = sys.modules.get(getattr(function, "__module__", ""))
    detailed = getattr(module, "sync_detailed", None)
    if not callable(detailed):
        raise TypeError(f"{function!r} is not an eulerapisdk endpoint (no sync_detailed).")
    return detailed


@sensitive_variables("secrets")
def _check(response: Any, secrets: list[str | None]) -> None:
    """Raise our exception when an SDK ``Response`` is an error answer."""
    status = int(response.status_code)
    content = response.content or b""
    ctype = str(response.headers.get("content-type", ""))
    body: Any = None
    if "json" in ctype.lower() or (status >= 400 and content[:1] in (b"{", b"[")):
        try:
            body = json.loads(content)
        except ValueError:
            body = None
    check_answer(status, body, response.headers, stage=Stage.API, secrets=secrets)


@sensitive_variables()
def call(connection: Connection, function: Any, *args: Any,
         sleep: Callable[[float], Any] = time.sleep, **kwargs: Any) -> Any:
    """Call an ``eulerapisdk`` endpoint as ``connection``; the SDK's parsed model.

    ``function``: an SDK endpoint module (``mute_room_user``) or one of its
    functions; its ``sync_detailed`` is called with ``*args``, ``**kwargs``,
    ``client=`` and ``x_oauth_token=``. Error answers raise our exceptions
    with the same outcomes as :class:`~django_euler_oauth.api.EulerAPI` (see
    the module docstring); a 2xx answer the SDK does not model (the connect
    endpoints' protobuf) comes back as a :class:`BinaryAnswer`. The call ends
    within ``EULER_OAUTH_HTTP_TIMEOUT`` and reads at most the size limits, as
    our own calls do (:mod:`~django_euler_oauth.sdk_transport`).

    A connection delegated to the request's user (``request.euler_connection`` after
    ``switch``) is checked against the delegation and audited as that user, like
    :class:`~django_euler_oauth.api.EulerAPI`: ``function`` must be the endpoint of the
    same name in :data:`~django_euler_oauth.endpoints.ENDPOINTS`.

    Every frame that holds the client, the API key or the token is marked
    sensitive, and no error leaving it carries the SDK's or httpx's frames: Django's
    error reports show none of them.
    """
    detailed = _sync_detailed(function)
    name = getattr(sys.modules.get(detailed.__module__), "__name__", "sdk").rsplit(".", 1)[-1]
    delegate = _delegate_of(connection)
    if delegate is None:
        return _call(connection, detailed, name, args, kwargs, sleep)
    # A delegate: the SDK function is the endpoint of the same name in the table, checked
    # and audited as EulerAPI does; a function outside the table is for the owner only.
    endpoint = ENDPOINTS_BY_NAME.get(name)
    if endpoint is None:
        raise NotDelegated(f"{name} is not an endpoint a delegate may call.")
    api = EulerAPI(connection, acting_user=delegate)
    return api.audited(endpoint, kwargs,
                       lambda: _call(connection, detailed, name, args, kwargs, sleep))


@sensitive_variables()
def _call(connection: Connection, detailed: Callable[..., Any], name: str,
          args: tuple[Any, ...], kwargs: dict[str, Any],
          sleep: Callable[[float], Any]) -> Any:
    import httpx

    with sdk_client(connection.client) as client:
        key = ProviderClient(connection.client).api_key

        @sensitive_variables()
        def attempt(token: str) -> Any:
            secrets = [token, key]
            failure: EulerOAuthError | None = None
            try:
                response = detailed(*args, client=client, x_oauth_token=token, **kwargs)
            except EulerOAuthError as err:  # from our transport: the deadline, the limit
                # Its traceback runs through the SDK's and httpx's frames (the request,
                # its headers): dropped, the error raised again from here.
                failure = err.with_traceback(None)
            except httpx.HTTPError as err:
                failure = TransportError(f"{name} failed: {type(err).__name__}.",
                                         stage=Stage.API)
            except (KeyError, TypeError, ValueError, AttributeError) as err:
                # The SDK's parser refused the answer (a required field missing).
                failure = MalformedResponse(f"{name}: the SDK could not read the answer "
                                            f"({type(err).__name__}).", stage=Stage.API)
            if failure is not None:
                # Raised outside the except blocks: no context chained to httpx's
                # exception, whose request (and frames) hold the token and the API key.
                raise failure
            _check(response, secrets)
            if response.parsed is not None:
                return response.parsed
            headers = dict(response.headers)
            ctype = str(response.headers.get("content-type", ""))
            return BinaryAnswer(bytes(response.content), ctype.split(";")[0].strip(), headers)

        return with_connection_token(connection, attempt, sleep=sleep)
