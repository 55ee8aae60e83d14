from django.urls import path

from . import account_views, team_views, views
from .live import views as live_views

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
    # LIVE events: routed always (so templates and reverse() work on every site); each
    # answers 404 and says so when django_euler_oauth.live is not installed.
    path("live/token/", live_views.live_token, name="live_token"),
    path("live/start/", live_views.live_start, name="live_start"),
    path("live/stop/", live_views.live_stop, name="live_stop"),
]
