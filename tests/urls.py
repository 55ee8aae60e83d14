from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path


def whoami(request: HttpRequest) -> HttpResponse:
    """Reads the token through the middleware (used by middleware and flow tests)."""
    connection = request.euler_connection
    token = request.euler_token
    return JsonResponse({
        "connected": bool(connection),
        "has_token": bool(token),
        "token_length": len(str(token)) if token else 0,
    })


def untouched(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


async def async_whoami(request: HttpRequest) -> HttpResponse:
    connection = await request.aeuler_connection()
    token = await request.aeuler_token()
    return JsonResponse({"connected": bool(connection), "has_token": bool(token)})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("oauth/", include("django_euler_oauth.urls")),
    path("sandbox/", include("django_euler_oauth.sandbox.urls")),
    path("whoami/", whoami),
    path("async-whoami/", async_whoami),
    path("untouched/", untouched),
]
