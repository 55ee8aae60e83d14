"""``manage.py euler_oauth_check_clients``: our OAuth clients as Euler Stream knows them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from ... import registration
from ...models import OAuthClient
from .. import options as checked

#: The site URL when ALLOWED_HOSTS names no host: ``runserver``'s.
DEFAULT_SITE_URL = "http://127.0.0.1:8000"
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")


def default_site_url() -> str:
    """The first host ALLOWED_HOSTS names (``https://``; ``http://…:8000`` for a local
    one), else :data:`DEFAULT_SITE_URL`: wildcards (``*``, ``.example.com``) name none."""
    for host in getattr(settings, "ALLOWED_HOSTS", None) or ():
        host = str(host).strip()
        if not host or host == "*" or host.startswith("."):
            continue
        if host in _LOCAL_HOSTS or host.endswith(".localhost"):
            return f"http://{host}:8000"
        return f"https://{host}"
    return DEFAULT_SITE_URL


class Command(BaseCommand):
    help = (
        "Ask Euler Stream about each active OAuth client (GET /tiktok/oauth/clients/{id}): "
        "is it known, is the callback URL registered, are the default scopes supported. "
        "Exits non-zero when a problem is found."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="slug",
                            help="Clients to check (default: every active client).")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--site-url",
                           help="The site's address (https://your.site, with its path "
                                "prefix if it has one); the callback URL checked for "
                                "clients whose redirect URI is blank is this plus the "
                                "routed euler_oauth:callback path. Default: the first "
                                "host in ALLOWED_HOSTS, else http://127.0.0.1:8000.")
        where.add_argument("--callback-url",
                           help="The site's absolute callback URL (…/oauth/callback/), "
                                "checked for clients whose redirect URI is blank.")

    def handle(self, *args: Any, **options: Any) -> None:
        clients = None
        slugs = checked.slugs(options["slugs"] or ())
        if options["callback_url"] is not None:
            callback_url = checked.absolute_url(options["callback_url"], "--callback-url")
            source = "--callback-url"
        else:
            if options.get("site_url") is not None:
                site_url = checked.absolute_url(options["site_url"], "--site-url")
                source = "--site-url"
            else:
                site_url = default_site_url()
                source = "ALLOWED_HOSTS" if site_url != DEFAULT_SITE_URL else "the default"
            callback_url = site_url.rstrip("/") + reverse("euler_oauth:callback")
        if slugs:
            clients = OAuthClient.objects.filter(slug__in=slugs).order_by("slug")
            unknown = set(slugs) - {client.slug for client in clients}
            if unknown:
                raise CommandError(f"No OAuth client with slug {', '.join(sorted(unknown))}.")
        reports = registration.check_clients(clients, callback_url=callback_url)
        if not reports:
            raise CommandError("No active OAuth client to check.")
        if source in ("ALLOWED_HOSTS", "the default"):
            self.stdout.write(f"Callback URL for clients without a redirect URI: "
                              f"{callback_url} (from {source}; give --site-url for "
                              f"another address).")
        for report in reports:
            style = self.style.SUCCESS if report.ok else self.style.ERROR
            self.stdout.write(style(f"{report.slug}: {'OK' if report.ok else 'PROBLEM'}"))
            for line in report.findings():
                self.stdout.write(f"  {line}")
        failed = [report.slug for report in reports if not report.ok]
        if failed:
            raise CommandError(f"Problems found for {', '.join(failed)}.")
