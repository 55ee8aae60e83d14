"""The Celery system check (django_euler_oauth.W030-W033): only for a configured app."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

celery = pytest.importorskip("celery")

from django_euler_oauth.checks import check_celery  # noqa: E402

GOOD = {"broker_url": "redis://127.0.0.1:6379/0", "worker_prefetch_multiplier": 1,
        "task_time_limit": 600, "task_soft_time_limit": 540,
        "broker_transport_options": {"visibility_timeout": 900}}


@pytest.fixture
def use_app() -> Iterator[Any]:
    previous = celery._state.get_current_app()

    def make(**conf: Any) -> Any:
        app = celery.Celery("site", set_as_current=False)
        app.conf.update(conf)
        app.set_current()
        return app

    yield make
    previous.set_current()


def ids(problems: list[Any]) -> list[str]:
    return sorted(problem.id for problem in problems)


def test_nothing_without_a_configured_app():
    # The fallback app Celery makes when none is configured is not checked.
    assert check_celery() == []


def test_recommended_settings_pass(use_app):
    use_app(**GOOD)
    assert check_celery() == []


def test_defaults_warn(use_app):
    use_app(broker_url="redis://127.0.0.1:6379/0")
    problems = check_celery()
    assert ids(problems) == ["django_euler_oauth.W030", "django_euler_oauth.W031",
                             "django_euler_oauth.W032"]
    assert "one hour" in next(p.msg for p in problems if p.id.endswith("W032"))


def test_visibility_timeout_below_time_limit(use_app):
    use_app(**{**GOOD, "broker_transport_options": {"visibility_timeout": 300}})
    assert ids(check_celery()) == ["django_euler_oauth.W033"]


def test_amqp_has_no_visibility_timeout(use_app):
    use_app(**{**GOOD, "broker_url": "amqp://guest@127.0.0.1//",
               "broker_transport_options": {}})
    assert check_celery() == []


def test_registered_with_django_checks(use_app, settings):
    from django.core.checks import run_checks

    use_app(**{**GOOD, "worker_prefetch_multiplier": 4})
    assert "django_euler_oauth.W030" in ids(run_checks())


def test_tasks_are_acks_late_and_requeued_when_the_worker_dies():
    from django_euler_oauth import tasks

    for task in (tasks.refresh_expiring, tasks.refresh_connections):
        assert task.acks_late is True and task.reject_on_worker_lost is True
