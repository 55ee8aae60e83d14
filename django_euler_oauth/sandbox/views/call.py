"""One authenticated request to an API endpoint, as the sandbox's handlers see it.

:func:`.api.dispatch` makes a :class:`Call` and hands it to the endpoint's handler in
:mod:`.webcast`; a handler raises :class:`BadInput` for a parameter it cannot take.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from django_euler_oauth.endpoints import Endpoint

from ..models import FakeAccount, Grant, SandboxClient


class BadInput(ValueError):
    """A parameter the endpoint cannot take: answered 400 ``invalid_request``."""



class Call:
    """One authenticated request to an endpoint, with typed access to its parameters."""

    def __init__(self, request: HttpRequest, endpoint: Endpoint, grant: Grant,
                 client: SandboxClient, path_params: dict[str, str],
                 params: dict[str, Any]) -> None:
        self.request, self.endpoint, self.grant, self.client = request, endpoint, grant, client
        self.account: FakeAccount = grant.account
        self.path = path_params
        self.params = params

    def text(self, name: str, max_length: int = 100, default: str = "") -> str:
        value = self.path.get(name, self.params.get(name))
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise BadInput(f"{name} must be a string.")
        value = str(value).strip()
        if len(value) > max_length:
            raise BadInput(f"{name} is longer than {max_length} characters.")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise BadInput(f"{name} contains control characters.")
        return value

    def digits(self, name: str, default: str = "") -> str:
        """A numeric TikTok id (kept as text: 19-digit ids do not fit a float)."""
        value = self.text(name, 25, default)
        if value and not value.isdigit():
            raise BadInput(f"{name} must be a numeric id.")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name, 20)
        if not raw:
            return default
        try:
            number = float(raw)  # the SDK sends its float parameters as "10.0"
        except ValueError:
            raise BadInput(f"{name} must be a number.") from None
        if not number.is_integer() or not low <= number <= high:
            raise BadInput(f"{name} must be a whole number from {low} to {high}.")
        return int(number)

    def flag(self, name: str) -> bool:
        raw = self.params.get(name)
        if isinstance(raw, bool):
            return raw
        value = self.text(name, 5).lower()
        if value in ("true", "1"):
            return True
        if value in ("false", "0"):
            return False
        raise BadInput(f"{name} must be true or false.")
