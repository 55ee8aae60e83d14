from django.urls import path

from . import account_views, views

app_name = "euler_oauth"

urlpatterns = [
    path("authorize/", views.authorize, name="authorize"),
    path("callback/", views.callback, name="callback"),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("login/", account_views.login, name="login"),
    path("switch/", account_views.switch, name="switch"),
    path("accounts/", account_views.account_list, name="accounts"),
]
