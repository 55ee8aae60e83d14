"""The account adapter: a site's say in signing up users from TikTok accounts.

``EULER_OAUTH_ACCOUNT_ADAPTER`` names a class (default :class:`AccountAdapter`); subclass
it to close sign-up for some accounts or to fill the site's own user fields.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.module_loading import import_string

from .conf import app_settings


class AccountAdapter:
    """What happens when an unknown TikTok account signs in."""

    def is_signup_allowed(self, request: HttpRequest, userinfo: dict[str, Any]) -> bool:
        """Whether to make a new user for this account (``EULER_OAUTH_SIGNUP``)."""
        return app_settings.SIGNUP

    def populate_user(self, request: HttpRequest, user: Any, userinfo: dict[str, Any]) -> None:
        """Fill the new (unsaved) user's fields from userinfo's ``user`` object.

        The username is already set (free, from ``uniqueId``) and the password unusable;
        by default the nickname becomes ``first_name`` where the model has one.
        """
        nickname = userinfo.get("nickName") or userinfo.get("nickname")
        if isinstance(nickname, str) and hasattr(user, "first_name"):
            field = type(user)._meta.get_field("first_name")
            user.first_name = nickname[:getattr(field, "max_length", None) or 150]


def get_adapter() -> AccountAdapter:
    """An instance of the class ``EULER_OAUTH_ACCOUNT_ADAPTER`` names."""
    adapter: AccountAdapter = import_string(app_settings.ACCOUNT_ADAPTER)()
    return adapter
