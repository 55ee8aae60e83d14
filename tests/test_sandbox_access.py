"""The sandbox's controls are for staff, and every change needs CSRF.

The control page and ``control/api`` change what every connected user sees (faults,
expired sessions, latency). Anyone could read and change them, and a JSON POST to
``control/api`` needed no CSRF token. Now: the page redirects anyone but active staff
to the admin login, the API answers them 403 (JSON), and every POST goes through
Django's CSRF check (the page's forms carry the token; scripts send ``X-CSRFToken``).
Clients here enforce CSRF checks, as a browser-facing deployment does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from django_euler_oauth.sandbox import controls
from django_euler_oauth.sandbox.models import Fault

from .support.sandbox_fixtures import SANDBOX_DATABASES

pytestmark = pytest.mark.django_db(databases=SANDBOX_DATABASES)
PAGE = "/sandbox/control/"
API = "/sandbox/control/api"
FAIL_NEXT = {"action": "fail_next", "count": 3, "status": 503, "endpoint": "token"}


def faults() -> int:
    return Fault.objects.filter(fail_next__gt=0).count()


@pytest.fixture
def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def staff(csrf_client: Client, django_user_model: Any, sandbox_client_row: Any) -> Client:
    admin = django_user_model.objects.create_user("ops", "ops@example.com", "pw",
                                                  is_staff=True)
    csrf_client.force_login(admin)
    return csrf_client


@pytest.fixture
def member(csrf_client: Client, django_user_model: Any, sandbox_client_row: Any) -> Client:
    csrf_client.force_login(django_user_model.objects.create_user("member", password="pw"))
    return csrf_client


def _post_json(client: Client, data: dict[str, Any], **headers: str) -> Any:
    return client.post(API, json.dumps(data), content_type="application/json",
                       headers=headers)


def _csrf_token(client: Client) -> str:
    assert client.get(PAGE).status_code == 200  # sets the csrftoken cookie
    return str(client.cookies["csrftoken"].value)


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_the_page_sends_anyone_but_staff_to_the_admin_login(who, csrf_client, member,
                                                            sandbox_client_row):
    client = csrf_client if who == "member" else Client(enforce_csrf_checks=True)
    for response in (client.get(PAGE), client.post(PAGE, {"action": "reset"})):
        assert response.status_code in (302, 403), response.status_code
        if response.status_code == 302:
            assert response["Location"].startswith("/admin/login/")
    page = client.get(PAGE)
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/?next=")


@pytest.mark.parametrize("who", ["anonymous", "member"])
def test_the_api_answers_anyone_but_staff_403(who, csrf_client, member, sandbox_client_row):
    client = csrf_client if who == "member" else Client()
    response = client.get(API)
    assert response.status_code == 403 and "Staff only" in response.json()["error"]
    # Even without CSRF enforcement (what a script without a token would hope for).
    response = _post_json(Client() if who == "anonymous" else client, FAIL_NEXT)
    assert response.status_code == 403
    assert faults() == 0


def test_a_json_post_without_the_csrf_token_is_refused(staff):
    _csrf_token(staff)
    response = _post_json(staff, FAIL_NEXT)
    assert response.status_code == 403
    assert faults() == 0


def test_a_form_post_without_the_csrf_token_is_refused(staff):
    response = staff.post(PAGE, {"action": "fail_next", "count": "2"})
    assert response.status_code == 403
    assert faults() == 0


def test_staff_with_the_csrf_token_change_the_sandbox(staff):
    token = _csrf_token(staff)
    response = _post_json(staff, FAIL_NEXT, X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content[:300]
    assert response.json()["ok"] is True and faults() == 1
    assert staff.get(API).json()["faults"][0]["fail_next"] == 3
    page = staff.post(PAGE, {"action": "reset", "csrfmiddlewaretoken": token})
    assert page.status_code == 302 and faults() == 0
    controls.reset()
