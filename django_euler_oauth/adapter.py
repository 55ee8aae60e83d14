"""The account adapter: a site's say in signing up users from TikTok accounts.

``EULER_OAUTH_ACCOUNT_ADAPTER`` names a class (default :class:`AccountAdapter`); subclass
it to close sign-up for some accounts, to decide who may sign in with TikTok, or to fill
the site's own user fields.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.module_loading import import_string

from .conf import app_settings


def profile_text(value: Any, length: int = 100) -> str:
    """A userinfo field fit for a CharField: text, no control characters (no NUL)."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return ""
    return "".join(ch for ch in str(value) if ch.isprintable())[:length]


class AccountAdapter:
    """What happens when a TikTok account signs in."""

    def is_login_allowed(self, request: HttpRequest, user: Any,
                         userinfo: dict[str, Any]) -> bool:
        """Whether ``user`` may sign in with the TikTok account ``userinfo`` names.

        Asked before anything is stored, for a known account's user and for a user about
        to be signed up. By default staff and superusers may not (a TikTok sign-in skips
        their password and any second factor) unless ``EULER_OAUTH_STAFF_SIGN_IN`` is true.
        """
        if user.is_staff or user.is_superuser:
            return app_settings.STAFF_SIGN_IN
        return True

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
            user.first_name = profile_text(nickname, getattr(field, "max_length", None) or 150)


def get_adapter() -> AccountAdapter:
    """An instance of the class ``EULER_OAUTH_ACCOUNT_ADAPTER`` names."""
    adapter: AccountAdapter = import_string(app_settings.ACCOUNT_ADAPTER)()
    return adapter
