"""Make the README's screenshots from the demo, in a real browser.

    .venv/bin/python docs/screenshots/make_screenshots.py

Starts the demo on a temporary database (tests/live.py), drives Chromium through the
scenarios with several users, and writes PNGs next to this file. Not part of the test run.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveSite  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        site = LiveSite(
            Path(workdir), extra_env={"LOCKS_HEARTBEAT_INTERVAL": "2", "LOCKS_TIMEOUT": "6"}
        )
        site.prepare()
        base = site.start_server()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            run(browser, site, base)
        finally:
            browser.close()
            site.stop()


def login(browser, base: str, username: str):
    page = browser.new_context(viewport={"width": 1400, "height": 700}).new_page()
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "demo")
    page.click("input[type=submit]")
    page.wait_for_url(f"{base}/admin/")
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(HERE / f"{name}.png"))
    print("wrote", HERE / f"{name}.png")


def run(browser, site: LiveSite, base: str) -> None:
    pk = site.scalar("SELECT id FROM records_customer ORDER BY id LIMIT 1 OFFSET 4")
    url = f"{base}/admin/records/customer/{pk}/change/"
    alice, bob, carol = (login(browser, base, name) for name in ("alice", "bob", "carol"))

    alice.goto(url)
    alice.fill("#id_notes", "Prefers calls in the morning.")
    shot(alice, "banner")

    bob.goto(url)
    bob.wait_for_function("window.locksPage && window.locksPage.live.subscribed")
    expect(bob.locator(".locks-presence")).to_be_visible()
    shot(bob, "readonly")

    name = site.scalar("SELECT name FROM records_customer WHERE id = ?", pk)
    bob.goto(f"{base}/admin/records/customer/?q={name.split()[1]}")
    expect(bob.locator(f"[data-locks-pk='{pk}']")).to_contain_text("Alice")
    shot(bob, "change-list")

    carol.goto(url)
    carol.fill("input[name=reason]", "Customer is on the phone")
    shot(carol, "take-over")
    carol.click("button.locks-take-over")
    expect(alice.locator("#locks-banner")).to_contain_text("You no longer hold the lock")
    shot(alice, "lock-lost")

    carol.fill("#id_phone", "+49 30 1234000")
    carol.click("input[name=_save]")
    alice.get_by_role("button", name="Edit again").click()
    alice.get_by_role("button", name="Restore my unsaved changes").click()
    alice.fill("#id_phone", "+49 30 5550199")
    alice.click("input[name=_save]")
    expect(alice.get_by_role("button", name="Save merged version")).to_be_visible()
    shot(alice, "merge")
    alice.get_by_role("button", name="Save merged version").click()

    bob.goto(url)
    carol.goto(url)
    carol.goto(f"{base}/admin/locks/editlock/")
    expect(carol.locator("#result_list")).to_be_visible()
    shot(carol, "console")


if __name__ == "__main__":
    main()
