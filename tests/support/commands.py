"""Running the management commands, and the rows they work on."""

from __future__ import annotations

import datetime
import io
from typing import Any

from django.core.management import call_command
from django.utils import timezone

from django_euler_oauth.models import Connection, OAuthClient


def make_many(oauth: OAuthClient, django_user_model: Any, count: int, *,
              expires_in: int = 60, prefix: str = "u") -> list[int]:
    """``count`` users (``<prefix><i>``), each with a connection of ``oauth`` holding
    ``a-<i>``/``r-<i>`` whose access token expires in ``expires_in`` seconds. Returns the
    pks of all of ``oauth``'s connections."""
    users = django_user_model.objects.bulk_create(
        [django_user_model(username=f"{prefix}{i}") for i in range(count)])
    if users[0].pk is None:  # backends that do not return pks
        users = list(django_user_model.objects.filter(username__startswith=prefix)
                     .order_by("pk"))
    now = timezone.now()
    Connection.objects.bulk_create([
        Connection(user=user, client=oauth, access_token=f"a-{i}", refresh_token=f"r-{i}",
                   scope="webcast:fetch", expires_at=now + datetime.timedelta(seconds=expires_in),
                   refresh_expires_at=now + datetime.timedelta(days=30))
        for i, user in enumerate(users)])
    return list(Connection.objects.filter(client=oauth).order_by("pk").values_list("pk",
                                                                                   flat=True))


def run(*args: str) -> str:
    """``call_command(*args)``; what it wrote to stdout."""
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()
