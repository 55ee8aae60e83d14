from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("api-demo/", views.api_demo, name="api_demo"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("oauth/", include("django_euler_oauth.urls")),
]
if settings.SANDBOX:
    urlpatterns.append(path("sandbox/", include("django_euler_oauth.sandbox.urls")))
