"""The SDK helper's HTTP: Euler's SDK (httpx) sending through :class:`ProviderClient`.

:func:`~django_euler_oauth.sdk.sdk_client` gives the SDK's ``httpx.Client`` a
:class:`ProviderTransport` (httpx's public transport API), so an SDK call goes
where every other provider call goes: the process-wide ``requests.Session``
(its pool, no retries, the environment's proxies and CA bundle), the total
deadline ``EULER_OAUTH_HTTP_TIMEOUT`` (connect, wait and the whole answer) and
the size limits (``EULER_OAUTH_MAX_RESPONSE_BYTES`` for JSON answers,
``EULER_OAUTH_MAX_BINARY_RESPONSE_BYTES`` for others), read streamed. A call
that fails raises our own :class:`~django_euler_oauth.errors.TransportError` or
:class:`~django_euler_oauth.errors.ResponseTooLarge` out of the SDK function.

Imported only with the SDK installed (``pip install django-euler-oauth[sdk]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from asgiref.sync import sync_to_async
from django.views.decorators.debug import sensitive_variables
from EulerApiSdk import AuthenticatedClient

from .client import ProviderClient
from .errors import Stage

if TYPE_CHECKING:
    from .models import OAuthClient

# Set by requests/urllib3 for what is actually sent (our User-Agent, identity encoding).
_NOT_FORWARDED = frozenset({"host", "content-length", "transfer-encoding", "connection",
                            "keep-alive", "accept-encoding", "user-agent"})
# The body handed to httpx is already whole and decoded.
_NOT_RETURNED = frozenset({"content-length", "transfer-encoding", "content-encoding"})


class ProviderTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """An ``httpx`` transport sending each request with :meth:`ProviderClient.send`.

    Also an async transport (the SDK hands it to its ``httpx.AsyncClient`` too): the
    request is sent from a worker thread, with the same deadline and limits.
    """

    def __init__(self, oauth_client: OAuthClient) -> None:
        self.provider = ProviderClient(oauth_client)

    def __repr__(self) -> str:
        return f"<ProviderTransport for {self.provider.oauth_client.slug!r}>"

    @sensitive_variables()
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() not in _NOT_FORWARDED}
        body = request.read()
        answer = self.provider.send(request.method, str(request.url), stage=Stage.API,
                                    binary=True, headers=headers, data=body or None)
        return httpx.Response(
            answer.status_code,
            headers=[(name, value) for name, value in answer.headers.items()
                     if name.lower() not in _NOT_RETURNED],
            content=answer.content, request=request,
            extensions={"http_version": b"HTTP/1.1",
                        "reason_phrase": (answer.reason or "").encode("latin-1", "replace")})


    @sensitive_variables()
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        return await sync_to_async(self.handle_request, thread_sensitive=False)(request)


class KeyedClient(AuthenticatedClient):
    """The SDK's ``AuthenticatedClient``, whose ``repr`` does not show the API key."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._base_url} (API key hidden)>"

    __str__ = __repr__


def sdk_options(oauth_client: OAuthClient) -> dict[str, Any]:
    """The SDK client options sending through :class:`ProviderTransport`."""
    return {"base_url": oauth_client.api_base_url.rstrip("/"),
            "follow_redirects": False, "raise_on_unexpected_status": False,
            "httpx_args": {"transport": ProviderTransport(oauth_client)}}
