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


def live(page) -> None:
    page.wait_for_function("window.locksPage && window.locksPage.live.subscribed")


def run(browser, site: LiveSite, base: str) -> None:
    pk = site.scalar("SELECT id FROM records_customer ORDER BY id LIMIT 1 OFFSET 4")
    url = f"{base}/admin/records/customer/{pk}/change/"
    alice, bob, carol = (login(browser, base, name) for name in ("alice", "bob", "carol"))

    # The holder, and what everyone else sees.
    alice.goto(url)
    live(alice)
    alice.fill("#id_notes", "Prefers calls in the morning.")
    alice.fill("#id_phone", "+49 30 5550199")
    shot(alice, "banner")
    bob.goto(url)
    live(bob)
    expect(bob.locator(".locks-presence")).to_contain_text("Also viewing")
    shot(bob, "readonly")

    # Bob asks; Alice sees the request wherever she has scrolled, and in the tab title.
    bob.get_by_role("button", name="Ask to edit").click()
    expect(bob.locator(".locks-status")).to_contain_text("Your request was sent.")
    bob.get_by_role("button", name="Edit when free").click()
    shot(bob, "asked")
    alice.locator("#id_notes").scroll_into_view_if_needed()
    expect(alice.locator("#locks-notice")).to_be_visible()
    shot(alice, "handover-request")

    name = site.scalar("SELECT name FROM records_customer WHERE id = ?", pk)
    bob.goto(f"{base}/admin/records/customer/?q={name.split()[1]}")
    expect(bob.locator(f"[data-locks-pk='{pk}']")).to_contain_text("Alice")
    shot(bob, "change-list")

    # A manager takes over with a reason: Alice is told who and why; her form is read-only.
    carol.goto(url)
    carol.fill("#locks-banner input[name=reason]", "Customer is on the phone")
    shot(carol, "take-over")
    carol.get_by_role("button", name="Take over").click()
    expect(alice.locator("#locks-banner")).to_contain_text("You no longer hold the lock")
    alice.evaluate("window.scrollTo(0, 0)")
    shot(alice, "lock-lost")

    # Carol saves the phone Alice also changed; Alice gets the record back, restores her
    # input (three-way: only her fields) and is shown the one field both changed.
    carol.fill("#id_phone", "+49 30 1234000")
    carol.click("input[name=_save]")
    expect(alice.locator("#locks-banner")).to_contain_text("The record is free now")
    shot(alice, "free-again")
    alice.get_by_role("button", name="Edit again").click()
    alice.get_by_role("button", name="Restore my unsaved changes").click()
    expect(alice.locator(".locks-status")).to_contain_text("choose what to keep")
    shot(alice, "restored")
    alice.click("input[name=_save]")
    expect(alice.get_by_role("button", name="Save merged version")).to_be_visible()
    shot(alice, "merge")
    alice.get_by_role("button", name="Save merged version").click()
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")

    # Stop editing: the lock goes, the input stays.
    other = site.scalar("SELECT id FROM records_customer ORDER BY id LIMIT 1 OFFSET 5")
    alice.goto(f"{base}/admin/records/customer/{other}/change/")
    live(alice)
    alice.fill("#id_notes", "Half a thought")
    alice.get_by_role("button", name="Stop editing").click()
    expect(alice.locator("#locks-banner")).to_contain_text("You stopped editing.")
    shot(alice, "stopped")

    carol.goto(url)
    carol.goto(f"{base}/admin/locks/editlock/")
    expect(carol.locator("#result_list")).to_be_visible()
    shot(carol, "console")


if __name__ == "__main__":
    main()
