"""`manage.py check` explains the setups that used to disable locking or live updates
quietly (locks/checks.py): each problem names the fix."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.db import connection

from locks import live
from locks.checks import check_installed_apps


def lock_problems() -> dict[str, str]:
    """The locks.* problems `manage.py check` reports, id -> message + hint."""
    return {
        problem.id: f"{problem.msg} {problem.hint}"
        for problem in run_checks()
        if problem.id and problem.id.startswith("locks.")
    }


def test_the_demo_setup_is_clean():
    assert lock_problems() == {}


@pytest.fixture
def not_routed(monkeypatch):
    monkeypatch.setattr(live, "_routed", False)


def test_websocket_route_without_a_channel_layer(settings, not_routed):
    del settings.CHANNEL_LAYERS
    problems = lock_problems()
    assert list(problems) == ["locks.E004"]
    assert "project.asgi.application" in problems["locks.E004"]
    assert "InMemoryChannelLayer" in problems["locks.E004"]


def test_an_explicit_socket_url_without_a_channel_layer(settings, not_routed):
    del settings.CHANNEL_LAYERS
    del settings.ASGI_APPLICATION
    settings.LOCKS_WEBSOCKET_URL = "/ws/locks/"
    assert list(lock_problems()) == ["locks.E004"]


def test_no_route_and_no_channel_layer_is_fine_on_wsgi(settings, not_routed):
    """A WSGI-only project: pages poll, nothing to warn about."""
    del settings.CHANNEL_LAYERS
    del settings.ASGI_APPLICATION
    assert lock_problems() == {}


@pytest.mark.parametrize(
    ("vendor", "sqlite_version", "named"),
    [("mysql", None, "'mysql' backend"), ("sqlite", (3, 31, 1), "SQLite 3.31.1")],
)
def test_a_database_without_the_lock_sql(monkeypatch, vendor, sqlite_version, named):
    monkeypatch.setattr(connection, "vendor", vendor)
    if sqlite_version:
        monkeypatch.setattr(
            connection.Database, "sqlite_version_info", sqlite_version, raising=False
        )
    problems = lock_problems()
    assert list(problems) == ["locks.E005"]
    assert named in problems["locks.E005"]
    assert "PostgreSQL or SQLite 3.35+" in problems["locks.E005"]


def test_admin_missing_from_installed_apps(settings):
    settings.INSTALLED_APPS = [
        app for app in settings.INSTALLED_APPS if app != "django.contrib.admin"
    ]
    problems = check_installed_apps()
    assert [p.id for p in problems] == ["locks.E003"]
    assert '"django.contrib.admin"' in problems[0].hint


def test_redis_layer_with_the_default_socket_timeout(settings):
    redis = pytest.importorskip("redis")
    if int(redis.__version__.split(".")[0]) < 8:
        pytest.skip("redis-py before 8 has no socket timeout by default")
    layer = {"BACKEND": "channels_redis.core.RedisChannelLayer"}
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {"hosts": ["redis://h:6379/0"]}}}
    problems = lock_problems()
    assert list(problems) == ["locks.W003"]
    assert '"socket_timeout": None' in problems["locks.W003"]
    settings.CHANNEL_LAYERS = {
        "default": {
            **layer,
            "CONFIG": {"hosts": [{"address": "redis://h:6379/0", "socket_timeout": None}]},
        }
    }
    assert lock_problems() == {}
