"""Mount under any prefix: ``path("sandbox/", include("django_euler_oauth.sandbox.urls"))``.

The LIVE WebSocket's routes are in :mod:`.routing`, for the site's ASGI application,
under the same prefix.
"""

from django.urls import path

from .views import accounts, api, authorize, avatar, control, token

app_name = "euler_sandbox"

_auth = "tiktok/oauth/authorize/<str:public_id>/"

urlpatterns = [
    path("tiktok/oauth/authorize", authorize.authorize, name="authorize"),
    path(_auth + "permissions", authorize.permissions, name="permissions"),
    path(_auth + "qr", authorize.qr, name="qr"),
    path(_auth + "status", authorize.status, name="status"),
    path(_auth + "phone", authorize.phone, name="phone"),
    path(_auth + "confirm", authorize.confirm, name="confirm"),
    path(_auth + "complete", authorize.complete, name="complete"),
    path(_auth + "cancel", authorize.cancel, name="cancel"),
    path("tiktok/oauth/token", token.token, name="token"),
    path("tiktok/oauth/revoke", token.revoke, name="revoke"),
    path("tiktok/oauth/introspect", token.introspect, name="introspect"),
    path("tiktok/oauth/validate-refresh", token.validate_refresh, name="validate_refresh"),
    path("tiktok/oauth/clients/<str:client_id>", token.public_client, name="public_client"),
    path("avatars/<str:unique_id>.svg", avatar.avatar, name="avatar"),
    path("control/", control.control_page, name="control"),
    path("control/api", control.control_api, name="control_api"),
    # Short tokens for the sandbox's WebSocket (routing.py), minted with the API key.
    path("accounts/<str:account_id>/jwt/create", accounts.create_jwt, name="create_jwt"),
    # Every endpoint of django_euler_oauth.endpoints.ENDPOINTS (userinfo, webcast/...).
    *api.urlpatterns(),
]
