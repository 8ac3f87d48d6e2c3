"""`locks_doctor`: one line per check, the fix when it fails, exit status 1 when one did."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from channels.routing import ProtocolTypeRouter
from django.core.management import call_command
from django.core.management.base import CommandError

from locks import services
from tests.conftest import require_redis
from tests.live import ROOT, LiveSite, free_port

pytestmark = pytest.mark.django_db

CHECKS = ["database", "channel layer", "websocket route", "clock", "stale locks", "settings"]

# An ASGI application that serves HTTP only: no websocket route for the lock consumer.
http_only_application = ProtocolTypeRouter({"http": lambda scope, receive, send: None})


def doctor(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("locks_doctor", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def line(output: str, check: str) -> str:
    return next(row for row in output.splitlines() if row[6:].startswith(check))


def test_healthy_site_passes_every_check():
    status, out = doctor()
    assert status == 0
    for check in CHECKS:
        assert line(out, check).startswith("ok ")
    assert "routes /ws/locks/ to the lock consumer" in line(out, "websocket route")
    assert " ms)" in line(out, "channel layer")  # the round trip is timed


def test_json_lists_every_check_with_status_and_time():
    status, out = doctor("--json")
    report = json.loads(out)
    assert status == 0 and report["ok"] is True
    assert [c["check"] for c in report["checks"]] == CHECKS
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert all(c["ms"] is not None for c in report["checks"])


def test_unreachable_redis_fails_the_channel_layer(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    status, out = doctor()
    assert status == 1
    assert line(out, "channel layer").startswith("FAIL")
    assert "Start Redis or correct REDIS_URL" in out
    assert "failed: channel layer" in out
    assert line(out, "database").startswith("ok ")  # only the broken part is named


def test_missing_websocket_route_fails(settings):
    settings.ASGI_APPLICATION = "tests.test_doctor.http_only_application"
    status, out = doctor()
    assert status == 1
    assert "routes no websocket to locks.consumers.LockConsumer" in line(out, "websocket route")
    assert "locks.routing.websocket_urlpatterns" in out


def test_pages_connecting_elsewhere_than_the_route_warns(settings):
    settings.LOCKS_WEBSOCKET_URL = "/live/"
    status, out = doctor()
    assert status == 0
    assert line(out, "websocket route").startswith("WARN")
    assert "pages connect to /live/ (LOCKS_WEBSOCKET_URL)" in out


def test_live_updates_off_is_not_a_failure(settings):
    settings.LOCKS_WEBSOCKET_URL = ""
    status, out = doctor()
    assert status == 0
    assert "live updates are off" in line(out, "websocket route")


def test_bad_lock_settings_fail_with_their_check_id(settings):
    settings.LOCKS_TIMEOUT = 20
    status, out = doctor()
    assert status == 1
    assert "locks.E002" in line(out, "settings")
    assert "fix: Raise LOCKS_TIMEOUT to at least 30" in out


def test_clock_off_by_more_than_two_seconds_warns(fake_clock):
    fake_clock.advance(60)
    status, out = doctor()
    assert status == 0  # a warning does not stop a deploy
    assert line(out, "clock").startswith("WARN")
    assert "ahead of the database's" in line(out, "clock")
    assert "NTP" in out


def test_stale_locks_are_counted_and_warned_about_when_nothing_sweeps(customer, alice, fake_clock):
    services.acquire(customer, alice)
    fake_clock.advance(50)  # lapsed 5 s ago: the sweeper or cron is about to free it
    assert "1 lapsed lock(s) not yet swept" in line(doctor()[1], "stale locks")
    assert line(doctor()[1], "stale locks").startswith("ok ")
    fake_clock.advance(600)
    status, out = doctor()
    assert status == 0  # a warning: the lapsed locks count as free already
    assert line(out, "stale locks").startswith("WARN")
    assert "release_stale_locks" in out


# ---------------------------------------------------------------- as a deploy script runs it


@pytest.fixture(scope="module")
def migrated_site(tmp_path_factory):
    site = LiveSite(tmp_path_factory.mktemp("doctor"))
    site.manage("migrate", "--noinput", "-v0")
    return site


def manage_doctor(site: LiveSite, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "locks_doctor"],
        cwd=ROOT,
        env={**site.env(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_command_exits_1_naming_the_channel_layer_when_redis_does_not_listen(migrated_site):
    done = manage_doctor(migrated_site, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert done.returncode == 1
    assert line(done.stdout, "channel layer").startswith("FAIL")
    assert "channel layer" in done.stderr


@pytest.mark.redis
def test_command_exits_0_with_redis(migrated_site):
    done = manage_doctor(migrated_site, REDIS_URL=require_redis())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RedisChannelLayer: a message went through a group and back" in done.stdout


def test_command_exits_1_on_an_unmigrated_database(tmp_path):
    done = manage_doctor(LiveSite(tmp_path))  # an empty SQLite file
    assert done.returncode == 1
    assert "unapplied migration(s)" in line(done.stdout, "database")
    assert "fix: Check DATABASE_URL, then run `python manage.py migrate`." in done.stdout
    assert line(done.stdout, "stale locks").startswith("skip")
