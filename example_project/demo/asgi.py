"""The example's ASGI application: Django's HTTP views, the browser's LIVE socket
(``ws/live/<connection>/``) and the sandbox's Euler WebSocket (``sandbox/ws``).

With the in-memory channel layer (the default here) a relay runs inside the server's own
process (:func:`django_euler_oauth.live.asgi.with_relay`); with Redis configured
(``EXAMPLE_REDIS_URL``) ``run.py`` starts a relay process beside the server instead.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.settings")
django_application = get_asgi_application()  # sets Django up before the imports below

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import path  # noqa: E402

from django_euler_oauth.live import routing as live_routing  # noqa: E402
from django_euler_oauth.live.asgi import with_relay  # noqa: E402

websockets = [
    # Browsers (the route checks the Origin header and reads the session's user itself).
    path("ws/", URLRouter(live_routing.websocket_urlpatterns)),
]
if settings.SANDBOX:
    from django_euler_oauth.sandbox import routing as sandbox_routing

    # The relay is no browser: the sandbox checks its API key or JWT, as Euler does.
    websockets.append(path("sandbox/", URLRouter(sandbox_routing.websocket_urlpatterns)))

application = ProtocolTypeRouter({
    "http": ASGIStaticFilesHandler(django_application) if settings.DEBUG
    else django_application,
    "websocket": URLRouter(websockets),
})
if settings.RELAY_IN_PROCESS:
    application = with_relay(application)
