"""Several people on the same record, each in their own browser (Playwright + Chromium)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

ARTIFACTS = Path(
    os.environ.get("LOCKS_TEST_ARTIFACTS", Path(__file__).parent.parent / "test-artifacts")
)


def shot(page, name: str) -> None:
    """Keep what the user saw (for a person to look at; not committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def pick_customer(live_site, offset: int) -> tuple[int, str]:
    return live_site.query(
        "SELECT id, name FROM records_customer ORDER BY id LIMIT 1 OFFSET ?", offset
    )[0]


def url(live_site, pk: int) -> str:
    return f"{live_site.url}/admin/records/customer/{pk}/change/"


def test_alice_edits_while_bob_reads_and_bobs_forged_post_is_refused(login, live_site):
    pk, name = pick_customer(live_site, 10)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    expect(alice.locator("#locks-banner")).to_contain_text("You are editing this record")
    bob.goto(url(live_site, pk))
    banner = bob.locator("#locks-banner")
    expect(banner).to_have_attribute("role", "status")
    expect(banner).to_contain_text(
        re.compile(r"Alice Archer is editing since \d\d:\d\d \(active .* ago\)")
    )
    expect(bob.locator("#id_name")).to_have_count(0)
    expect(bob.locator("input[name=_save]")).to_have_count(0)
    expect(bob.locator("div.readonly").first).to_have_text(name)
    shot(bob, "readonly-view")

    # Bob forges a POST with his session and CSRF token: refused, nothing stored.
    token = bob.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    response = bob.request.post(
        url(live_site, pk),
        form={
            "csrfmiddlewaretoken": token,
            "name": "Forged",
            "email": "forged@example.com",
            "status": "active",
            "_locks_lease": "forged",
            "_locks_version": "1",
            "_save": "Save",
        },
        headers={"Referer": url(live_site, pk)},
    )
    assert response.status == 200
    assert "your changes were not saved" in response.text()
    assert live_site.scalar("SELECT name FROM records_customer WHERE id = ?", pk) == name

    # Alice saves; her lock is released and Bob's page tells him the record is free.
    alice.fill("#id_notes", "Called on Monday")
    alice.click("input[name=_save]")
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")
    assert (
        live_site.scalar("SELECT notes FROM records_customer WHERE id = ?", pk)
        == "Called on Monday"
    )
    expect(banner).to_contain_text("The record is free now", timeout=8000)


def test_carol_takes_over_alice_keeps_and_restores_her_input(login, live_site):
    pk, _ = pick_customer(live_site, 11)
    alice, carol = login("alice"), login("carol")
    alice.goto(url(live_site, pk))
    alice.fill("#id_notes", "Alice's unsaved thoughts")
    alice.fill("#id_phone", "+49 30 2220000")
    carol.goto(url(live_site, pk))
    expect(carol.locator("#locks-banner")).to_contain_text("Alice Archer is editing since")
    shot(carol, "take-over-offer")
    carol.fill("input[name=reason]", "Customer on the phone")
    carol.click("button.locks-take-over")
    expect(carol.locator("#locks-banner")).to_contain_text("You are editing this record")
    expect(carol.locator("#id_name")).to_be_editable()

    banner = alice.locator("#locks-banner")
    expect(banner).to_contain_text("You no longer hold the lock", timeout=8000)
    expect(alice.locator("#id_notes")).to_have_value("Alice's unsaved thoughts")
    expect(alice.locator("#id_notes")).not_to_be_editable()
    shot(alice, "lock-lost")

    carol.goto(f"{live_site.url}/admin/")  # leaving the page releases her lock
    expect(banner).to_contain_text("The record is free now", timeout=8000)
    alice.get_by_role("button", name="Edit again").click()
    expect(alice.locator("#locks-banner")).to_contain_text("You are editing this record")
    restore = alice.get_by_role("button", name="Restore my unsaved changes")
    expect(restore).to_be_visible()
    restore.click()
    expect(alice.locator("#id_notes")).to_have_value("Alice's unsaved thoughts")
    alice.click("input[name=_save]")
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")
    notes, phone = live_site.query("SELECT notes, phone FROM records_customer WHERE id = ?", pk)[0]
    assert (notes, phone) == ("Alice's unsaved thoughts", "+49 30 2220000")
    assert (
        live_site.scalar(
            "SELECT reason FROM locks_lockevent WHERE kind = 'taken_over' AND object_pk = ?",
            str(pk),
        )
        == "Customer on the phone"
    )


def test_stale_version_save_shows_merge_screen(login, live_site):
    """Alice's lock is released by a manager while she types; Bob saves another field; Alice
    gets the lock back, restores her input and saves: the merge screen keeps both changes."""
    pk, _ = pick_customer(live_site, 12)
    alice, bob, carol = login("alice"), login("bob"), login("carol")
    alice.goto(url(live_site, pk))
    alice.fill("#id_name", "Merged Name Ltd")

    carol.goto(f"{live_site.url}/admin/locks/editlock/?q={pk}")
    carol.locator(
        f"#result_list tr:has(a[href$='/customer/{pk}/change/']) input.action-select"
    ).check()
    carol.select_option("select[name=action]", "release_selected")
    carol.click("button[name=index]")
    expect(carol.locator(".messagelist")).to_contain_text("Released 1 lock.")
    # Alice is told at once (the release is announced): lost, and the record free again.
    expect(alice.locator("#locks-banner")).to_contain_text(
        re.compile("You no longer hold the lock|Edit again to restore your unsaved changes"),
        timeout=8000,
    )

    bob.goto(url(live_site, pk))
    expect(bob.locator("#locks-banner")).to_contain_text("You are editing this record")
    bob.fill("#id_phone", "+33 1 23456789")
    bob.click("input[name=_save]")
    expect(bob.locator(".messagelist")).to_contain_text("was changed successfully")

    expect(alice.locator("#locks-banner")).to_contain_text("The record is free now", timeout=8000)
    alice.get_by_role("button", name="Edit again").click()
    alice.get_by_role("button", name="Restore my unsaved changes").click()
    expect(alice.locator("#id_name")).to_have_value("Merged Name Ltd")
    alice.click("input[name=_save]")
    expect(alice.get_by_role("button", name="Save merged version")).to_be_visible()
    expect(alice.locator("tr[data-field=name] input[value=yours]")).to_be_checked()
    expect(alice.locator("tr[data-field=phone] input[value=theirs]")).to_be_checked()
    shot(alice, "merge-screen")
    alice.get_by_role("button", name="Save merged version").click()
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")
    name, phone, version = live_site.query(
        "SELECT name, phone, version FROM records_customer WHERE id = ?", pk
    )[0]
    assert (name, phone, version) == ("Merged Name Ltd", "+33 1 23456789", 3)
    assert (
        live_site.scalar(
            "SELECT count(*) FROM locks_lockevent WHERE kind = 'force_released' AND object_pk = ?",
            str(pk),
        )
        == 1
    )


def test_one_user_two_tabs(login, live_site):
    pk, _ = pick_customer(live_site, 13)
    first = login("bob")
    first.goto(url(live_site, pk))
    second = first.context.new_page()
    second.goto(url(live_site, pk))
    expect(second.locator("#locks-banner")).to_contain_text("You are editing this in another tab.")
    second.get_by_role("button", name="Edit here instead").click()
    expect(second.locator("#locks-banner")).to_contain_text("You are editing this record")
    expect(first.locator("#locks-banner")).to_contain_text(
        "You no longer hold the lock", timeout=8000
    )
