"""Incremental authorization: euler_scopes_required and EulerScopesRequiredMixin.

Test views in tests/urls.py: ``/needs-chat/`` (function, ``webcast:chat``),
``/async-needs-chat/`` (async function), ``/needs-moderation/`` (class,
``webcast:mute`` + ``webcast:bulk_live_check``), ``/async-needs-moderation/``
(async class, ``webcast:mute``).
"""

from __future__ import annotations

import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.utils import timezone

from django_euler_oauth.models import Connection

CHAT_VIEWS = ["/needs-chat/", "/async-needs-chat/"]
MOD_VIEWS = ["/needs-moderation/", "/async-needs-moderation/"]
ALL_VIEWS = CHAT_VIEWS + MOD_VIEWS
REQUIRED = {"/needs-chat/": ["webcast:chat"], "/async-needs-chat/": ["webcast:chat"],
            "/needs-moderation/": ["webcast:mute", "webcast:bulk_live_check"],
            "/async-needs-moderation/": ["webcast:mute"]}


def authorize_query(response: Any) -> dict[str, str]:
    assert response.status_code == 302, response.content[:300]
    parts = urlsplit(response["Location"])
    assert parts.path == "/oauth/authorize/"
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


@pytest.mark.parametrize("path", ALL_VIEWS)
def test_anonymous_goes_to_login(client, oauth, path):
    response = client.get(path, {"tab": "1"})
    assert response.status_code == 302
    parts = urlsplit(response["Location"])
    assert parts.path == settings.LOGIN_URL
    assert parse_qs(parts.query)["next"] == [f"{path}?tab=1"]


@pytest.mark.parametrize("path", ALL_VIEWS)
def test_no_connection_authorizes_default_scopes_plus_required(browser, oauth, provider, path):
    oauth.scopes = "webcast:fetch webcast:chat"
    oauth.save()
    query = authorize_query(browser.get(path, {"room": "7"}))
    wanted = ["webcast:fetch", "webcast:chat"]
    wanted += [s for s in REQUIRED[path] if s not in wanted]
    assert query == {"client": oauth.slug, "scope": " ".join(wanted), "next": f"{path}?room=7"}
    # Following it really asks the provider for those scopes (and nothing was called yet).
    assert provider.received == []
    onward = browser.get("/oauth/authorize/", query)
    assert onward.status_code == 302
    sent = parse_qs(urlsplit(onward["Location"]).query)
    assert sent["scope"] == [" ".join(wanted)]


@pytest.mark.parametrize("path", ALL_VIEWS)
def test_missing_scope_asks_for_current_plus_missing(browser, user, oauth, make_connection,
                                                     path):
    make_connection(user, oauth, scope="webcast:fetch webcast:rankings")
    query = authorize_query(browser.get(path))
    assert query["scope"] == " ".join(["webcast:fetch", "webcast:rankings", *REQUIRED[path]])
    assert query["next"] == path and query["client"] == oauth.slug


@pytest.mark.parametrize("path", ALL_VIEWS)
@pytest.mark.parametrize("state", ["reauthorization_required", "revoked", "refresh_expired"])
def test_dead_connection_reconnects_with_its_scopes_plus_required(
        browser, user, oauth, make_connection, path, state):
    fields: dict[str, Any] = {"scope": "webcast:fetch " + " ".join(REQUIRED[path])}
    if state == "refresh_expired":
        fields["refresh_expires_at"] = timezone.now() - datetime.timedelta(seconds=1)
    else:
        fields["status"] = state
    make_connection(user, oauth, **fields)
    query = authorize_query(browser.get(path))
    # Every scope is granted, but the grant is dead: reconnect asking for the same.
    assert query["scope"] == fields["scope"]
    assert query["next"] == path


@pytest.mark.parametrize("path", ALL_VIEWS)
def test_granted_scopes_run_the_view(browser, user, oauth, make_connection, provider, path):
    # webcast:live_check is the documented alias of webcast:bulk_live_check.
    make_connection(user, oauth, scope="webcast:fetch webcast:chat webcast:mute "
                                       "webcast:live_check")
    response = browser.get(path)
    assert response.status_code == 200
    assert response.content.endswith(b" ok")
    assert (b"async" in response.content) == path.startswith("/async")
    assert provider.received == []


def test_a_connection_for_another_client_does_not_count(browser, user, oauth, make_client,
                                                        make_connection, settings):
    other = make_client()
    make_connection(user, other, scope="webcast:chat")
    settings.EULER_OAUTH_DEFAULT_CLIENT = oauth.slug
    query = authorize_query(browser.get("/needs-chat/"))
    assert query["client"] == oauth.slug


def test_mixin_scopes_may_be_a_string(rf, user, oauth, make_connection):
    from django.http import HttpResponse
    from django.views import View

    from django_euler_oauth.decorators import EulerScopesRequiredMixin

    class Spaced(EulerScopesRequiredMixin, View):
        euler_scopes = "webcast:mute webcast:ban"

        def get(self, request: Any) -> HttpResponse:
            return HttpResponse("ok")

    make_connection(user, oauth, scope="webcast:mute")
    request = rf.get("/spaced/")
    request.user = user
    request.euler_connection = None  # what the middleware sets: no current connection
    response = Spaced.as_view()(request)
    assert authorize_query(response)["scope"] == "webcast:mute webcast:ban"
    Connection.objects.update(scope="webcast:ban webcast:mute")
    assert Spaced.as_view()(request).status_code == 200
