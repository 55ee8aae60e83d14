from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"

    def ready(self) -> None:
        from django_euler_oauth.signals import live_event

        from .bot import answer_commands

        live_event.connect(answer_commands, dispatch_uid="demo.bot")
