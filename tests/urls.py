from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import View

from django_euler_oauth.admin import EulerConnectionInline
from django_euler_oauth.decorators import EulerScopesRequiredMixin, euler_scopes_required


def whoami(request: HttpRequest) -> HttpResponse:
    """Reads the token through the middleware (used by middleware and flow tests)."""
    connection = request.euler_connection
    token = request.euler_token
    return JsonResponse({
        "connected": bool(connection),
        "has_token": bool(token),
        "token_length": len(str(token)) if token else 0,
    })


def current(request: HttpRequest) -> HttpResponse:
    """Which connection the request works with (accounts and switch tests)."""
    connection = request.euler_connection
    return JsonResponse({
        "user": request.user.get_username() if request.user.is_authenticated else None,
        "pk": connection.pk if connection else None,
        "account": connection.external_username if connection else None,
    })


def untouched(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


async def async_whoami(request: HttpRequest) -> HttpResponse:
    connection = await request.aeuler_connection()
    token = await request.aeuler_token()
    return JsonResponse({"connected": bool(connection), "has_token": bool(token)})


@euler_scopes_required("webcast:chat")
def needs_chat(request: HttpRequest) -> HttpResponse:
    """A view that needs a scope (incremental authorization tests)."""
    return HttpResponse("chat ok")


@euler_scopes_required("webcast:chat")
async def async_needs_chat(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async chat ok")


class NeedsModeration(EulerScopesRequiredMixin, View):
    euler_scopes = ("webcast:mute", "webcast:bulk_live_check")

    def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("moderation ok")


class AsyncNeedsModeration(EulerScopesRequiredMixin, View):
    euler_scopes = ("webcast:mute",)

    async def get(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse("async moderation ok")


class UserAdmin(auth_admin.UserAdmin):
    """The site's user admin, with each user's TikTok connections (read-only)."""

    inlines = [*auth_admin.UserAdmin.inlines, EulerConnectionInline]


# Here, not in an admin.py: every app's admin module has run by the time URLs load, so
# django.contrib.auth's registration can be replaced whatever the order of INSTALLED_APPS.
if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())
    admin.site.register(get_user_model(), UserAdmin)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("oauth/", include("django_euler_oauth.urls")),
    path("sandbox/", include("django_euler_oauth.sandbox.urls")),
    path("whoami/", whoami),
    path("current/", current),
    path("async-whoami/", async_whoami),
    path("untouched/", untouched),
    path("needs-chat/", needs_chat),
    path("async-needs-chat/", async_needs_chat),
    path("needs-moderation/", NeedsModeration.as_view()),
    path("async-needs-moderation/", AsyncNeedsModeration.as_view()),
]
