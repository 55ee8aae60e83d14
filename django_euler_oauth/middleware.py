"""Attach the user's Euler connection and a valid access token to each request."""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import warnings
from collections.abc import Awaitable, Callable
from types import MethodType
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from .accounts import current_connection
from .errors import EulerOAuthError, NotDelegated, SyncAttributeInAsyncContext
from .models import Connection
from .refresh import get_access_token
from .reporting import debug_safe_filter

logger = logging.getLogger("django_euler_oauth.middleware")


def get_connection(user: Any) -> Connection | None:
    """Deprecated: not what ``request.euler_connection`` is (that is the session's current
    connection, :func:`~django_euler_oauth.accounts.current_connection`). The user's most
    recent active connection for the default client: ``Connection.objects.default_for``."""
    warnings.warn("django_euler_oauth.middleware.get_connection is deprecated: use "
                  "accounts.current_connection(request) (what request.euler_connection is) "
                  "or Connection.objects.default_for(user).", DeprecationWarning, stacklevel=2)
    return Connection.objects.default_for(user)


_object_getattribute = object.__getattribute__


def _check_not_async(func: Callable[[HttpRequest], Any]) -> None:
    """Raise a clear error when ``func`` would run on an event loop's thread."""
    if asyncio._get_running_loop() is None:
        return  # no event loop here: a sync view, or sync_to_async's thread
    if os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"):
        return
    name, accessor = _ACCESSORS.get(func, ("euler_token", "aeuler_token"))
    raise SyncAttributeInAsyncContext(
        f"request.{name} was read in an async view (or other async code), where it "
        f"cannot query the database: use `await request.{accessor}()` instead."
    )


class _Lazy(SimpleLazyObject):
    """A SimpleLazyObject of ``func(request)`` that is cheap to make.

    ``LazyObject.__init__`` goes through ``LazyObject.__getattribute__`` and
    ``__setattr__``, and a ``partial`` per attribute is one more allocation; on a
    request that never reads the token those are most of the middleware's cost,
    so the slots are written directly and the request is kept beside the function.
    """

    def __init__(self, func: Callable[[HttpRequest], Any], request: HttpRequest) -> None:
        data = _object_getattribute(self, "__dict__")
        data["_setupfunc"] = func
        data["_request"] = request
        data["_wrapped"] = empty

    def _setup(self) -> None:
        data = _object_getattribute(self, "__dict__")
        func = data["_setupfunc"]
        _check_not_async(func)
        data["_wrapped"] = func(data["_request"])

    def __repr__(self) -> str:
        # What the attribute is (the connection, the token's absence), not <_Lazy ...>: read
        # once here, as any other use would. In async code, before it is awaited, it says so.
        data = _object_getattribute(self, "__dict__")
        if data["_wrapped"] is empty:
            if asyncio._get_running_loop() is not None:
                return "<not read yet: await request.aeuler_connection()>"
            self._setup()
        wrapped = data["_wrapped"]
        if data["_setupfunc"] is _token:  # never the token itself
            return "<a valid access token>" if wrapped else repr(wrapped)
        return repr(wrapped)

    def __copy__(self) -> Any:
        if self._wrapped is empty:
            return type(self)(self._setupfunc, self._request)
        return copy.copy(self._wrapped)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        if self._wrapped is empty:
            result = type(self)(self._setupfunc, self._request)
            memo[id(self)] = result
            return result
        return copy.deepcopy(self._wrapped, memo)


def _connection(request: HttpRequest) -> Connection | None:
    return current_connection(request)


async def _aconnection(request: HttpRequest) -> Connection | None:
    lazy = request.euler_connection  # type: ignore[attr-defined]
    if lazy._wrapped is empty:
        # Resolve the user the async way first, so the sync part makes one query.
        if hasattr(request, "auser"):
            request.user = await request.auser()
        await sync_to_async(_resolve)(lazy)
    connection: Connection | None = lazy._wrapped
    return connection


async def _atoken(request: HttpRequest) -> str | None:
    await _aconnection(request)
    token: str | None = await sync_to_async(_resolve)(
        request.euler_token)  # type: ignore[attr-defined]
    return token


def _resolve(lazy: SimpleLazyObject) -> Any:
    if lazy._wrapped is empty:
        lazy._setup()
    return lazy._wrapped


def _token(request: HttpRequest) -> str | None:
    connection = _resolve(request.euler_connection)  # type: ignore[attr-defined]
    if not connection:
        return None
    if connection.user_id != getattr(request.user, "pk", None):
        # A connection delegated to this user (teams): its token stays with its owner.
        request.euler_token_error = NotDelegated(  # type: ignore[attr-defined]
            "The current TikTok account is delegated to you: call the API with "
            "EulerAPI.for_request(request); its token is only for its owner.")
        return None
    try:
        return get_access_token(connection) or None
    except EulerOAuthError as err:
        # Views see a falsy token; the reason stays available to them.
        request.euler_token_error = err  # type: ignore[attr-defined]
        logger.info("No usable token for connection %s: %s", connection.pk, err.code or
                    type(err).__name__)
        return None


_ACCESSORS: dict[Callable[[HttpRequest], Any], tuple[str, str]] = {
    _connection: ("euler_connection", "aeuler_connection"),
    _token: ("euler_token", "aeuler_token"),
}


class EulerTokenMiddleware:
    """Sets ``request.euler_connection`` and ``request.euler_token``, lazily.

    Must come after ``django.contrib.auth.middleware.AuthenticationMiddleware``
    (it reads ``request.user``). Nothing is queried, decrypted or refreshed
    unless a view reads one of the attributes, and then only once per request.
    Async views await ``request.aeuler_connection()`` and ``request.aeuler_token()``.
    Both are falsy for anonymous users and users without an active connection.
    With ``DEBUG`` on it also keeps Django's ``sensitive_variables`` marks in force
    on the technical 500 page (see :mod:`django_euler_oauth.reporting`).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        self.process_request(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        self.process_request(request)
        result: Awaitable[HttpResponse] = self.get_response(request)
        return await result

    @staticmethod
    def process_request(request: HttpRequest) -> None:
        if not hasattr(request, "user"):
            raise ImproperlyConfigured(
                "EulerTokenMiddleware reads request.user: put it after "
                "'django.contrib.auth.middleware.AuthenticationMiddleware' in MIDDLEWARE."
            )
        # Four small objects per request and nothing else: this runs on every request.
        request.euler_connection = _Lazy(_connection, request)  # type: ignore[attr-defined]
        request.euler_token = _Lazy(_token, request)  # type: ignore[attr-defined]
        request.aeuler_connection = MethodType(_aconnection, request)  # type: ignore[attr-defined]
        request.aeuler_token = MethodType(_atoken, request)  # type: ignore[attr-defined]
        if settings.DEBUG and not hasattr(request, "exception_reporter_filter"):
            # Django ignores sensitive_variables under DEBUG: keep our marks in force.
            request.exception_reporter_filter = debug_safe_filter()
