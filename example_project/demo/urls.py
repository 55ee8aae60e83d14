from django.conf import settings
from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from . import views

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
