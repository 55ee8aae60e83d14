"""Relay processes sharing rooms through PostgreSQL: real processes, started, SIGKILLed
and SIGTERMed.

Two relays share the listened-to rooms evenly, each room held by exactly one of them;
after one is killed the other holds every room within the lease; SIGTERM releases the
rooms at once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from django_euler_oauth import live
from django_euler_oauth.live.models import Listening

from .support.euler_ws import EulerWebSocketServer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
LEASE = 3


class RelayProcess:
    def __init__(self, name: str, log: Path) -> None:
        databases = {alias: {key: connections[alias].settings_dict[key]
                             for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")}
                     for alias in ("default",)}
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1",
               "DJANGO_SETTINGS_MODULE": "tests.support.relay_settings",
               "EULER_RELAY_DATABASES": json.dumps(databases),
               "EULER_OAUTH_LIVE_LEASE_SECONDS": str(LEASE)}
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "django", "euler_oauth_live", "--name", name,
                 "--tick", "0.5", "--not-live-wait", "1"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = 15) -> int:
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def euler() -> Iterator[EulerWebSocketServer]:
    with EulerWebSocketServer() as server:
        yield server


@pytest.fixture
def rooms(euler: EulerWebSocketServer, make_client: Any, make_connection: Any,
          django_user_model: Any) -> list[Any]:
    oauth = make_client(api_key="relay-test-key", websocket_url=euler.url)
    made = []
    for n in range(6):
        owner = django_user_model.objects.create_user(f"streamer{n}")
        connection = make_connection(owner, oauth, external_id=f"70{n}",
                                     external_username=f"streamer{n}")
        live.start(connection)
        made.append(connection)
    return made


@pytest.fixture
def relays(tmp_path: Path) -> Iterator[dict[str, RelayProcess]]:
    started: dict[str, RelayProcess] = {}
    yield started
    for relay in started.values():
        relay.kill()


def holders() -> dict[str, int]:
    counts: dict[str, int] = {}
    for holder in Listening.objects.values_list("holder", flat=True):
        counts[holder] = counts.get(holder, 0) + 1
    return counts


def one_socket_per_room(euler: EulerWebSocketServer) -> list[str]:
    """The rooms with an open socket, each once (two sockets for one room fail the test)."""
    open_rooms = [ws.request.path for ws in list(euler.open_sockets)]
    names = sorted(path.split("uniqueId=")[1].split("&")[0] for path in open_rooms)
    assert len(names) == len(set(names)), f"a room has two sockets: {names}"
    return names


def wait_until(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def test_two_relays_share_rooms_and_take_over_a_dead_ones(euler, rooms, relays, tmp_path):
    relays["a"] = RelayProcess("relay-a", tmp_path / "a.log")
    relays["b"] = RelayProcess("relay-b", tmp_path / "b.log")
    assert wait_until(lambda: holders() == {"relay-a": 3, "relay-b": 3}, 20), \
        (holders(), (tmp_path / "a.log").read_text()[-2000:])
    assert wait_until(lambda: len(one_socket_per_room(euler)) == 6, 10)

    relays["a"].signal(signal.SIGKILL)
    relays["a"].wait()
    killed = time.monotonic()
    assert wait_until(lambda: holders() == {"relay-b": 6}, LEASE + 10), holders()
    assert time.monotonic() - killed < LEASE + 5  # within the lease, plus a tick or two
    # The dead relay's sockets are gone with its process; the survivor opened its own.
    assert wait_until(lambda: len(one_socket_per_room(euler)) == 6, 10)

    relays["b"].signal(signal.SIGTERM)
    assert relays["b"].wait() == 0
    assert holders() == {"": 6}  # released at once, not after the lease
    assert wait_until(lambda: not euler.open_sockets, 5)
    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert "stopped; its rooms are released" in logs
    assert "relay-test-key" not in logs and "connection " in logs  # rooms named, key never
