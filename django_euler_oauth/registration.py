"""Our OAuth clients checked against what Euler Stream publishes about them.

:func:`check_client` asks ``GET /tiktok/oauth/clients/{client_id}``
(:meth:`~django_euler_oauth.client.ProviderClient.public_client`) and compares:
is the client known to Euler, is our callback URL one of its registered
redirect URIs, are our default scopes among its supported scopes. The admin
action "Check with Euler Stream" and ``manage.py euler_oauth_check_clients``
report it per client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .client import ProviderClient
from .errors import EulerOAuthError
from .scopes import missing

if TYPE_CHECKING:
    from .models import OAuthClient

__all__ = ["ClientReport", "check_client", "check_clients"]


@dataclasses.dataclass(frozen=True)
class ClientReport:
    """What Euler says about one :class:`~django_euler_oauth.models.OAuthClient`."""

    slug: str
    client_id: str
    known: bool | None  # None: Euler could not be asked (see ``error``)
    callback_url: str  # the URL checked ("" when none is configured or given)
    callback_registered: bool | None  # None: not checked
    registered_redirect_uris: tuple[str, ...] = ()
    unsupported_scopes: tuple[str, ...] = ()
    scopes_checked: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when nothing found needs fixing (an unchecked callback is not a fault)."""
        return (self.known is True and self.callback_registered is not False
                and not self.unsupported_scopes)

    def findings(self) -> list[str]:
        """One plain sentence per finding, problems and confirmations alike."""
        if self.known is None:
            return [f"Euler Stream could not be asked: {self.error}"]
        if not self.known:
            return [f"Euler Stream knows no client with ID {self.client_id!r}."]
        lines = ["Known to Euler Stream."]
        if self.callback_registered is None:
            lines.append("Callback URL not checked: the client has no redirect URI "
                         "(give the site's callback URL).")
        elif self.callback_registered:
            lines.append(f"Callback URL {self.callback_url} is registered.")
        else:
            registered = ", ".join(self.registered_redirect_uris) or "none"
            lines.append(f"Callback URL {self.callback_url} is NOT registered "
                         f"(registered: {registered}).")
        if self.unsupported_scopes:
            lines.append("Default scopes not supported by the client: "
                         + " ".join(self.unsupported_scopes) + ".")
        elif self.scopes_checked:
            lines.append("Default scopes supported.")
        else:
            lines.append("Default scopes not checked: Euler listed no supported scopes.")
        return lines


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(str(item) for item in value if isinstance(item, str) and item)


def check_client(client: OAuthClient, callback_url: str | None = None) -> ClientReport:
    """Ask Euler about ``client``; never raises an :class:`EulerOAuthError`.

    The callback URL checked is the client's ``redirect_uri``, else
    ``callback_url`` (the site's absolute ``euler_oauth:callback`` URL).
    """
    url = client.redirect_uri or callback_url or ""
    try:
        info = ProviderClient(client).public_client()
    except EulerOAuthError as err:
        return ClientReport(client.slug, client.client_id, known=None, callback_url=url,
                            callback_registered=None, error=str(err))
    if info is None:
        return ClientReport(client.slug, client.client_id, known=False, callback_url=url,
                            callback_registered=None)
    redirect_uris = _strings(info.get("redirect_uris", info.get("redirectUris")))
    supported_raw = info.get("supported_scopes", info.get("scopes"))
    scopes_checked = isinstance(supported_raw, list)
    unsupported = tuple(missing(_strings(supported_raw), client.scope_list)
                        if scopes_checked else ())
    return ClientReport(
        client.slug, client.client_id, known=True, callback_url=url,
        callback_registered=(url in redirect_uris) if url else None,
        registered_redirect_uris=redirect_uris, unsupported_scopes=unsupported,
        scopes_checked=scopes_checked,
    )


def check_clients(clients: Iterable[OAuthClient] | None = None,
                  callback_url: str | None = None) -> list[ClientReport]:
    """:func:`check_client` for each of ``clients`` (default: every active client)."""
    if clients is None:
        from .models import OAuthClient

        clients = OAuthClient.objects.active().order_by("slug")
    return [check_client(client, callback_url) for client in clients]
