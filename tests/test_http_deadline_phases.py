"""``EULER_OAUTH_HTTP_TIMEOUT`` bounds a provider call as a whole, whatever phase it is in
when the deadline passes: name resolution and connect, sending, waiting for the status
line and headers, reading the body.

Real sockets on 127.0.0.1: the raw server of :mod:`tests.support.raw_server` trickles its answer
byte by byte, each byte well within the per-read timeout. Name resolution is made slow
the way a slow resolver looks to the process: ``socket.getaddrinfo`` (which urllib3
calls for every new connection, also for an IP literal) sleeps before resolving.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.client import ProviderClient
from django_euler_oauth.errors import TransportError
from django_euler_oauth.models import Connection
from django_euler_oauth.refresh import refresh_connection

from .support.raw_server import Link, RawServer, answering, response_head, token_json
from .support.snapshots import snapshot

TIMEOUT = 1.0
# Generous for a loaded machine, and far below what a trickling answer took before: the
# answers below trickle for 10 s (then stop, so that a broken build fails, not hangs).
UPPER_BOUND = TIMEOUT + 1.5
TRICKLE_STEP = 0.1  # one byte every 0.1 s never trips a per-read timeout of 1 s
TRICKLE_BYTES = 100


def trickling_answer(body: bytes) -> Callable[[Link], None]:
    """Once the request is read, the whole answer (status line, headers, ``body``) one
    byte every :data:`TRICKLE_STEP` seconds, at most :data:`TRICKLE_BYTES` bytes."""
    whole = response_head(len(body)) + body

    def trickle(link: Link) -> None:
        for byte in whole[:TRICKLE_BYTES]:
            link.send(bytes([byte]))
            time.sleep(TRICKLE_STEP)

    return answering(trickle)


@pytest.fixture
def slow_resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], list[float]]:
    """``slow(seconds)``: every name resolution from now on takes ``seconds`` more; the
    list returned records when each one began (``time.monotonic()``)."""

    def slow(seconds: float) -> list[float]:
        began: list[float] = []
        resolve = socket.getaddrinfo

        def slow_getaddrinfo(*args: Any, **kwargs: Any) -> Any:
            began.append(time.monotonic())
            time.sleep(seconds)
            return resolve(*args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", slow_getaddrinfo)
        return began

    return slow


@pytest.fixture
def timeout(settings: Any) -> float:
    settings.EULER_OAUTH_HTTP_TIMEOUT = TIMEOUT
    return TIMEOUT


def fails_in_time(call: Callable[[], object], *, within: float = UPPER_BOUND) -> float:
    """Run ``call``: it must raise the client's timeout error within ``within`` seconds.
    The seconds it took."""
    started = time.monotonic()
    with pytest.raises(TransportError, match="timed out") as caught:
        call()
    elapsed = time.monotonic() - started
    assert caught.value.is_retryable
    assert elapsed < within, f"the call took {elapsed:.1f} s with a {TIMEOUT:g} s timeout"
    return elapsed


# --- name resolution takes most of the timeout, the provider then trickles ------------

# Most of the budget, and more than all of it (the deadline passes while resolving).
RESOLVING = pytest.mark.parametrize("resolving", [0.8, 0.95, 1.2],
                                    ids=["resolve-0.8s", "resolve-0.95s", "resolve-1.2s"])


@RESOLVING
def test_a_refresh_after_a_slow_resolution_still_ends_at_the_deadline(
        resolving, raw_server, make_client, make_connection, user, slow_resolver, timeout,
        recorder):
    """Resolution eats most of the budget (the connection opens just before the deadline)
    or all of it (just after); the answer then trickles. The refresh ends at the deadline
    all the same (or at once when the connection opened after it), and the stored tokens
    are untouched."""
    server: RawServer = raw_server(trickling_answer(token_json("access-1", "refresh-1")))
    connection = make_connection(user, make_client(base=server.url), expires_in=-5)
    before = snapshot()
    slow_resolver(resolving)
    fails_in_time(lambda: refresh_connection(connection))
    assert snapshot() == before
    row = Connection.objects.get(pk=connection.pk)
    assert (row.access_token, row.refresh_token, row.status) == ("access-0", "refresh-0",
                                                                 "active")
    assert recorder.count("refresh_failed") == 1 and recorder.count("token_refreshed") == 0


@RESOLVING
def test_a_code_exchange_after_a_slow_resolution_still_ends_at_the_deadline(
        resolving, raw_server, make_client, slow_resolver, timeout):
    server = raw_server(trickling_answer(token_json("access-1", "refresh-1")))
    oauth = make_client(base=server.url)
    slow_resolver(resolving)
    fails_in_time(lambda: ProviderClient(oauth).exchange_code(
        code="code-1", redirect_uri="https://app.example/callback"))
    assert Connection.objects.count() == 0


@RESOLVING
def test_an_api_call_after_a_slow_resolution_still_ends_at_the_deadline(
        resolving, raw_server, make_client, make_connection, user, slow_resolver, timeout):
    server = raw_server(trickling_answer(b'{"ok": true}'))
    connection = make_connection(user, make_client(base=server.url))
    before = snapshot()
    slow_resolver(resolving)
    fails_in_time(lambda: EulerAPI(connection, sleep=lambda s: None).post(
        "/webcast/fetch", {"uniqueId": "someone"}))
    assert snapshot() == before


# --- the deadline has passed by the time the connection opens --------------------------

def test_a_connection_opened_after_the_deadline_fails_at_once(
        raw_server, make_client, make_connection, user, slow_resolver, timeout, recorder):
    """Resolution outlasts the whole timeout: nothing is sent, the call fails as soon as
    the connection exists (before, the trickled answer was then waited for, ~10 s)."""
    server = raw_server(trickling_answer(token_json("access-1", "refresh-1")))
    connection = make_connection(user, make_client(base=server.url), expires_in=-5)
    before = snapshot()
    resolving = 1.3
    began = slow_resolver(resolving)
    fails_in_time(lambda: refresh_connection(connection))
    resolved = began[0] + resolving
    assert time.monotonic() - resolved < 0.5, "the call went on after the connection opened"
    time.sleep(0.2)  # the server would have read a request by now
    with server.lock:
        assert server.served == 0, "the request was sent after the deadline"
    assert snapshot() == before
    assert recorder.count("refresh_failed") == 1 and recorder.count("token_refreshed") == 0


def test_a_connection_opened_after_the_deadline_fails_at_once_for_the_client_too(
        raw_server, make_client, slow_resolver, timeout):
    server = raw_server(trickling_answer(token_json("access-1", "refresh-1")))
    oauth = make_client(base=server.url)
    slow_resolver(1.3)
    fails_in_time(lambda: ProviderClient(oauth).refresh("refresh-0"), within=1.3 + 0.5)
    time.sleep(0.2)
    with server.lock:
        assert server.served == 0


def test_a_fast_answer_after_a_slow_resolution_is_not_cut(raw_server, make_client,
                                                           slow_resolver, timeout):
    """The deadline is the call's, not a shorter one: resolution took 0.6 s of 1 s and
    the answer came at once, so the call succeeds."""
    body = token_json("access-7", "refresh-7")
    server = raw_server(answering(lambda link: link.send(response_head(len(body)) + body)))
    oauth = make_client(base=server.url)
    slow_resolver(0.6)
    assert ProviderClient(oauth).refresh("refresh-0").access_token == "access-7"
