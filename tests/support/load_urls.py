"""The test project's URLs plus one view that calls the Euler API (used by test_load_pg)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import EulerOAuthError

from ..urls import urlpatterns as base_urlpatterns


def api_fetch(request: HttpRequest) -> HttpResponse:
    """``/webcast/fetch`` through ``EulerAPI`` with the user's connection, as README shows."""
    if not request.euler_connection:  # type: ignore[attr-defined]
        return JsonResponse({"connected": False}, status=409)
    try:
        answer = EulerAPI(request.euler_connection).post(  # type: ignore[attr-defined]
            "/webcast/fetch", {"uniqueId": request.GET.get("uniqueId", "someone")})
    except EulerOAuthError as err:
        # A 502 counts as a failure in the load test: nothing should end up here.
        return JsonResponse({"error": err.code or type(err).__name__}, status=502)
    return JsonResponse({"uniqueId": answer["room"]["uniqueId"]})


urlpatterns = [
    *base_urlpatterns,
    path("api/fetch/", api_fetch),
]
