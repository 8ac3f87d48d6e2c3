"""project/settings.py reads the environment as the README says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def settings_in_subprocess(env: dict[str, str], expr: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "REDIS_URL",
            "SECRET_KEY",
            "DEBUG",
            "ALLOWED_HOSTS",
            "LOCKS_TIMEOUT",
            "LOCKS_HEARTBEAT_INTERVAL",
            "LOCKS_IDLE_TIMEOUT",
        }
    }
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "project.settings"
    code = f"import django; django.setup(); from django.conf import settings as s; print(({expr}))"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_defaults_are_sqlite_and_in_memory_layer():
    out = settings_in_subprocess(
        {}, "s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], s.DEBUG"
    )
    assert out.returncode == 0, out.stderr
    assert "sqlite3" in out.stdout
    assert "InMemoryChannelLayer" in out.stdout


def test_database_url_selects_postgresql():
    out = settings_in_subprocess(
        {"DATABASE_URL": "postgres://u:p@db.example:5433/shop"},
        "[s.DATABASES['default'][k] for k in ('ENGINE', 'HOST', 'NAME')]",
    )
    assert out.returncode == 0, out.stderr
    assert "postgresql" in out.stdout
    assert "db.example" in out.stdout
    assert "shop" in out.stdout


def test_redis_url_configures_layer_without_socket_timeout():
    out = settings_in_subprocess(
        {"REDIS_URL": "redis://cache.example:6380/2"}, "s.CHANNEL_LAYERS['default']"
    )
    assert out.returncode == 0, out.stderr
    assert "RedisChannelLayer" in out.stdout
    assert "'address': 'redis://cache.example:6380/2'" in out.stdout
    assert "'socket_timeout': None" in out.stdout


def test_lock_timeouts_come_from_environment():
    out = settings_in_subprocess(
        {"LOCKS_TIMEOUT": "90", "LOCKS_HEARTBEAT_INTERVAL": "20", "LOCKS_IDLE_TIMEOUT": "600"},
        "s.LOCKS_TIMEOUT, s.LOCKS_HEARTBEAT_INTERVAL, s.LOCKS_IDLE_TIMEOUT",
    )
    assert out.stdout.strip() == "(90, 20, 600)", out.stderr


def test_production_without_secret_key_refuses_to_start():
    out = settings_in_subprocess({"DEBUG": "0"}, "s.SECRET_KEY")
    assert out.returncode != 0
    assert "SECRET_KEY is not set" in out.stderr
    assert "set the SECRET_KEY environment variable" in out.stderr


def test_production_with_secret_key_is_secure():
    out = settings_in_subprocess(
        {"DEBUG": "0", "SECRET_KEY": "x" * 60, "ALLOWED_HOSTS": "locks.example.com"},
        "s.DEBUG, s.ALLOWED_HOSTS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(False, ['locks.example.com'], True, True)"


@pytest.mark.parametrize("value", ["maybe", "2x"])
def test_ambiguous_debug_value_is_refused(value):
    out = settings_in_subprocess({"DEBUG": value}, "s.DEBUG")
    assert out.returncode != 0
    assert "DEBUG=" in out.stderr
