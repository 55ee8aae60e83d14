"""The sandbox control page as a developer reads it: every action the JSON API has is on
the page with one line saying what it does, confirmations are sentences (not function
names), headings go h1 > h2 > h3, and there is a way back to the site."""

from __future__ import annotations

import itertools
import re

import pytest

from django_euler_oauth.sandbox.models import Fault, Grant
from django_euler_oauth.sandbox.views.control import ACTIONS

from .support.sandbox_fixtures import SANDBOX_DATABASES

pytestmark = pytest.mark.django_db(databases=SANDBOX_DATABASES)
PAGE = "/sandbox/control/"
# Covered on the page by "reset" (faults and counters at once).
JSON_ONLY = {"reset_counts", "reset_faults"}


@pytest.fixture
def staff(client, django_user_model, sandbox_client_row):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


def messages_after(client, data):
    response = client.post(PAGE, data, follow=True)
    assert response.status_code == 200
    return re.findall(r'<p class="notice ([a-z ]+)" role="status">(.*?)</p>',
                      response.content.decode())


def test_every_action_is_on_the_page_with_an_explanation(staff):
    html = staff.get(PAGE).content.decode()
    on_page = set(re.findall(r'name="action" value="([a-z_]+)"', html))
    assert on_page == set(ACTIONS) - JSON_ONLY
    assert "expire_refresh_tokens" in on_page
    controls = re.findall(r'<div class="control">(.*?)</div>', html, re.S)
    assert len(controls) == len(on_page)
    for control in controls:
        explanation = re.search(r'<p class="muted">([^<]{20,})</p>', control)
        assert explanation, control


def test_headings_in_order_and_a_way_back(staff):
    html = staff.get(PAGE).content.decode()
    levels = [int(level) for level in re.findall(r"<h([1-6])\b", html)]
    assert levels[0] == 1 and levels.count(1) == 1
    for before, after in itertools.pairwise(levels):
        assert after <= before + 1, levels  # never skips a level
    assert re.search(r'<a href="/" id="back-to-site">[^<]*Back to the site</a>', html)


@pytest.mark.parametrize(("data", "expected"), [
    ({"action": "expire_access_tokens"},
     "0 access tokens expired now: the next API call refreshes them."),
    ({"action": "expire_refresh_tokens"},
     "0 refresh tokens expired now: those connections must be authorized again at their "
     "next refresh."),
    ({"action": "expire_session", "unique_id": "sandbox_streamer"},
     "The TikTok session of @sandbox_streamer ended: its connections now get "
     "session_expired and must be authorized again."),
    ({"action": "set_latency", "endpoint": "token", "ms": "800"},
     "The token endpoint now answers 800 ms late."),
    ({"action": "fail_next", "count": "2", "status": "503"},
     "The next 2 requests to every endpoint fail with HTTP 503."),
    ({"action": "rate_limit", "seconds": "30"},
     "Every endpoint is rate-limited (HTTP 429) for 30 s."),
    ({"action": "reset"}, "Faults and call counters are reset: every endpoint answers normally."),
])
def test_confirmations_are_sentences(staff, data, expected):
    assert messages_after(staff, data) == [("success", expected)]


def test_actions_do_what_they_say(staff):
    grant_count = Grant.objects.count()
    messages_after(staff, {"action": "set_latency", "endpoint": "token", "ms": "800"})
    assert Fault.objects.get(endpoint="token").latency_ms == 800
    html = staff.get(PAGE).content.decode()
    assert "<td>token</td><td>800</td>" in html
    messages_after(staff, {"action": "reset"})
    assert not Fault.objects.exists() and Grant.objects.count() == grant_count


def test_a_refused_action_says_why(staff):
    assert messages_after(staff, {"action": "set_latency", "ms": "99999"}) == \
        [("error", "Latency must be between 0 and 30000 ms.")]
