"""Incremental authorization: views that need TikTok scopes ask for them first.

``@euler_scopes_required("webcast:chat")`` on a function view (sync or async),
or :class:`EulerScopesRequiredMixin` with ``euler_scopes = (...)`` on a
class-based view, runs the view only when the user's current connection for
the default OAuth client (the one chosen with ``switch``, else the most recent)
grants every listed scope (documented aliases such as ``webcast:live_check``
count as their spec names). Otherwise:

- anonymous user: Django's login redirect (``settings.LOGIN_URL``);
- no connection (or only disconnected ones): ``euler_oauth:authorize`` asking
  for the client's default scopes plus the required ones, then back here;
- a connection missing a scope: authorize again asking for the scopes it has
  plus the missing ones (incremental authorization), then back here;
- a connection that needs re-authorization (the grant died, or the refresh
  token is past its lifetime): reconnect with its scopes plus the required.

"Back here" is ``next`` = the request's full path. Both need
``EulerTokenMiddleware`` (``request.euler_connection``): without it they raise
``ImproperlyConfigured`` saying so, rather than letting the view fail on the attribute.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .audit import record_scope_refusal
from .errors import EulerOAuthError
from .models import Connection, OAuthClient
from .pages import error_page, not_delegated_page
from .scopes import authorize_url, missing, reauthorize_url
from .teams import delegated_scopes

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

__all__ = ["EulerScopesRequiredMixin", "euler_scopes_required", "scopes_redirect"]


def scopes_redirect(request: HttpRequest, scopes: Iterable[str]) -> HttpResponse | None:
    """The redirect a view needing ``scopes`` must answer instead of running; None to run.

    The decision shared by :func:`euler_scopes_required` and
    :class:`EulerScopesRequiredMixin` (see the module docstring).
    """
    required = [scope for scope in dict.fromkeys(scopes) if scope]
    if not hasattr(request, "euler_connection"):
        # Else the view would run and fail on request.euler_connection (AttributeError).
        raise ImproperlyConfigured(
            "@euler_scopes_required and EulerScopesRequiredMixin need "
            "'django_euler_oauth.middleware.EulerTokenMiddleware' in MIDDLEWARE (after "
            "AuthenticationMiddleware): it sets request.euler_connection.")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    current = request.euler_connection
    if current and current.user_id != user.pk:
        # A delegate working on someone else's account: they cannot authorize for the
        # owner, so a missing scope is a 403 saying to ask the owner.
        lacking = missing(delegated_scopes(user, current) or [], required)
        if lacking or not current.is_active:
            for scope in lacking:
                record_scope_refusal(current, user, scope)
            return not_delegated_page(request, current, lacking)
        return None
    next_url = request.get_full_path()
    try:
        client = OAuthClient.objects.resolve(None)
    except EulerOAuthError as err:
        return error_page(request, err)
    # The account the session works with (switch), else the most recent one of the
    # user's that is not disconnected: with several accounts, never just the first row.
    connection = current if current and current.client_id == client.pk else None
    if connection is None:
        connection = (Connection.objects.for_user(user).for_client(client)
                      .exclude(status=Connection.Status.REVOKED)
                      .order_by("-connected_at", "-pk").first())
    if connection is None:
        wanted = client.scope_list + missing(client.scope_list, required)
        return _redirect(authorize_url(client, wanted, next_url))
    dead = (connection.status != Connection.Status.ACTIVE or connection.refresh_expired())
    lacking = missing(connection.scope_list, required)
    if not dead and not lacking:
        return None
    return _redirect(reauthorize_url(connection, required if dead else lacking, next_url))


def _redirect(url: str | None) -> HttpResponse:
    # None: the site does not route django_euler_oauth.urls; reversing says so loudly.
    return HttpResponseRedirect(url or reverse("euler_oauth:authorize"))


def euler_scopes_required(*scopes: str) -> Callable[[ViewFunc], ViewFunc]:
    """Decorate a function view (sync or async) that needs these TikTok scopes.

    ``@euler_scopes_required("webcast:mute", "webcast:ban")``: the view runs
    only for a user whose connection grants them all; everyone else is sent
    to log in, connect, or grant the missing scopes, and comes back here.
    """
    def decorator(view: ViewFunc) -> ViewFunc:
        if iscoroutinefunction(view):
            async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                response = await sync_to_async(scopes_redirect)(request, scopes)
                if response is not None:
                    return response
                return await view(request, *args, **kwargs)

            wrapper: Callable[..., Any] = markcoroutinefunction(
                functools.wraps(view)(async_wrapper))
        else:
            @functools.wraps(view)
            def sync_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                response = scopes_redirect(request, scopes)
                if response is not None:
                    return response
                return view(request, *args, **kwargs)

            wrapper = sync_wrapper
        return wrapper  # type: ignore[return-value]

    return decorator


class EulerScopesRequiredMixin:
    """Class-based views: run only when the user's connection grants ``euler_scopes``.

    Put it first in the bases (``class Moderation(EulerScopesRequiredMixin,
    TemplateView)``) and set ``euler_scopes = ("webcast:mute",)``. Override
    :meth:`get_euler_scopes` to decide per request.
    """

    euler_scopes: Iterable[str] = ()

    def get_euler_scopes(self) -> Iterable[str]:
        """The scopes this request needs (default: :attr:`euler_scopes`)."""
        if isinstance(self.euler_scopes, str):
            return self.euler_scopes.split()
        return self.euler_scopes

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        """Redirect (log in, connect, grant more) or run the view."""
        if getattr(type(self), "view_is_async", False):
            return self._async_dispatch(request, *args, **kwargs)
        response = scopes_redirect(request, self.get_euler_scopes())
        if response is not None:
            return response
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    async def _async_dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = await sync_to_async(scopes_redirect)(request, self.get_euler_scopes())
        if response is not None:
            return response
        return await super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
