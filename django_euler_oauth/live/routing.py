"""The browser socket's route, for the site's ASGI ``URLRouter`` (under any prefix)::

    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    from django_euler_oauth.live import routing as live_routing

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": URLRouter([
            path("ws/", URLRouter(live_routing.websocket_urlpatterns)),
        ]),
    })

makes ``ws/live/<connection pk>/`` the socket of a connection's events. The route brings
its own guards, so a site cannot forget them: Channels' origin check against
``ALLOWED_HOSTS`` (a browser always sends ``Origin``: only pages of this site may open the
socket, so another site cannot read a visitor's events with their cookies; a client that
sends no ``Origin`` is no browser riding a visitor's cookies and is judged by its session
alone) and ``AuthMiddlewareStack`` (the session's user). The id is read by the consumer,
not the route: a malformed one is refused like an unknown one (HTTP 403 before the
handshake), where an unmatched route would end in Channels' "No route found" (HTTP 500).
"""

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.urls import path

from .consumers import LiveEventsConsumer


class BrowserOriginValidator(OriginValidator):
    """Channels' ``AllowedHostsOriginValidator``, letting through a client without
    ``Origin`` (not a browser: it carries no visitor's cookies unless its own code does)."""

    def valid_origin(self, parsed_origin: Any) -> bool:
        return parsed_origin is None or bool(super().valid_origin(parsed_origin))


def _guarded(application: Any) -> Any:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(AuthMiddlewareStack(application), hosts)


websocket_urlpatterns = [
    path("live/<str:connection>/", _guarded(LiveEventsConsumer.as_asgi()),
         name="euler_oauth_live"),
]
