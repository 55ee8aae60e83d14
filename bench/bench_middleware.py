"""Figure 1: the middleware's per-request cost through Django's full WSGI handler.

1a: a view that never reads the token, with and without the middleware in the
stack: throughput ratio (target >= 0.98) and extra queries (target 0); and the
same against an empty pass-through middleware in its place, which separates our
own work from the cost Django charges any middleware layer.
1b: a view that reads a fresh token vs a view doing the comparable hand-written
lookup (the connection joined with its client): throughput ratio (target >= 0.85)
and queries (target: exactly 1 more than the session+user queries, i.e. the same
count as the baseline lookup); and vs the cheapest useful view, one one-column
ORM lookup after ``request.user`` (``User.objects.filter(pk=...).only("pk").first()``),
target >= 0.85, with and without ``EULER_OAUTH_DEFAULT_CLIENT``.
"""

from __future__ import annotations

import os

from bench.common import Row, interleaved_ratio, setup_django


def main() -> None:
    setup_django()
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection
    from django.test.utils import CaptureQueriesContext, override_settings

    from bench.site import make_client, make_connection, make_user_session, prepare_databases

    db = os.environ.get("BENCH_DB", "sqlite")
    seconds = float(os.environ.get("BENCH_SECONDS", "0.25"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "21"))
    prepare_databases()
    user, cookie = make_user_session()
    client = make_client("https://provider.invalid")
    make_connection(user, client)

    ours_mw = "django_euler_oauth.middleware.EulerTokenMiddleware"
    with_mw = WSGIHandler()
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != ours_mw]):
        without_mw = WSGIHandler()
    with override_settings(MIDDLEWARE=[
            "bench.passthrough.PassThroughMiddleware" if m == ours_mw else m
            for m in settings.MIDDLEWARE]):
        empty_mw = WSGIHandler()

    from bench.site import wsgi_caller

    untouched_with = wsgi_caller(with_mw, "/untouched/", cookie)
    untouched_without = wsgi_caller(without_mw, "/untouched/", cookie)
    untouched_empty = wsgi_caller(empty_mw, "/untouched/", cookie)
    token_view = wsgi_caller(with_mw, "/token/", cookie)
    baseline_view = wsgi_caller(with_mw, "/baseline/", cookie)
    minimal_view = wsgi_caller(with_mw, "/minimal/", cookie)
    for call in (untouched_with, untouched_without, token_view, baseline_view, minimal_view):
        assert call() == 200

    def queries(call: object) -> int:
        with CaptureQueriesContext(connection) as captured:
            call()  # type: ignore[operator]
        return len(captured)

    q_with, q_without = queries(untouched_with), queries(untouched_without)
    q_token, q_base = queries(token_view), queries(baseline_view)

    ours, base, ratio = interleaved_ratio(untouched_with, untouched_without,
                                          seconds=seconds, rounds=rounds)
    Row(f"1a untouched view, middleware on/off ({db})", round(ours), round(base),
        round(ratio, 3), ">= 0.98", ratio >= 0.98, "req/s").emit()
    ours, base, ratio = interleaved_ratio(untouched_with, untouched_empty,
                                          seconds=seconds, rounds=rounds)
    Row(f"1a untouched view, ours vs an empty pass-through middleware ({db})", round(ours),
        round(base), round(ratio, 3), ">= 0.98", ratio >= 0.98, "req/s",
        note="what ours costs beyond the layer any middleware costs Django").emit()
    Row(f"1a extra queries when the view does not read the token ({db})", q_with - q_without,
        0, None, "0", q_with == q_without, "queries").emit()

    ours, base, ratio = interleaved_ratio(token_view, baseline_view, seconds=seconds,
                                          rounds=rounds)
    Row(f"1b fresh token read vs one-lookup view ({db})", round(ours), round(base),
        round(ratio, 3), ">= 0.85", ratio >= 0.85, "req/s").emit()
    for default in (None, client.slug):
        with override_settings(EULER_OAUTH_DEFAULT_CLIENT=default):
            ours, base, ratio = interleaved_ratio(token_view, minimal_view, seconds=seconds,
                                                  rounds=rounds)
        label = "EULER_OAUTH_DEFAULT_CLIENT set" if default else "only active client"
        Row(f"1b fresh token read vs minimal one-lookup view, {label} ({db})", round(ours),
            round(base), round(ratio, 3), ">= 0.85", ratio >= 0.85, "req/s",
            note="baseline: User.objects.filter(pk=...).only('pk').first() after "
            "request.user").emit()
    Row(f"1b queries for a token read (session+user+ours) ({db})", q_token, q_base, None,
        f"= baseline ({q_base})", q_token == q_base, "queries",
        note=f"untouched view: {q_without}").emit()


if __name__ == "__main__":
    main()
