"""`list_editable` keeps the version guard in a browser (issue 10): bob's change list was
loaded before alice saved a customer's status from hers; his post changes that customer's
phone and another's. Alice's status stays, bob is told which row was not saved, and his
other row is saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.test_browser_locking import pick_customer, shot

pytestmark = pytest.mark.browser


def row(page, name: str):
    return page.locator("#result_list tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )


def test_stale_list_post_never_overwrites_a_status_saved_meanwhile(login, live_site):
    (first, first_name), (second, second_name) = (
        pick_customer(live_site, 40),
        pick_customer(live_site, 41),
    )
    live_site.query("UPDATE records_customer SET status = 'active' WHERE id = ?", first)
    changelist = f"{live_site.url}/admin/records/customer/?o=1"
    alice, bob = login("alice"), login("bob")
    bob.goto(changelist)
    alice.goto(changelist)

    row(alice, first_name).locator("select[name$='-status']").select_option("inactive")
    alice.click("input[name=_save]")
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")

    row(bob, first_name).locator("input[name$='-phone']").fill("+49 30 4040404")
    row(bob, second_name).locator("input[name$='-phone']").fill("+49 30 4141414")
    bob.click("input[name=_save]")
    expect(bob.locator(".messagelist")).to_contain_text(
        f"“{first_name}” was not saved: someone else saved it after you loaded this list."
    )
    expect(bob.locator(".messagelist")).to_contain_text("Phone: “+49 30 4040404”")
    shot(bob, "list-editable-stale-row")
    assert (
        live_site.query("SELECT status, phone FROM records_customer WHERE id = ?", first)[0][0]
        == "inactive"
    )
    assert live_site.scalar("SELECT phone FROM records_customer WHERE id = ?", second) == (
        "+49 30 4141414"
    )
