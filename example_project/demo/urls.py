from django.conf import settings
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import get_user_model
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from django_euler_oauth.admin import EulerConnectionInline

from . import views


class UserAdmin(auth_admin.UserAdmin):
    """The site's user admin, with each user's TikTok connections (read-only)."""

    inlines = [*auth_admin.UserAdmin.inlines, EulerConnectionInline]


# Here, not in an admin.py: every app's admin module has run by the time URLs load, so
# django.contrib.auth's registration can be replaced whatever the order of INSTALLED_APPS.
if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())
    admin.site.register(get_user_model(), UserAdmin)

urlpatterns = [
    path("", views.home, name="home"),
    path("api-demo/", views.api_demo, name="api_demo"),
    path("console/", views.console, name="console"),
    path("console/action/", views.console_action, name="console_action"),
    path("console/chat/", views.console_chat, name="console_chat"),
    path("favicon.ico", RedirectView.as_view(url=static("demo/favicon.svg"), permanent=True)),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("oauth/", include("django_euler_oauth.urls")),
]
if settings.SANDBOX:
    urlpatterns.append(path("sandbox/", include("django_euler_oauth.sandbox.urls")))
