"""``EulerAccountBackend``: signs in the user who owns a TikTok account's connection.

Add it to ``AUTHENTICATION_BACKENDS`` (beside ``ModelBackend`` if users also have
passwords). It authenticates only with ``euler_connection=`` (a connection the callback
just stored after the provider vouched for the account), never with a username.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from .models import Connection


class EulerAccountBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None,
                     password: str | None = None, *, euler_connection: Connection | None = None,
                     **kwargs: Any) -> Any:
        if euler_connection is None or not euler_connection.is_active:
            return None
        user = euler_connection.user
        return user if self.user_can_authenticate(user) else None
