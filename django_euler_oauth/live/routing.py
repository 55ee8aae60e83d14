"""The browser socket's route, for the site's ASGI ``URLRouter`` (under any prefix, wrapped
in Channels' ``AuthMiddlewareStack`` so the socket knows the session's user)::

    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path

    from django_euler_oauth.live import routing as live_routing

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter([
            path("ws/", URLRouter(live_routing.websocket_urlpatterns)),
        ])),
    })

makes ``ws/live/<connection pk>/`` the socket of a connection's events. The id is read by
the consumer, not the route: a malformed one is refused like an unknown one (HTTP 403
before the handshake), where an unmatched route would end in Channels' "No route found"
error (HTTP 500).
"""

from django.urls import path

from .consumers import LiveEventsConsumer

websocket_urlpatterns = [
    path("live/<str:connection>/", LiveEventsConsumer.as_asgi(), name="euler_oauth_live"),
]
