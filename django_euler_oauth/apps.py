from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EulerOAuthConfig(AppConfig):
    name = "django_euler_oauth"
    label = "django_euler_oauth"
    verbose_name = _("Euler Stream OAuth")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.signals import setting_changed
        from django.db.models.signals import post_delete, post_save, pre_delete

        from . import checks  # noqa: F401  (registers the system checks)
        from .audit import track_new_connection
        from .models import Connection, OAuthClient, forget_cached_clients
        from .revocation import revoke_on_delete

        pre_delete.connect(revoke_on_delete, sender=Connection,
                           dispatch_uid="django_euler_oauth.revoke_on_delete")
        # Audit rows rolled back with their own connection are not rescued (audit.py).
        post_save.connect(track_new_connection, sender=Connection,
                          dispatch_uid="django_euler_oauth.track_new_connection")
        for signal in (post_save, post_delete):
            signal.connect(forget_cached_clients, sender=OAuthClient,
                           dispatch_uid="django_euler_oauth.forget_cached_clients")
        # override_settings (keys, the default client) starts afresh too.
        setting_changed.connect(forget_cached_clients,
                                dispatch_uid="django_euler_oauth.forget_cached_clients")
