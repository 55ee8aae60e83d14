"""Figure 4: what a successful callback costs beyond the provider's own answer.

The site's callback view runs through Django's full stack (test client), the
sandbox provider in its own server process answers the code exchange. Measured:
the queries the callback makes on the site's database (a fixed small number),
and its time minus the time of the same code exchange sent directly to the
provider (the provider's own latency), medians over many callbacks.
"""

from __future__ import annotations

import os
import statistics
import time
from urllib.parse import parse_qs, urlsplit

import requests

from bench.common import Row, setup_django

ROUNDS = 40


def main() -> None:
    setup_django()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.serve import Server
    from bench.site import make_user_session, prepare_databases, sandbox_code
    from django_euler_oauth.sandbox import controls
    from django_euler_oauth.sandbox.setup import ensure_demo_client

    db = os.environ.get("BENCH_DB", "sqlite")
    prepare_databases()
    server = Server()
    redirect_uri = "http://testserver/oauth/callback/"
    try:
        sandbox, oauth = ensure_demo_client(
            f"{server.url}/sandbox", redirect_uris=[redirect_uri],
            client_secret="bench-secret", fetch_userinfo=False)
        controls.reset()
        user, _cookie = make_user_session("callback")
        browser = Client()
        browser.force_login(user)

        def exchange_directly() -> float:
            code = sandbox_code(sandbox, redirect_uri)
            began = time.perf_counter()
            answer = requests.post(oauth.token_url, timeout=10, data={
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "client_id": oauth.client_id,
                "client_secret": oauth.client_secret})
            elapsed = time.perf_counter() - began
            assert answer.status_code == 200, answer.status_code
            return elapsed

        def callback() -> tuple[float, int]:
            location = browser.get("/oauth/authorize/")["Location"]
            state = parse_qs(urlsplit(location).query)["state"][0]
            code = sandbox_code(sandbox, redirect_uri)
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = browser.get("/oauth/callback/", {"code": code, "state": state})
                elapsed = time.perf_counter() - began
            assert response.status_code == 302 and response["Location"] == "/", response
            return elapsed, len(queries)

        for _ in range(5):  # warm both paths
            exchange_directly()
            callback()
        direct, ours, counts = [], [], set()
        for _ in range(ROUNDS):
            direct.append(exchange_directly())
            elapsed, count = callback()
            ours.append(elapsed)
            counts.add(count)
    finally:
        server.stop()

    provider = statistics.median(direct)
    total = statistics.median(ours)
    extra = total - provider
    Row(f"4 callback: queries on the site database ({db})",
        "/".join(str(c) for c in sorted(counts)), "—", None, "fixed, <= 12",
        len(counts) == 1 and max(counts) <= 12, "queries",
        note="session read + user + state update + connection upsert + session save").emit()
    Row(f"4 callback: time beyond the provider's own latency ({db})", round(extra * 1000, 1),
        round(provider * 1000, 1), round(total / provider, 2), "(reported)", None, "ms",
        note=f"callback median {total * 1000:.1f} ms; baseline = the same exchange sent "
        "directly").emit()


if __name__ == "__main__":
    main()
