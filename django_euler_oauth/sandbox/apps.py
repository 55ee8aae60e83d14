from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "django_euler_oauth.sandbox"
    label = "euler_sandbox"
    verbose_name = "Euler Stream sandbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
