"""The example site's pages: status and connect/reconnect/disconnect, and an API demo."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from django_euler_oauth.api import EulerAPI
from django_euler_oauth.errors import EulerOAuthError
from django_euler_oauth.models import Connection, OAuthClient
from django_euler_oauth.templatetags.euler_oauth import time_left


def _connection(request: HttpRequest) -> Connection | None:
    """The user's connection to the default client, whatever its status."""
    try:
        client = OAuthClient.objects.resolve()
    except EulerOAuthError:
        return None
    return (Connection.objects.for_user(request.user).for_client(client)
            .select_related("client").first())


def home(request: HttpRequest, api_result: Any = None, api_error: Any = None) -> HttpResponse:
    context: dict[str, Any] = {"api_result": api_result, "api_error": api_error}
    if request.user.is_authenticated:
        connection = _connection(request)
        context["connection"] = connection
        if connection is not None:
            context.update(
                access_left=time_left(connection.access_time_left),
                refresh_left=time_left(connection.refresh_time_left),
                usable=connection.is_active and not connection.refresh_expired(),
            )
    return render(request, "demo/home.html", context)


@require_POST
@login_required
def api_demo(request: HttpRequest) -> HttpResponse:
    """Call /webcast/fetch with the stored (and, when due, refreshed) token."""
    connection = request.euler_connection  # type: ignore[attr-defined]
    if not connection:
        messages.warning(request, "Connect your TikTok account first.")
        return redirect("home")
    who = connection.external_username or "sandbox_streamer"
    try:
        answer = EulerAPI(connection).post("/webcast/fetch", {"uniqueId": who})
    except EulerOAuthError as err:
        return home(request, api_error=err)
    return home(request, api_result=json.dumps(answer, indent=2)[:4000])
