"""``manage.py euler_oauth_cleanup``: retire connections whose refresh token ran out."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ... import maintenance
from .. import options as checked


class Command(BaseCommand):
    help = (
        "Mark active connections whose refresh token has expired (30 days, or what the "
        "provider said) as needing re-authorization, sending reauthorization_required "
        "once each. Authorization state lives in the session: run `manage.py "
        "clearsessions` to purge expired sessions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk-size", type=int, default=maintenance.DEFAULT_CHUNK_SIZE,
                            help="Connections read from the database per query (at most "
                                 f"{checked.MAX_CHUNK_SIZE}).")

    def handle(self, *args: Any, **options: Any) -> None:
        chunk_size = checked.chunk_size(options["chunk_size"])
        summary = maintenance.expire_refresh_tokens(chunk_size=chunk_size)
        self.stdout.write(self.style.SUCCESS(
            f"Marked {summary.marked} connections as needing re-authorization "
            f"(refresh token expired; {summary.examined} examined)."))
        if options["verbosity"] >= 1:
            self.stdout.write("Pending authorizations (state) are kept in the session; "
                              "`manage.py clearsessions` purges expired sessions.")
