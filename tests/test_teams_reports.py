"""Teams: no secret in an error report of a delegate's failing call, nor in its audit
row; a NotDelegated escaping a view is a 403, not a 500 report."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from django_euler_oauth import teams
from django_euler_oauth.api import EulerAPI
from django_euler_oauth.models import AuditEntry, Connection

from .support.error_reports import assert_clean, assert_reported
from .support.loopback import Answer

GALLERY = "/webcast/anchors/streamer/gift_gallery"


def delegate_call(request: HttpRequest, pk: int) -> HttpResponse:
    EulerAPI.for_request(request, Connection.objects.get(pk=pk)) \
        .retrieve_webcast_gift_gallery("streamer")
    return HttpResponse("ok")


urlpatterns = [
    path("boom/delegate/<int:pk>/", delegate_call),
    path("", include("tests.urls")),
]

pytestmark = pytest.mark.urls("tests.test_teams_reports")


@pytest.fixture
def moderator_web(django_user_model: Any) -> tuple[Any, Client]:
    moderator = django_user_model.objects.create_user("mod", "mod@example.com", "pw")
    web = Client(raise_request_exception=False)
    web.force_login(moderator)
    return moderator, web


def test_a_delegates_failing_call_reports_no_secret(admin_mails, moderator_web, reporting_conn,
                                                    user, provider):
    moderator, web = moderator_web
    teams.grant(reporting_conn, moderator, "webcast:fetch", by=user)
    provider.queue(GALLERY, Answer(500, {"error": "server_error"}))
    response = web.get(f"/boom/delegate/{reporting_conn.pk}/")
    assert response.status_code == 500
    assert_reported(admin_mails)
    entry = AuditEntry.objects.get()
    assert (entry.acting_user, entry.outcome) == (moderator, "server_error")
    assert_clean("audit row", repr(list(AuditEntry.objects.values())))


def test_not_delegated_in_a_view_is_a_403_and_no_report(admin_mails, moderator_web, reporting_conn):
    _moderator, web = moderator_web
    response = web.get(f"/boom/delegate/{reporting_conn.pk}/")
    assert response.status_code == 403
    assert len(admin_mails) == 0
    assert AuditEntry.objects.get().outcome == "not_delegated"
