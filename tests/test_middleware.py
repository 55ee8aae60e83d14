"""EulerTokenMiddleware through the full test-client stack: laziness, query counts, async.

The token lookup is one query reading only the columns a token read needs; reading
``request.euler_token`` / ``euler_connection`` in an async view says which coroutine to
await instead of Django's generic error.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import ImproperlyConfigured, SynchronousOnlyOperation
from django.db import connection as db
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import path

from django_euler_oauth.errors import EncryptionKeyError
from django_euler_oauth.middleware import EulerTokenMiddleware, SyncAttributeInAsyncContext
from django_euler_oauth.models import TOKEN_READ_FIELDS, Connection

from .support.loopback import Answer, RotatingTokenEndpoint

TOKEN = "/tiktok/oauth/token"
OTHER_KEY = "Z0p6S3Y4b1N0aUF0b2V6bE5mWmZ0dUxqTU5vQ2dQZEE="  # not the key that wrote the rows
MIDDLEWARE_PATH = "django_euler_oauth.middleware.EulerTokenMiddleware"


def untouched(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def user_only(request: HttpRequest) -> HttpResponse:
    return HttpResponse("yes" if request.user.is_authenticated else "no")


def token_view(request: HttpRequest) -> HttpResponse:
    first = request.euler_token  # type: ignore[attr-defined]
    truthy = bool(first)  # evaluates it (the error, if any, is known from here on)
    # Read again, and the connection too: still one computation.
    second = request.euler_token  # type: ignore[attr-defined]
    conn = request.euler_connection  # type: ignore[attr-defined]
    error = getattr(request, "euler_token_error", None)
    return JsonResponse({"token": str(first) if first else None,
                         "same": str(first) == str(second), "connected": bool(conn),
                         "truthy": truthy,
                         "error": getattr(error, "code", None) or (
                             type(error).__name__ if error else None)})


def connection_view(request: HttpRequest) -> HttpResponse:
    conn = request.euler_connection  # type: ignore[attr-defined]
    return JsonResponse({"connected": bool(conn), "pk": conn.pk if conn else None})


async def async_token_view(request: HttpRequest) -> HttpResponse:
    conn = await request.aeuler_connection()  # type: ignore[attr-defined]
    token = await request.aeuler_token()  # type: ignore[attr-defined]
    again = await request.aeuler_token()  # type: ignore[attr-defined]
    return JsonResponse({"connected": bool(conn), "token": token or None,
                         "same": token == again})


async def async_sync_token(request: HttpRequest) -> HttpResponse:
    try:
        bool(request.euler_token)  # type: ignore[attr-defined]
    except SynchronousOnlyOperation as err:
        return JsonResponse({"error": type(err).__name__, "message": str(err)}, status=500)
    return JsonResponse({"error": None})


async def async_sync_connection(request: HttpRequest) -> HttpResponse:
    try:
        bool(request.euler_connection)  # type: ignore[attr-defined]
    except SynchronousOnlyOperation as err:
        return JsonResponse({"error": type(err).__name__, "message": str(err)}, status=500)
    return JsonResponse({"error": None})


async def async_after_await(request: HttpRequest) -> HttpResponse:
    token = await request.aeuler_token()  # type: ignore[attr-defined]
    # Once resolved the async way, the plain attributes are plain values.
    same = request.euler_token == token  # type: ignore[attr-defined]
    return JsonResponse({"same": bool(same), "connected": bool(
        request.euler_connection)})  # type: ignore[attr-defined]


def sync_token(request: HttpRequest) -> HttpResponse:
    conn = request.euler_connection  # type: ignore[attr-defined]
    token = request.euler_token  # type: ignore[attr-defined]
    return JsonResponse({"token": bool(token), "pk": conn.pk if conn else None})


urlpatterns = [
    path("untouched/", untouched),
    path("user-only/", user_only),
    path("token/", token_view),
    path("connection/", connection_view),
    path("async-token/", async_token_view),
    path("async-sync-token/", async_sync_token),
    path("async-sync-connection/", async_sync_connection),
    path("async-after-await/", async_after_await),
    path("sync-token/", sync_token),
]

pytestmark = pytest.mark.urls(__name__)


def count_queries(client: Any, url: str) -> tuple[int, Any]:
    with CaptureQueriesContext(db) as ctx:
        response = client.get(url)
    return len(ctx.captured_queries), response


def test_untouched_view_costs_nothing(client, user, oauth, make_connection, provider,
                                      settings):
    make_connection(user, oauth, expires_in=-5)  # expired: touching it would refresh
    client.force_login(user)
    with_mw, response = count_queries(client, "/untouched/")
    assert response.status_code == 200
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    without_mw, _ = count_queries(client, "/untouched/")
    assert with_mw == without_mw
    assert provider.received == []  # no HTTP


def test_untouched_view_decrypts_nothing(client, user, oauth, make_connection, settings):
    make_connection(user, oauth)
    client.force_login(user)
    # With a key that cannot decrypt the stored tokens, only a decryption would fail.
    settings.EULER_OAUTH_ENCRYPTION_KEYS = [OTHER_KEY]
    assert client.get("/untouched/").status_code == 200
    assert client.get("/connection/").json()["connected"] is True  # row, no token
    with pytest.raises(EncryptionKeyError):
        client.get("/token/")


def test_fresh_token_costs_one_query(client, user, oauth, make_connection, provider):
    make_connection(user, oauth)
    client.force_login(user)
    baseline, _ = count_queries(client, "/user-only/")
    # The first token read of a process also finds which client is the default (kept).
    first, _ = count_queries(client, "/token/")
    assert first - baseline == 2
    touched, response = count_queries(client, "/token/")
    assert touched - baseline == 1
    assert response.json() == {"token": "access-0", "same": True, "connected": True,
                               "truthy": True, "error": None}
    assert provider.received == []


def test_fresh_token_costs_one_query_with_a_named_default_client(client, user, oauth,
                                                                 make_client, make_connection,
                                                                 settings):
    other = make_client()
    make_connection(user, oauth)
    make_connection(user, other, access_token="other-access")
    settings.EULER_OAUTH_DEFAULT_CLIENT = oauth.slug
    client.force_login(user)
    baseline, _ = count_queries(client, "/user-only/")
    count_queries(client, "/token/")  # the first also finds the default client (kept)
    touched, response = count_queries(client, "/token/")
    assert touched - baseline == 1 and response.json()["token"] == "access-0"


def test_expired_token_is_refreshed_once_per_request(client, user, oauth, make_connection,
                                                     provider):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    make_connection(user, oauth, expires_in=-5)
    client.force_login(user)
    data = client.get("/token/").json()
    assert data == {"token": "access-1", "same": True, "connected": True, "truthy": True,
                    "error": None}
    assert len(provider.requests_to(TOKEN)) == 1
    assert client.get("/token/").json()["token"] == "access-1"
    assert len(provider.requests_to(TOKEN)) == 1


@pytest.mark.parametrize("status", [Connection.Status.REVOKED,
                                    Connection.Status.REAUTHORIZATION_REQUIRED])
def test_falsy_without_usable_connection(client, user, oauth, make_connection, status):
    make_connection(user, oauth, status=status)
    client.force_login(user)
    data = client.get("/token/").json()
    assert data["token"] is None and data["truthy"] is False and data["connected"] is False


def test_falsy_for_anonymous_without_queries(client, oauth):
    queries, response = count_queries(client, "/token/")
    assert response.json()["connected"] is False and response.json()["token"] is None
    assert queries == 0


def test_falsy_without_connection(client, user, oauth):
    client.force_login(user)
    data = client.get("/token/").json()
    assert data["connected"] is False and data["token"] is None


def test_falsy_with_two_clients_and_no_default(client, user, oauth, make_client,
                                               make_connection):
    make_client()
    make_connection(user, oauth)
    client.force_login(user)
    assert client.get("/token/").json()["connected"] is False


def test_dead_grant_gives_falsy_token_and_the_reason(client, user, oauth, make_connection,
                                                     provider):
    provider.queue(TOKEN, Answer(400, {"error": "invalid_grant"}))
    make_connection(user, oauth, expires_in=-5)
    client.force_login(user)
    data = client.get("/token/").json()
    assert data["token"] is None and data["error"] == "invalid_grant"
    assert Connection.objects.get(user=user).status == "reauthorization_required"
    assert client.get("/token/").json()["connected"] is False


def test_transient_failure_with_valid_token_still_hands_it_out(client, user, oauth,
                                                               make_connection, provider):
    provider.queue(TOKEN, Answer(503, ""))
    make_connection(user, oauth, expires_in=60)  # inside the leeway, not expired
    client.force_login(user)
    assert client.get("/token/").json()["token"] == "access-0"


def test_transient_failure_with_expired_token_is_falsy(client, user, oauth, make_connection,
                                                       provider):
    provider.queue(TOKEN, Answer(503, ""))
    make_connection(user, oauth, expires_in=-5)
    client.force_login(user)
    data = client.get("/token/").json()
    assert data["token"] is None and data["error"] == "temporarily_unavailable"
    assert data["connected"] is True  # the connection lives; only this token is missing


@pytest.mark.urls("tests.urls")
def test_async_whoami_from_the_test_urls(user, oauth, make_connection):
    make_connection(user, oauth)
    client = AsyncClient()
    client.force_login(user)
    response = async_to_sync(client.get)("/async-whoami/")
    assert response.status_code == 200
    assert response.json() == {"connected": True, "has_token": True}


@pytest.mark.urls("tests.urls")
def test_async_whoami_anonymous(oauth):
    response = async_to_sync(AsyncClient().get)("/async-whoami/")
    assert response.json() == {"connected": False, "has_token": False}


def test_async_view_refreshes_once(user, oauth, make_connection, provider):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    make_connection(user, oauth, expires_in=-5)
    client = AsyncClient()
    client.force_login(user)
    data = async_to_sync(client.get)("/async-token/").json()
    assert data == {"connected": True, "token": "access-1", "same": True}
    assert len(provider.requests_to(TOKEN)) == 1


def test_misordered_middleware_is_improperly_configured(client, settings):
    rest = [m for m in settings.MIDDLEWARE if m != MIDDLEWARE_PATH]
    auth = rest.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    settings.MIDDLEWARE = [*rest[:auth], MIDDLEWARE_PATH, *rest[auth:]]
    with pytest.raises(ImproperlyConfigured, match="AuthenticationMiddleware"):
        client.get("/untouched/")
    with pytest.raises(ImproperlyConfigured, match="AuthenticationMiddleware"):
        async_to_sync(AsyncClient().get)("/untouched/")


def test_middleware_is_sync_and_async_capable():
    assert EulerTokenMiddleware.sync_capable and EulerTokenMiddleware.async_capable

    async def get_response(request: Any) -> HttpResponse:
        return HttpResponse("ok")

    from asgiref.sync import iscoroutinefunction

    assert iscoroutinefunction(EulerTokenMiddleware(get_response))
    assert not iscoroutinefunction(EulerTokenMiddleware(lambda request: HttpResponse()))


# --- the async guard --------------------------------------------------------------

def _async_client(user: Any) -> AsyncClient:
    client = AsyncClient()
    client.force_login(user)
    return client


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("url", "accessor"), [
    ("/async-sync-token/", "await request.aeuler_token()"),
    ("/async-sync-connection/", "await request.aeuler_connection()"),
])
def test_sync_attribute_in_async_view_says_what_to_await(user, oauth, make_connection, url,
                                                         accessor):
    make_connection(user, oauth)
    response = async_to_sync(_async_client(user).get)(url)
    data = response.json()
    assert data["error"] == SyncAttributeInAsyncContext.__name__
    assert accessor in data["message"]
    assert issubclass(SyncAttributeInAsyncContext, SynchronousOnlyOperation)


@pytest.mark.django_db(transaction=True)
def test_async_accessors_then_attributes(user, oauth, make_connection):
    make_connection(user, oauth)
    data = async_to_sync(_async_client(user).get)("/async-after-await/").json()
    assert data == {"same": True, "connected": True}


# --- the token lookup: one narrow query -------------------------------------------

def _token_read(browser: Any) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(db) as ctx:
        response = browser.get("/sync-token/")
    return response.json(), [q["sql"] for q in ctx.captured_queries]


@pytest.mark.parametrize("default_client", [False, True])
def test_token_read_is_one_narrow_query(browser, user, oauth, make_connection,
                                        default_client):
    conn = make_connection(user, oauth)
    settings = {"EULER_OAUTH_DEFAULT_CLIENT": oauth.slug if default_client else None}
    with override_settings(**settings):
        data, sqls = _token_read(browser)
    assert data == {"token": True, "pk": conn.pk}
    ours = [sql for sql in sqls if "django_euler_oauth_connection" in sql]
    assert len(ours) == 1, sqls
    sql = ours[0]
    # Neither the refresh token nor anything of the client row is read for a token read.
    assert '"refresh_token"' not in sql and '"scope"' not in sql
    assert '"client_secret"' not in sql and '"token_url"' not in sql


@pytest.mark.parametrize("default_client", [False, True])
def test_default_for_defers_but_attributes_work(user, oauth, make_connection,
                                                django_assert_num_queries, default_client):
    make_connection(user, oauth, scope="webcast:fetch user:info")
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT=oauth.slug if default_client else None):
        Connection.objects.default_for(user)  # finds the default client, kept for a while
        with django_assert_num_queries(1):
            conn = Connection.objects.default_for(user)
            assert conn is not None
            assert conn.access_token == "access-0" and conn.is_active
    assert isinstance(conn, Connection)
    assert set(conn.get_deferred_fields()) >= {"refresh_token", "scope", "refresh_expires_at"}
    assert set(TOKEN_READ_FIELDS) & conn.get_deferred_fields() == set()
    # Deferred fields load on first access, as with .only().
    assert conn.scope_list == ["webcast:fetch", "user:info"]
    assert conn.refresh_token == "refresh-0"
    assert conn.client.slug == oauth.slug


def test_default_for_picks_the_right_connection(user, django_user_model, make_client,
                                                make_connection):
    first = make_client()
    conn = make_connection(user, first)
    other_user = django_user_model.objects.create_user("bob", "b@example.com", "pw")
    make_connection(other_user, first, access_token="bobs")
    assert Connection.objects.default_for(user).pk == conn.pk
    # Two active clients and no default: no guess.
    second = make_client()
    assert Connection.objects.default_for(user) is None
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT=first.slug):
        assert Connection.objects.default_for(user).pk == conn.pk
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT=second.slug):
        assert Connection.objects.default_for(user) is None  # not connected to it
    second.is_active = False
    second.save()
    assert Connection.objects.default_for(user).pk == conn.pk
    Connection.objects.filter(pk=conn.pk).update(status="revoked")
    assert Connection.objects.default_for(user) is None
    Connection.objects.filter(pk=conn.pk).update(status="active")
    first.is_active = False
    first.save()
    assert Connection.objects.default_for(user) is None
    with override_settings(EULER_OAUTH_DEFAULT_CLIENT=first.slug):
        assert Connection.objects.default_for(user) is None  # inactive client


def test_expired_token_read_refreshes_through_deferred_row(browser, user, oauth,
                                                           make_connection, provider):
    provider.handle(TOKEN, RotatingTokenEndpoint("refresh-0"))
    conn = make_connection(user, oauth, expires_in=-10)
    data, _sqls = _token_read(browser)
    assert data == {"token": True, "pk": conn.pk}
    stored = Connection.objects.get(pk=conn.pk)
    assert stored.refresh_token != "refresh-0" and stored.refreshed_at is not None
    assert len(provider.requests_to(TOKEN)) == 1
