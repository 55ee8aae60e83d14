"""``manage.py euler_oauth_check_clients``: our OAuth clients as Euler Stream knows them."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import registration
from ...models import OAuthClient
from .. import options as checked


class Command(BaseCommand):
    help = (
        "Ask Euler Stream about each active OAuth client (GET /tiktok/oauth/clients/{id}): "
        "is it known, is the callback URL registered, are the default scopes supported. "
        "Exits non-zero when a problem is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="slug",
                            help="Clients to check (default: every active client).")
        parser.add_argument("--callback-url",
                            help="The site's absolute callback URL (…/oauth/callback/), "
                                 "checked for clients whose redirect URI is blank.")

    def handle(self, *args: Any, **options: Any) -> None:
        clients = None
        slugs = checked.slugs(options["slugs"] or ())
        callback_url = (checked.absolute_url(options["callback_url"], "--callback-url")
                        if options["callback_url"] is not None else None)
        if slugs:
            clients = OAuthClient.objects.filter(slug__in=slugs).order_by("slug")
            unknown = set(slugs) - {client.slug for client in clients}
            if unknown:
                raise CommandError(f"No OAuth client with slug {', '.join(sorted(unknown))}.")
        reports = registration.check_clients(clients, callback_url=callback_url)
        if not reports:
            raise CommandError("No active OAuth client to check.")
        for report in reports:
            style = self.style.SUCCESS if report.ok else self.style.ERROR
            self.stdout.write(style(f"{report.slug}: {'OK' if report.ok else 'PROBLEM'}"))
            for line in report.findings():
                self.stdout.write(f"  {line}")
        failed = [report.slug for report in reports if not report.ok]
        if failed:
            raise CommandError(f"Problems found for {', '.join(failed)}.")
