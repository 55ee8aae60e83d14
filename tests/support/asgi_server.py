"""An ASGI application served by uvicorn on loopback, in a background thread, for tests.

``AsgiServer(app).start()`` listens on a free port of 127.0.0.1 and serves ``app`` with
uvicorn (its own event loop, lifespan off, the ``websockets`` library) until ``stop()``;
every wait is bounded. ``serving()`` (and the ``asgi_server`` fixture) serves the test
project (:mod:`tests.asgi`: Django over HTTP, the sandbox's WebSocket under ``/sandbox/``)
for one test. Tests using it need ``pytest.mark.django_db(transaction=True, databases=[...])``
so the server's threads see their rows (in-memory SQLite with a shared cache, as for
pytest-django's ``live_server``).

:meth:`AsgiServer.call` runs a synchronous function the way one of the server's views
would, in its thread pool: what it sends through the channel layer reaches the server's
consumers, even with the in-memory layer (whose queues belong to the server's loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
import uvicorn
from asgiref.sync import sync_to_async

T = TypeVar("T")
# The websockets library's current (sans-I/O) implementation; uvicorn's "websockets" is its
# deprecated legacy one, which warns on every run.
WS_PROTOCOL = "websockets-sansio"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
CALL_TIMEOUT = 10.0


class AsgiServer:
    """``app`` on ``127.0.0.1:<free port>``, served by uvicorn in a thread."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1") -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, host=self.host, port=self.port, lifespan="off",
                                ws=WS_PROTOCOL, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            loop.run_until_complete(self.server.serve(sockets=[self._socket]))
        except BaseException as err:  # reported by start() or stop()
            self.error = err
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self, timeout: float = START_TIMEOUT) -> AsgiServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start on {self.url}") from self.error
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Ask uvicorn to shut down (open sockets are closed), then force it after a while."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(5)
        self._socket.close()
        assert not self._thread.is_alive(), f"uvicorn on {self.url} did not stop"

    def call(self, function: Callable[..., T], *args: Any, timeout: float = CALL_TIMEOUT,
             **kwargs: Any) -> T:
        """``function(*args, **kwargs)`` run in the server's thread pool; its result."""
        assert self.loop is not None and self.server.started
        coroutine = sync_to_async(function, thread_sensitive=False)(*args, **kwargs)
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@contextlib.contextmanager
def serving(app: Any = None) -> Iterator[AsgiServer]:
    """``app`` (default: the test project, :mod:`tests.asgi`) served until the block ends."""
    if app is None:
        from tests.asgi import application as app
    server = AsgiServer(app).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def asgi_server() -> Iterator[AsgiServer]:
    """The test project (:mod:`tests.asgi`) on uvicorn, for one test (register it in a
    conftest, or use :func:`serving` in a module's own fixture)."""
    with serving() as server:
        yield server
