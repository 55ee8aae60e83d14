"""The sandbox's WebSocket routes, for a site's ASGI application (needs Channels).

Include them under the prefix of the sandbox's HTTP URLs, so ``<prefix>ws`` is the
fake Euler WebSocket service (set it as ``OAuthClient.websocket_url``;
``ensure_demo_client`` does)::

    from channels.routing import ProtocolTypeRouter, URLRouter
    from django_euler_oauth.sandbox import routing as sandbox_routing

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": URLRouter([
            path("sandbox/", URLRouter(sandbox_routing.websocket_urlpatterns)),
        ]),
    })
"""

from django.urls import path

from .consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws", LiveConsumer.as_asgi(), name="euler_sandbox_ws"),
    path("ws/", LiveConsumer.as_asgi()),
]
