"""Euler's own WebSocket SDK (npm ``@eulerstream/euler-websocket-sdk``, with ``ws``) as an
outside client of the sandbox's WebSocket: the URL its ``createWebSocketUrl`` builds
works unchanged, every frame is a bundle its types describe, every TikTok message
matches its v2 schema, and its close codes name what happened.

Needs Node and ``npm ci`` in ``tests/js`` (``runtests.py`` runs it); skipped otherwise.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from django_euler_oauth.sandbox import controls, events, live
from django_euler_oauth.sandbox.models import FakeAccount
from django_euler_oauth.sandbox.setup import ensure_demo_client

from .support.asgi_server import AsgiServer, serving
from .support.sandbox_fixtures import SANDBOX_DATABASES

JS = Path(__file__).parent / "js"
CLIENT = JS / "euler_client.js"
NODE = shutil.which("node")
MISSING = [name for name in ("@eulerstream/euler-websocket-sdk", "ws")
           if not (JS / "node_modules" / name / "package.json").exists()]

pytestmark = [
    pytest.mark.skipif(NODE is None, reason="Node.js is not installed (node not on PATH)"),
    pytest.mark.skipif(bool(MISSING), reason=f"npm packages missing in tests/js: {MISSING} "
                                             "(run `npm ci` in tests/js)"),
    pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES),
]
WAIT = 10.0
STREAMER = "sandbox_streamer"


class NodeClient:
    """``euler_client.js connect`` in a subprocess; its lines read in a thread."""

    def __init__(self, websocket_url: str, unique_id: str, auth: str) -> None:
        assert NODE is not None
        env = {**os.environ, "EULER_WS_URL": websocket_url}
        self.process = subprocess.Popen(
            [NODE, str(CLIENT), "connect", unique_id, auth, "20"], cwd=JS, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next(self) -> dict[str, Any]:
        try:
            return self.lines.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("the Node client said nothing in time") from None

    def frames_until_close(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        frames = []
        for _ in range(1000):
            line = self.next()
            if line["event"] == "close":
                return frames, line
            assert line["event"] == "frame", line
            frames.append(line)
        raise AssertionError("no close")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@pytest.fixture
def server() -> Iterator[AsgiServer]:
    with serving() as running:
        yield running


@pytest.fixture
def node_clients() -> Iterator[list[NodeClient]]:
    started: list[NodeClient] = []
    yield started
    for client in started:
        client.stop()


def test_euler_sdk_client_follows_a_live_to_its_end(server: AsgiServer, node_clients):
    sandbox, oauth = ensure_demo_client(server.url + "/sandbox",
                                        redirect_uris=["http://testserver/oauth/callback/"])
    client = NodeClient(oauth.websocket_url, STREAMER, sandbox.api_key)
    node_clients.append(client)
    assert client.next() == {"event": "open"}
    first = [client.next() for _ in range(3)]
    assert [f["frame"]["messages"][0]["type"] for f in first] == [
        "workerInfo", "roomInfo", "tiktok.connect"]
    for kind in live.VIEWER_KINDS:
        server.call(controls.viewer_event, STREAMER, kind, 2, repeat_count=3)
    server.call(controls.end_live, STREAMER)
    frames, close = client.frames_until_close()
    assert close["code"] == 4005 and close["name"] == "STREAM_END"
    assert close["reason"] == close["known"] == "TikTok stream ended"
    for frame in first + frames:
        assert frame["problems"] == [], frame
    seen = [m["type"] for f in frames for m in f["frame"]["messages"]]
    assert set(seen) == {"WebcastChatMessage", "WebcastGiftMessage", "WebcastLikeMessage",
                         "WebcastSocialMessage", "WebcastMemberMessage",
                         "WebcastRoomUserSeqMessage", "WebcastControlMessage"}
    assert seen[-1] == "WebcastControlMessage"
    assert client.process.wait(timeout=WAIT) == 0


def test_euler_sdk_client_with_a_jwt_and_the_close_codes_it_names(server: AsgiServer,
                                                                   node_clients):
    sandbox, oauth = ensure_demo_client(server.url + "/sandbox",
                                        redirect_uris=["http://testserver/oauth/callback/"])
    minted = requests.post(
        f"{server.url}/sandbox/accounts/{oauth.account_id}/jwt/create",
        json={"expire_after": 60,
              "websockets": {"allowed_creators": [STREAMER], "max_web_sockets": 1}},
        headers={"X-Api-Key": sandbox.api_key}, timeout=WAIT).json()
    cases = [(STREAMER, "jwt:" + minted["token"], None),
             ("sandbox_viewer", sandbox.api_key, "NOT_LIVE"),
             (STREAMER, "esb_key_wrong", "INVALID_AUTH"),
             ("sandbox_viewer", "jwt:" + minted["token"], "NO_PERMISSION"),
             ("nobody_here", sandbox.api_key, "INVALID_OPTIONS")]
    for unique_id, auth, name in cases:
        client = NodeClient(oauth.websocket_url, unique_id, auth)
        node_clients.append(client)
        assert client.next() == {"event": "open"}
        if name is None:
            assert client.next()["frame"]["messages"][0]["type"] == "workerInfo"
            server.call(controls.drop_sockets, STREAMER, 4500)
            frames, close = client.frames_until_close()
            assert close["name"] == "TIKTOK_CLOSED_CONNECTION"
        else:
            frames, close = client.frames_until_close()
            assert (frames, close["name"]) == ([], name)


def test_every_message_the_sandbox_builds_matches_the_sdk_schema():
    account = FakeAccount(uid="7000000000000000001", unique_id=STREAMER, nickname="S",
                          sec_uid="MS4w-s")
    sender = events.viewer_user(events.CAST[0])
    room = "7300000000000000001"
    built = [
        events.chat(room, sender, "hi"), events.chat(room, events.anchor_user(account), "yo",
                                                     anchor=True),
        events.gift(room, sender, events.GIFT_LIST[-1], repeat_count=1, repeat_end=True,
                    group_id="1"),
        events.like(room, sender, 5, 10), events.join(room, sender, 3),
        events.follow(room, sender, 4), events.share(room, sender, 1),
        events.viewer_count(room, 12, 40), events.stream_ended(room),
        events.deleted(room, ["1", "2"], ["7200000000000000101"]),
        events.notice(room, "Comments are turned off"),
    ]
    assert NODE is not None
    answer = subprocess.run([NODE, str(CLIENT), "check"], input=json.dumps(built), cwd=JS,
                            capture_output=True, text=True, timeout=WAIT, check=True)
    assert json.loads(answer.stdout) == {"problems": []}
