"""The filters the admin and the pages share: ``time_left``, ``when`` (one format of a
moment, its time zone named) and ``euler_scope_text``."""

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


def test_when_is_the_one_format_of_a_moment_with_its_time_zone(settings):
    from django.utils import timezone

    from django_euler_oauth.templatetags.euler_oauth import when

    moment = datetime.datetime(2026, 7, 4, 9, 5, tzinfo=datetime.timezone.utc)
    assert when(moment) == "2026-07-04 09:05 UTC"
    with timezone.override("Europe/Berlin"):
        assert when(moment) == "2026-07-04 11:05 CEST"
    assert when(None) == ""
    assert when(datetime.datetime(2026, 7, 4, 9, 5)) == "2026-07-04 09:05 UTC"  # naive: local
    rendered = Template("{% load euler_oauth %}{{ at|when }} {{ 'webcast:mute'|euler_scope_text }}"
                        ).render(Context({"at": moment}))
    assert rendered == "2026-07-04 09:05 UTC Mute viewers in the LIVE."
