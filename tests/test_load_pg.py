"""A bounded burst of real traffic: several worker processes on PostgreSQL, the sandbox.

The test project is served by three worker processes (8 threads each, one
loopback port shared with ``SO_REUSEPORT``; see ``tests/support/load_server.py``) and
the sandbox provider by two more, all on the PostgreSQL test databases. Forty
users, at once:

1. log in (the admin's login form), authorize, walk the sandbox's screens
   (each user confirms as a fake TikTok account of their own), come back to
   the callback: connected;
2. the access tokens expire on both sides; each user sends 6 concurrent
   requests to a view that reads ``request.euler_token`` (a refresh storm per
   user, across the processes);
3. the access tokens expire at the provider only; each user makes 4
   concurrent ``EulerAPI`` calls (``/webcast/fetch``), which meet
   ``token_expired`` and refresh;
4. ten users disconnect while the others call the API again.

Asserted: no 5xx and no transport error anywhere (every request's status is
counted), every worker served; exactly one ``Connection`` per user, holding
tokens that the provider says are live and unused; one refresh at the provider
per user per expiry (counted per grant); the signals recorded in the worker
processes: ``connected`` once per user, ``token_refreshed`` once per user per
expiry, ``disconnected`` once per disconnect, nothing else. Every request and
every wait has a deadline.
"""

from __future__ import annotations

import datetime
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone

from django_euler_oauth.models import Connection
from django_euler_oauth.sandbox import controls
from django_euler_oauth.sandbox.models import AccessToken, FakeAccount, Grant, RefreshToken
from django_euler_oauth.sandbox.setup import ensure_demo_client

from .support.load_server import ServerGroup
from .support.sandbox_fixtures import SANDBOX_DATABASES, TEST_SECRET, SandboxBrowser, hang_up

pytestmark = [pytest.mark.postgres,
              pytest.mark.django_db(transaction=True, databases=SANDBOX_DATABASES)]

USERS = 40
STORM = 6  # concurrent /whoami/ requests per user after the expiry
API_CALLS = 4  # concurrent EulerAPI calls per user after the provider-side expiry
DISCONNECTS = 10
SITE_PROCESSES, SITE_THREADS = 3, 8
SANDBOX_PROCESSES, SANDBOX_THREADS = 2, 12
REQUEST_TIMEOUT = 30.0
ROUND_DEADLINE = 60.0  # seconds any one round may take before the test fails


@dataclass
class Stats:
    """Every answer the driver got: (what, status) counts and who served it."""

    statuses: Counter[tuple[str, str]] = field(default_factory=Counter)
    served_by: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        path = urlsplit(response.url).path
        what = "sandbox" if path.startswith("/sandbox/") else path
        with self.lock:
            self.statuses[(what, str(response.status_code))] += 1
            self.served_by[response.headers.get("X-Served-By", "?")] += 1

    def error(self, what: str, err: BaseException) -> None:
        with self.lock:
            self.statuses[(what, f"error:{type(err).__name__}")] += 1

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)

    def session(self) -> requests.Session:
        session = requests.Session()
        session.hooks["response"].append(self.hook)
        return session

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def failures(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.statuses.items()
                if key[1].startswith("error") or key[1].startswith("5")}


@dataclass
class LoadUser:
    index: int
    username: str
    session: requests.Session
    pk: int = 0

    @property
    def account(self) -> str:
        return f"load_{self.index}"


def run_round(jobs: Sequence[Callable[[], None]], workers: int, stats: Stats, name: str) -> float:
    """Run ``jobs`` on ``workers`` threads; fail (never hang) past ``ROUND_DEADLINE``."""
    began = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"load-{name}")
    futures = [pool.submit(job) for job in jobs]
    done, not_done = wait_futures(futures, timeout=ROUND_DEADLINE)
    pool.shutdown(wait=not not_done, cancel_futures=True)
    assert not not_done, f"round {name}: {len(not_done)} jobs still running after " \
                         f"{ROUND_DEADLINE:.0f} s"
    for future in done:
        error = future.exception()
        if error is not None:
            stats.problem(f"{name}: {type(error).__name__}: {error}")
    return time.monotonic() - began


def send(stats: Stats, session: requests.Session, method: str, url: str,
         **kwargs: Any) -> requests.Response | None:
    try:
        return session.request(method, url, timeout=REQUEST_TIMEOUT, allow_redirects=False,
                               **kwargs)
    except requests.RequestException as err:
        stats.error(urlsplit(url).path, err)
        return None


def fresh_session(stats: Stats, user: LoadUser) -> requests.Session:
    """Another tab of the same browser: the user's cookies, its own socket."""
    session = stats.session()
    session.cookies.update(user.session.cookies)
    return session


def events(workdir: Path) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for path in sorted(workdir.glob("events-*.jsonl")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines() if line)
    return lines


def test_burst_of_users_on_several_workers(tmp_path):
    databases = {alias: {key: connections[alias].settings_dict[key]
                         for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")}
                 for alias in SANDBOX_DATABASES}
    assert connections["default"].vendor == "postgresql"
    worker_settings = {"ROOT_URLCONF": "tests.support.load_urls",
                       "EULER_OAUTH_DEFAULT_CLIENT": "load", "EULER_OAUTH_HTTP_TIMEOUT": 15.0}
    started = time.monotonic()
    sandbox = ServerGroup(tmp_path, databases, processes=SANDBOX_PROCESSES,
                          threads=SANDBOX_THREADS, name="sandbox", settings=worker_settings)
    try:
        site = ServerGroup(tmp_path, databases, processes=SITE_PROCESSES, threads=SITE_THREADS,
                           name="site", settings=worker_settings)
        try:
            _drive(site, sandbox, tmp_path, started)
        finally:
            site.stop()
    finally:
        sandbox.stop()
        for browser in list(SandboxBrowser.open_browsers):
            browser.close()


def _drive(site: ServerGroup, sandbox: ServerGroup, workdir: Path, started: float) -> None:
    sandbox_client, oauth = ensure_demo_client(
        sandbox.url + "/sandbox", redirect_uris=[site.url + "/oauth/callback/"], slug="load",
        client_id="load-client", client_secret=TEST_SECRET, name="Load Test App",
        scopes="webcast:fetch user:info")  # user:info: the callback asks who connected
    for i in range(USERS):
        FakeAccount.objects.create(uid=f"71{i:017d}", sec_uid=f"MS4wLjABAAAA-load-{i}",
                                   unique_id=f"load_{i}", nickname=f"Load {i}")
    stats = Stats()
    users = []
    for i in range(USERS):
        get_user_model().objects.create_user(f"user{i}", f"user{i}@example.com", "pw",
                                             is_staff=True)
        users.append(LoadUser(i, f"user{i}", stats.session()))
    timings: dict[str, float] = {}
    token_calls = [controls.call_count("token")]

    # 1. Log in, authorize, the sandbox's screens, the callback: all users at once.
    def connect(user: LoadUser) -> None:
        session = user.session
        login = send(stats, session, "GET", site.url + "/admin/login/")
        assert login is not None and login.status_code == 200
        answer = send(stats, session, "POST", site.url + "/admin/login/", data={
            "username": user.username, "password": "pw", "next": "/admin/",
            "csrfmiddlewaretoken": session.cookies["csrftoken"]})
        assert answer is not None and answer.status_code == 302, "login failed"
        answer = send(stats, session, "GET", site.url + "/oauth/authorize/",
                      params={"next": "/whoami/"})
        assert answer is not None and answer.status_code == 302
        assert answer.headers["Location"].startswith(sandbox.url + "/sandbox/")
        browser = SandboxBrowser()
        browser.session.hooks["response"].append(stats.hook)
        try:
            back = browser.authorize(answer.headers["Location"], account=user.account)
        finally:
            browser.close()
        assert back.startswith(site.url + "/oauth/callback/?")
        answer = send(stats, session, "GET", back)
        assert answer is not None and answer.status_code == 302
        assert answer.headers["Location"] == "/whoami/"
        answer = send(stats, session, "GET", site.url + "/whoami/")
        assert answer is not None and answer.json()["has_token"] is True

    timings["connect"] = run_round([partial(connect, u) for u in users], USERS, stats,
                                   "connect")
    assert not stats.problems, stats.problems[:5]
    token_calls.append(controls.call_count("token"))
    rows = {row.user.username: row for row in
            Connection.objects.filter(client=oauth).select_related("user")}
    assert len(rows) == USERS
    for user in users:
        user.pk = rows[user.username].pk
        assert rows[user.username].external_username == user.account  # nobody crossed

    # 2. Expiry on both sides, then a storm of requests reading request.euler_token.
    def whoami(user: LoadUser, expect_token: bool = True) -> None:
        session = fresh_session(stats, user)
        try:
            answer = send(stats, session, "GET", site.url + "/whoami/")
        finally:
            hang_up(session)
        if answer is None:
            return  # counted as a transport error
        if answer.status_code != 200:
            stats.problem(f"user {user.index}: /whoami/ answered {answer.status_code}")
        elif answer.json()["has_token"] is not expect_token:
            stats.problem(f"user {user.index}: has_token is not {expect_token}")

    Connection.objects.filter(client=oauth).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert controls.expire_access_tokens(client_id=sandbox_client.client_id) == USERS
    storm = [partial(whoami, u) for u in users for _ in range(STORM)]
    timings["refresh storm"] = run_round(storm, USERS * 2, stats, "storm")
    token_calls.append(controls.call_count("token"))

    # 3. Expiry at the provider only: the API answers token_expired, EulerAPI refreshes.
    def api_call(user: LoadUser) -> None:
        session = fresh_session(stats, user)
        try:
            answer = send(stats, session, "GET", site.url + "/api/fetch/",
                          params={"uniqueId": user.account})
        finally:
            hang_up(session)
        if answer is None:
            return  # counted as a transport error
        if answer.status_code != 200:
            stats.problem(f"user {user.index}: /api/fetch/ answered {answer.status_code}")
        elif answer.json() != {"uniqueId": user.account}:
            stats.problem(f"user {user.index}: unexpected API answer")

    assert controls.expire_access_tokens(client_id=sandbox_client.client_id) == USERS
    calls = [partial(api_call, u) for u in users for _ in range(API_CALLS)]
    timings["API storm"] = run_round(calls, USERS * 2, stats, "api")
    token_calls.append(controls.call_count("token"))

    # 4. Some users disconnect while the others keep calling the API.
    leaving, staying = users[:DISCONNECTS], users[DISCONNECTS:]

    def disconnect(user: LoadUser) -> None:
        session = fresh_session(stats, user)
        try:
            answer = send(stats, session, "POST", site.url + "/oauth/disconnect/",
                          data={"next": "/whoami/"},
                          headers={"X-CSRFToken": user.session.cookies["csrftoken"]})
        finally:
            hang_up(session)
        if answer is not None and (answer.status_code, answer.headers.get("Location")) != (
                302, "/whoami/"):
            stats.problem(f"user {user.index}: disconnect answered {answer.status_code}")

    mixed = [partial(disconnect, u) for u in leaving] + [
        partial(api_call, u) for u in staying for _ in range(2)]
    timings["disconnect + API"] = run_round(mixed, USERS * 2, stats, "disconnect")
    final = [partial(whoami, u, expect_token=False) for u in leaving] + [
        partial(whoami, u) for u in staying]
    timings["check"] = run_round(final, USERS, stats, "check")
    token_calls.append(controls.call_count("token"))
    elapsed = time.monotonic() - started

    # --- what the burst left behind ---------------------------------------------------
    failures = stats.failures()
    assert not failures, failures
    assert not stats.problems, stats.problems[:10]
    assert site.crashed() == [] and sandbox.crashed() == []
    site_counts = {pid: stats.served_by[pid] for pid in site.pids}
    assert all(site_counts.values()), f"a worker served nothing: {site_counts}"

    # Exactly one connection per (user, client); the disconnected ones revoked and empty.
    assert Connection.objects.count() == USERS
    assert Connection.objects.filter(client=oauth).values("user").distinct().count() == USERS
    by_user = {c.user.username: c for c in Connection.objects.select_related("user")}
    for user in leaving:
        row = by_user[user.username]
        assert row.status == Connection.Status.REVOKED
        assert row.access_token == "" and row.refresh_token == ""
    for user in staying:
        assert by_user[user.username].status == Connection.Status.ACTIVE

    # The provider's side: one code exchange per user, then one refresh per user per expiry.
    deltas = [after - before for before, after in itertools.pairwise(token_calls)]
    assert deltas == [USERS, USERS, USERS, 0], deltas
    for user in users:
        grants = Grant.objects.filter(account__unique_id=user.account)
        assert grants.count() == 1
        grant = grants.get()
        assert AccessToken.objects.filter(grant=grant).count() == 3  # code + 2 refreshes
        assert RefreshToken.objects.filter(grant=grant, used_at__isnull=False).count() == 2
        assert (grant.revoked_at is not None) == (user in leaving)

    # Every token the site holds is live at the provider (refresh tokens: not used up).
    checker = stats.session()
    try:
        for user in staying:
            row = by_user[user.username]
            for token, hint in ((row.access_token, "access_token"),
                                (row.refresh_token, "refresh_token")):
                answer = checker.post(
                    sandbox.url + "/sandbox/tiktok/oauth/introspect", timeout=REQUEST_TIMEOUT,
                    data={"token": token, "token_type_hint": hint,
                          "client_id": sandbox_client.client_id,
                          "client_secret": TEST_SECRET})
                info = answer.json()
                assert info["active"] is True, f"user {user.index}: {hint} not live"
                assert info["token_type"] == hint and info["username"] == user.account
            answer = checker.post(sandbox.url + "/sandbox/webcast/fetch", json={},
                                  timeout=REQUEST_TIMEOUT,
                                  headers={"Authorization": f"Bearer {row.access_token}"})
            assert answer.status_code == 200
    finally:
        hang_up(checker)

    # Signals, as the worker processes sent them: once per event.
    site.stop()  # every worker has written its last line
    sent = events(workdir)
    kinds = Counter(line["signal"] for line in sent)
    pks_of = {name: Counter(line["pk"] for line in sent if line["signal"] == name)
              for name in kinds}
    all_pks = {user.pk for user in users}
    assert kinds == {"connected": USERS, "token_refreshed": 2 * USERS,
                     "disconnected": DISCONNECTS}, kinds
    assert pks_of["connected"] == {pk: 1 for pk in all_pks}
    assert all(line["created"] for line in sent if line["signal"] == "connected")
    assert pks_of["token_refreshed"] == {pk: 2 for pk in all_pks}
    assert pks_of["disconnected"] == {user.pk: 1 for user in leaving}
    assert all(line["revoked_remotely"] for line in sent if line["signal"] == "disconnected")

    provider_calls = controls.call_counts()
    by_endpoint = ", ".join(f"{name} {n}" for name, n in sorted(provider_calls.items()))
    site_requests = sum(n for (what, _), n in stats.statuses.items() if what != "sandbox")
    print(f"\nload: {USERS} users, {SITE_PROCESSES} site workers x {SITE_THREADS} threads "
          f"+ {SANDBOX_PROCESSES} sandbox workers x {SANDBOX_THREADS}; "
          f"{stats.total} requests from the driver ({site_requests} to the site, "
          f"{stats.total - site_requests} to the sandbox screens), "
          f"{sum(failures.values())} failures (5xx or transport); the sandbox counted "
          f"{sum(provider_calls.values())} calls ({by_endpoint}); "
          f"served per site worker "
          f"{sorted(site_counts.values())}; provider token calls {token_calls[-1]} "
          f"({USERS} code exchanges + {2 * USERS} refreshes); signals "
          f"connected={kinds['connected']} token_refreshed={kinds['token_refreshed']} "
          f"disconnected={kinds['disconnected']}; rounds "
          + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())
          + f"; total {elapsed:.1f}s")
