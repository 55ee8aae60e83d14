from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LiveConfig(AppConfig):
    name = "django_euler_oauth.live"
    label = "euler_oauth_live"
    verbose_name = _("Euler Stream LIVE events")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import listening

        listening.connect_signals()
