from django.urls import path

from . import views

app_name = "euler_oauth"

urlpatterns = [
    path("authorize/", views.authorize, name="authorize"),
    path("callback/", views.callback, name="callback"),
    path("disconnect/", views.disconnect, name="disconnect"),
]
