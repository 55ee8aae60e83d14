"""The ``time_left`` filter that the admin and the example pages share."""

import datetime

import pytest
from django.template import Context, Template

from django_euler_oauth.templatetags.euler_oauth import time_left


@pytest.mark.parametrize(("seconds", "shown"), [
    (None, "—"), (-5, "expired"), (0, "expired"), (42, "42 s"), (59 * 60 + 59, "59 min"),
    (3 * 3600 + 7 * 60, "3 h 7 min"), (86400 + 3600, "1 day 1 h"),
    (30 * 86400 - 1, "29 days 23 h"),
])
def test_time_left(seconds, shown):
    delta = None if seconds is None else datetime.timedelta(seconds=seconds)
    assert time_left(delta) == shown


def test_usable_from_templates():
    rendered = Template("{% load euler_oauth %}{{ left|time_left }}").render(
        Context({"left": datetime.timedelta(hours=2)}))
    assert rendered == "2 h 0 min"
