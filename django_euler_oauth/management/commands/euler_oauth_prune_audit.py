"""``manage.py euler_oauth_prune_audit``: delete audit entries past the retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import audit
from ...conf import app_settings
from .. import options as checked


class Command(BaseCommand):
    help = ("Delete team audit entries older than --days days (default: "
            "EULER_OAUTH_AUDIT_RETENTION_DAYS, 90).")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", help="Keep entries this many days (1..36500).")

    def handle(self, *args: Any, **options: Any) -> None:
        raw, option = options["days"], "--days"
        if raw is None:
            option = "EULER_OAUTH_AUDIT_RETENTION_DAYS"
            try:
                raw = app_settings.AUDIT_RETENTION_DAYS
            except (TypeError, ValueError) as err:
                raise CommandError("EULER_OAUTH_AUDIT_RETENTION_DAYS must be a whole "
                                   "number of days.") from err
        days = checked.whole_number(raw, option, minimum=1, maximum=36500)
        deleted = audit.prune(days)
        self.stdout.write(f"Deleted {deleted} audit entr{'y' if deleted == 1 else 'ies'} "
                          f"older than {days} days.")
