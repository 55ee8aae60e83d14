from django.urls import path

from . import account_views, team_views, views

app_name = "euler_oauth"

urlpatterns = [
    path("authorize/", views.authorize, name="authorize"),
    path("callback/", views.callback, name="callback"),
    path("disconnect/", views.disconnect, name="disconnect"),
    path("login/", account_views.login, name="login"),
    path("switch/", account_views.switch, name="switch"),
    path("accounts/", account_views.account_list, name="accounts"),
    path("team/", team_views.team, name="team"),
    path("team/revoke/", team_views.team_revoke, name="team_revoke"),
    path("team/join/<str:token>/", team_views.team_join, name="team_join"),
    path("team/joined/", team_views.team_join_done, name="team_join_done"),
    path("team/audit/", team_views.audit_trail, name="audit_trail"),
]
