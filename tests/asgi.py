"""The test project as an ASGI application: Django for HTTP, the sandbox's WebSocket under
``sandbox/`` (where its HTTP URLs are) and the browser's LIVE events socket under ``live/``
(``live/live/<connection pk>/``), as a site's ``asgi.py`` mounts them: the sockets behind
Channels' ``AuthMiddlewareStack``, so the LIVE socket knows the session's user."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()  # sets Django up before the consumers import

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from django_euler_oauth.live import routing as live_routing  # noqa: E402
from django_euler_oauth.sandbox import routing as sandbox_routing  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AuthMiddlewareStack(URLRouter([
        path("sandbox/", URLRouter(sandbox_routing.websocket_urlpatterns)),
        path("live/", URLRouter(live_routing.websocket_urlpatterns)),
    ])),
})
