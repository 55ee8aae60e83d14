"""Views the benchmarks call through Django's full WSGI handler."""

import hashlib

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from django_euler_oauth.client import ProviderClient
from django_euler_oauth.errors import EulerOAuthError
from django_euler_oauth.models import Connection


def fingerprint(token: str) -> str:
    """A short digest: enough to tell tokens apart, useless to an attacker."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def untouched(request: HttpRequest) -> HttpResponse:
    """Never reads the Euler attributes: the middleware must cost nothing here."""
    return HttpResponse("ok")


def token(request: HttpRequest) -> HttpResponse:
    """Reads a fresh token through the middleware (one query plus decryption)."""
    value = request.euler_token  # type: ignore[attr-defined]
    return HttpResponse("yes" if value else "no")


def baseline_lookup(request: HttpRequest) -> HttpResponse:
    """The comparable hand-written lookup: the user's connection and client, one query."""
    row = (Connection.objects.filter(user_id=request.user.pk)
           .select_related("client").first())
    return HttpResponse("yes" if row and row.scope else "no")


def minimal_lookup(request: HttpRequest) -> HttpResponse:
    """The cheapest useful view: one one-column ORM lookup after ``request.user``."""
    from django.contrib.auth import get_user_model

    row = get_user_model().objects.filter(pk=request.user.pk).only("pk").first()
    return HttpResponse("yes" if row else "no")


def token_fingerprint(request: HttpRequest) -> HttpResponse:
    """Our way: the middleware's token (refreshed under the row lock when expired)."""
    value = request.euler_token  # type: ignore[attr-defined]
    if not value:
        return HttpResponse("no token", status=503)
    return HttpResponse(fingerprint(str(value)))


def naive_token(request: HttpRequest) -> HttpResponse:
    """What users write around other libraries: refresh when it looks expired, no lock."""
    connection = Connection.objects.select_related("client").get(user_id=request.user.pk)
    if connection.access_expired():
        try:
            tokens = ProviderClient(connection.client).refresh(connection.refresh_token)
        except EulerOAuthError:
            return HttpResponse("refresh failed", status=502)
        connection.access_token = tokens.access_token
        connection.refresh_token = tokens.refresh_token or connection.refresh_token
        connection.expires_at = tokens.expires_at
        connection.save()
    return HttpResponse(fingerprint(connection.access_token))


urlpatterns = [
    path("token-fingerprint/", token_fingerprint),
    path("naive-token/", naive_token),
    path("untouched/", untouched),
    path("token/", token),
    path("baseline/", baseline_lookup),
    path("minimal/", minimal_lookup),
    path("oauth/", include("django_euler_oauth.urls")),
    path("sandbox/", include("django_euler_oauth.sandbox.urls")),
]
