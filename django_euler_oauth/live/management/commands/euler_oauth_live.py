"""``manage.py euler_oauth_live``: run a LIVE relay until SIGTERM."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_euler_oauth.conf import app_settings
from django_euler_oauth.live.relay import Relay, Timing, run_until_signalled


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise CommandError(f"Not a number of seconds: {value!r}.") from None
    if not 0.05 <= number <= 3600:
        raise CommandError(f"Seconds must be between 0.05 and 3600, not {value}.")
    return number


class Command(BaseCommand):
    help = ("Hold the listened-to LIVE rooms' sockets to Euler and deliver their events "
            "(the live_event signal, the channel layer), sharing the rooms with any other "
            "relay process through the database. Stops on SIGTERM, releasing its rooms.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", default="",
                            help="This relay's name in the database (default: host:pid:nonce).")
        parser.add_argument("--tick", default="2", type=str,
                            help="Seconds between lease renewals and room checks (default 2).")
        parser.add_argument("--not-live-wait", default="30", type=str,
                            help="Seconds before asking again whether a creator is LIVE.")

    def handle(self, *args: Any, **options: Any) -> None:
        timing = Timing(tick=_seconds(options["tick"]),
                        not_live=_seconds(options["not_live_wait"]))
        if timing.tick * 2 > app_settings.LIVE_LEASE_SECONDS:
            raise CommandError("--tick must be at most half of EULER_OAUTH_LIVE_LEASE_SECONDS "
                               f"({app_settings.LIVE_LEASE_SECONDS:g} s), or leases lapse.")
        relay = Relay(name=options["name"][:120] or None, timing=timing)
        self.stdout.write(f"LIVE relay {relay.name} running (lease "
                          f"{app_settings.LIVE_LEASE_SECONDS:g} s); SIGTERM stops it.")
        self.stdout.flush()
        run_until_signalled(relay)
        self.stdout.write(f"LIVE relay {relay.name} stopped; its rooms are released.")
