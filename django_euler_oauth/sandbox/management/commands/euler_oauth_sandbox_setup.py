"""``manage.py euler_oauth_sandbox_setup --site-url URL``: the sandbox's demo client.

Creates or updates, with :func:`~django_euler_oauth.sandbox.setup.ensure_demo_client`,
the sandbox client and the site's ``OAuthClient`` pointing at the sandbox, registering
the site's callback URL as the URLconf routes it: ``reverse("euler_oauth:callback")``, so
the redirect URI cannot name another prefix than the one the site serves.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, router, transaction
from django.urls import NoReverseMatch, reverse

from django_euler_oauth.conf import app_settings
from django_euler_oauth.errors import EulerOAuthError
from django_euler_oauth.management import options as checked
from django_euler_oauth.models import OAuthClient

from ...models import FakeAccount, SandboxClient
from ...scopes import first_invalid
from ...setup import ensure_demo_client

DEFAULT_SCOPES = "user:info webcast:fetch webcast:bulk_live_check webcast:rankings"


def _origin(value: Any) -> str:
    """``--site-url``: scheme, host and port only (the paths come from the URLconf)."""
    url = checked.absolute_url(value, "--site-url")
    parts = urlsplit(url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise CommandError(
            f"--site-url is where the site is served, scheme, host and port only (such as "
            f"http://127.0.0.1:8000); got {url}. The paths come from the URLconf "
            "(and FORCE_SCRIPT_NAME).")
    return f"{parts.scheme}://{parts.netloc}"


def _prefix(value: Any, option: str) -> str | None:
    """A URL prefix as typed (``oauth/``, ``/oauth/``, ``""``) as ``/oauth/`` (or ``/``)."""
    if value is None:
        return None
    text = value.strip("/") if isinstance(value, str) else None
    if text is None or not text.isprintable() or any(c in text for c in " ?#:\\"):
        raise CommandError(f"{option} must be a URL path prefix such as oauth/; got {value!r}.")
    return f"/{text}/" if text else "/"


def _routed(name: str, suffix: str, given: str | None, option: str, include: str) -> str:
    """The path prefix under which the URLconf routes URL ``name`` (ending in ``suffix``).

    ``given`` (``--prefix``/``--sandbox-prefix``) must agree with it; it is used only
    when the URLconf does not route ``name`` (a site whose URLconf is chosen per host).
    """
    try:
        path = reverse(name)
    except NoReverseMatch:
        if given is None:
            raise CommandError(
                f"The URLconf does not route {include} (no {name!r} URL): add "
                f'path("...", include("{include}")) to urls.py, or pass {option} when '
                "another URLconf serves it.") from None
        return given
    prefix = path[: -len(suffix)] if path.endswith(suffix) else path
    if given is not None and given != prefix:
        raise CommandError(
            f"{option} {given} does not match the URLconf, which routes {include} under "
            f"{prefix} ({path}). Leave {option} out, or change urls.py.")
    return prefix


class Command(BaseCommand):
    help = (
        "Create or update the sandbox's demo client and the site's OAuth client that uses "
        "it, registering the site's callback URL (as the URLconf routes euler_oauth:callback) "
        "as its redirect URI. Run it again after changing the URL or the port."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--site-url", required=True,
                            help="Where the site is served, such as http://127.0.0.1:8000.")
        parser.add_argument("--prefix",
                            help="Where urls.py includes django_euler_oauth.urls (such as "
                                 "oauth/): checked against the URLconf; needed only when "
                                 "another URLconf serves it.")
        parser.add_argument("--sandbox-prefix",
                            help="Where urls.py includes django_euler_oauth.sandbox.urls "
                                 "(such as sandbox/): checked likewise.")
        parser.add_argument("--slug", default="sandbox",
                            help="Slug of the site's OAuth client (default: sandbox).")
        parser.add_argument("--scopes", default=DEFAULT_SCOPES,
                            help="Its default scopes, space-separated (default: "
                                 f'"{DEFAULT_SCOPES}").')

    def handle(self, *args: Any, **options: Any) -> None:
        origin = _origin(options["site_url"])
        slug = checked.slugs([options["slug"]])[0]
        scopes = options["scopes"].split() if isinstance(options["scopes"], str) else []
        unknown = first_invalid(scopes)
        if not scopes or unknown is not None:
            raise CommandError(f"--scopes must name scopes the sandbox knows, space-separated; "
                               f"{unknown!r} is not one." if unknown else
                               "--scopes must name at least one scope.")
        app_prefix = _routed("euler_oauth:callback", "callback/",
                             _prefix(options["prefix"], "--prefix"), "--prefix",
                             "django_euler_oauth.urls")
        sandbox_prefix = _routed("euler_sandbox:token", "tiktok/oauth/token",
                                 _prefix(options["sandbox_prefix"], "--sandbox-prefix"),
                                 "--sandbox-prefix", "django_euler_oauth.sandbox.urls")
        callback = f"{origin}{app_prefix}callback/"
        base_url = f"{origin}{sandbox_prefix}".rstrip("/")
        try:
            with transaction.atomic(using=router.db_for_write(OAuthClient)), \
                    transaction.atomic(using=router.db_for_write(SandboxClient)):
                existed = OAuthClient.objects.filter(slug=slug).exists()
                sandbox, oauth = ensure_demo_client(base_url, redirect_uris=[callback],
                                                    slug=slug, scopes=" ".join(scopes))
                accounts = [f"@{a.unique_id}" for a in FakeAccount.objects.order_by("pk")]
        except DatabaseError as err:
            raise CommandError(
                f"The database is not ready ({err}): run `python manage.py migrate` first "
                "(it migrates the sandbox's database too).") from err

        # What was configured; never the client secret nor the API key.
        self.stdout.write(self.style.SUCCESS(
            f"OAuth client {oauth.slug!r} {'updated' if existed else 'created'}: "
            f"the sandbox at {base_url}/"))
        self.stdout.write(f"  sandbox client id: {sandbox.client_id}")
        self.stdout.write(f"  redirect URI:      {callback}")
        self.stdout.write(f"  scopes:            {oauth.scopes}")
        self.stdout.write(f"  LIVE WebSocket:    {oauth.websocket_url}")
        self.stdout.write(f"  fake TikTok accounts: {', '.join(accounts)}")
        try:
            default = OAuthClient.objects.resolve(None).slug
        except EulerOAuthError:
            default = None
        if default != oauth.slug:
            why = (f"EULER_OAUTH_DEFAULT_CLIENT is {app_settings.DEFAULT_CLIENT!r}"
                   if app_settings.DEFAULT_CLIENT else "other OAuth clients are active")
            self.stdout.write(self.style.WARNING(
                f"It is not the default client ({why}): set EULER_OAUTH_DEFAULT_CLIENT = "
                f'"{oauth.slug}", or add ?client={oauth.slug} to the authorize links.'))
        self.stdout.write(f"Connect an account at {origin}{app_prefix}accounts/ (with this host "
                          "name: the sandbox accepts only the redirect URI above).")
