"""A Redis restart is healed without a server restart: the hub notices its memberships are
gone, joins again within 2 s of Redis answering, and pages see the next save in place."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.conftest import log_in
from tests.live import LiveSite
from tests.redis_server import OwnRedis
from tests.test_browser_live import wait_live
from tests.test_browser_locking import pick_customer, shot


@pytest.fixture
def own_redis_site(tmp_path):
    redis = OwnRedis(tmp_path)
    redis.start()
    site = LiveSite(
        tmp_path / "site",
        extra_env={"REDIS_URL": redis.url, "LOCKS_TIMEOUT": "30", "LOCKS_HEARTBEAT_INTERVAL": "10"},
    )
    site.workdir.mkdir()
    site.prepare()
    site.url = site.start_server()
    site.redis = redis
    yield site
    site.stop()
    redis.stop()


def server_log(site: LiveSite) -> str:
    return "".join(p.read_text() for p in site.workdir.glob("daphne-*.log"))


def wait_for_log(site: LiveSite, text: str, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in server_log(site):
            return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not logged within {timeout} s:\n{server_log(site)[-3000:]}")


@pytest.mark.browser
def test_redis_restart_heals_without_a_server_restart(browser, own_redis_site):
    site = own_redis_site
    pk, _ = pick_customer(site, 5)
    pages = {name: log_in(browser, site.url, name) for name in ("alice", "bob")}
    for page in pages.values():
        page.goto(f"{site.url}/admin/records/customer/{pk}/change/")
    alice, bob = pages["alice"], pages["bob"]
    wait_live(bob)
    expect(bob.locator("#locks-banner")).to_contain_text("Alice Archer is editing")

    site.redis.stop()
    site.redis.start()
    answered = site.redis.wait_answering()
    healed = wait_for_log(site, "group memberships restored", timeout=10)
    assert healed - answered < 2, f"memberships restored {healed - answered:.1f} s after Redis"

    alice.fill("#id_phone", "+49 30 1212121")
    alice.click("input[name=_save]")
    expect(bob.locator(".form-row.field-phone .readonly")).to_have_text(
        "+49 30 1212121", timeout=2000
    )
    expect(bob.locator("#locks-banner")).to_contain_text("The record is free now", timeout=2000)
    shot(bob, "after-redis-restart")
    for page in pages.values():
        page.context.close()
