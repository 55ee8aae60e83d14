"""A WSGI server whose requests are answered by a fixed pool of threads.

Like gunicorn's gthread workers: each pool thread keeps its database
connection, where Django's runserver starts a thread (and a connection) per
request. Used by the load test's worker processes and by the benchmarks.
Call only after ``django.setup()``.
"""

from __future__ import annotations

import socket
import socketserver
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def pooled_server(port: int, app: Any, *, threads: int, keep_alive: bool,
                  reuse_port: bool = False, queue_size: int = 256) -> Any:
    """A server on 127.0.0.1:``port`` serving ``app``; call ``serve_forever()`` on it.

    ``keep_alive``: Django's handler keeps connections open only for a
    ThreadingMixIn server, and then one client connection holds a pool thread
    for as long as it lives; without it, every answer says "Connection: close".
    ``reuse_port`` lets several processes listen on one port (SO_REUSEPORT).
    """
    from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    pool = ThreadPoolExecutor(max_workers=threads)
    bases: tuple[type, ...] = (
        (socketserver.ThreadingMixIn, WSGIServer) if keep_alive else (WSGIServer,))

    class PooledServer(*bases):  # type: ignore[misc]
        request_queue_size = queue_size
        daemon_threads = True

        def server_bind(self) -> None:
            if reuse_port:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            super().server_bind()

        def process_request(self, request: Any, client_address: Any) -> None:
            pool.submit(self._handle, request, client_address)

        def _handle(self, request: Any, client_address: Any) -> None:
            try:
                self.finish_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    server = PooledServer(("127.0.0.1", port), QuietHandler, ipv6=False)
    server.set_app(app)
    server.pool = pool  # shut it down after serve_forever() returns
    return server
