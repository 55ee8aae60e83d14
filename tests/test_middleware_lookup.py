"""The middleware's token lookup: one query, only the columns a token read needs.

And the async guard: reading ``request.euler_token`` / ``euler_connection`` in an
async view says which coroutine to await instead of Django's generic error.
"""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.exceptions import SynchronousOnlyOperation
from django.db import connection as db
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import path

from django_euler_oauth.middleware import SyncAttributeInAsyncContext
from django_euler_oauth.models import TOKEN_READ_FIELDS, Connection

from .loopback import RotatingTokenEndpoint

TOKEN = "/tiktok/oauth/token"


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
    path("async-sync-token/", async_sync_token),
    path("async-sync-connection/", async_sync_connection),
    path("async-after-await/", async_after_await),
    path("sync-token/", sync_token),
]

pytestmark = pytest.mark.urls(__name__)


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
