"""A user logs in with a real browser, edits a customer and the change is stored."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_alice_edits_a_customer(login, live_site):
    customer_id, _name = live_site.query(
        "SELECT id, name FROM records_customer ORDER BY id LIMIT 1"
    )[0]
    page = login("alice")
    page.goto(f"{live_site.url}/admin/records/customer/")
    assert page.locator("#result_list tbody tr").count() >= 50
    page.goto(f"{live_site.url}/admin/records/customer/{customer_id}/change/")
    page.fill("#id_phone", "+49 30 5550100")
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_site.url}/admin/records/customer/")
    assert "was changed successfully" in page.locator(".messagelist").inner_text()
    assert (
        live_site.scalar("SELECT phone FROM records_customer WHERE id = ?", customer_id)
        == "+49 30 5550100"
    )
