"""Live updates as people see them: saves, expiry, take-over and the polling fallback."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.test_browser_locking import pick_customer, shot, url

pytestmark = pytest.mark.browser


def wait_live(page) -> None:
    """The page's websocket is open (so the next events arrive without polling)."""
    page.wait_for_function(
        "window.locksPage && window.locksPage.live && window.locksPage.live.subscribed"
    )


def test_bob_sees_alices_save_in_place_within_a_second(login, live_site):
    pk, _ = pick_customer(live_site, 20)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    bob.goto(url(live_site, pk))
    wait_live(bob)
    expect(bob.locator("#locks-banner .locks-presence")).to_contain_text(
        "Also viewing: Alice Archer"
    )
    alice.fill("#id_phone", "+49 30 9998877")
    alice.click("input[name=_continue]")
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")
    phone = bob.locator(".form-row.field-phone .readonly")
    expect(phone).to_have_text("+49 30 9998877", timeout=1000)
    expect(phone).to_have_class(re.compile("locks-changed"))
    shot(bob, "live-update")


def test_closed_browser_frees_the_record_within_timeout(login, live_site):
    pk, _ = pick_customer(live_site, 21)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    bob.goto(url(live_site, pk))
    wait_live(bob)
    expect(bob.locator("#locks-banner")).to_contain_text("Alice Archer is editing")
    alice.context.set_offline(True)  # network gone: no heartbeat, no goodbye
    died = time.monotonic()
    alice.close(run_before_unload=False)
    timeout = int(live_site.env()["LOCKS_TIMEOUT"])
    expect(bob.locator("#locks-banner")).to_contain_text(
        "The record is free now", timeout=(timeout + 2) * 1000
    )
    assert time.monotonic() - died <= timeout + 2
    assert (
        live_site.scalar(
            "SELECT count(*) FROM locks_lockevent WHERE kind = 'expired' AND object_pk = ?", str(pk)
        )
        == 1
    )


def test_take_over_turns_holder_read_only_within_a_second(login, live_site):
    pk, _ = pick_customer(live_site, 22)
    alice, carol = login("alice"), login("carol")
    alice.goto(url(live_site, pk))
    wait_live(alice)
    alice.fill("#id_notes", "typed before the take-over")
    carol.goto(url(live_site, pk))
    carol.click("button.locks-take-over")
    expect(carol.locator("#id_name")).to_be_editable()
    expect(alice.locator("#locks-banner")).to_contain_text(
        "You no longer hold the lock", timeout=1000
    )
    expect(alice.locator("#id_notes")).to_have_value("typed before the take-over")
    expect(alice.locator("#id_notes")).not_to_be_editable()


def test_handover_request_reaches_the_holder_at_once(login, live_site):
    pk, _ = pick_customer(live_site, 23)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    wait_live(alice)
    bob.goto(url(live_site, pk))
    wait_live(bob)
    bob.get_by_role("button", name="Ask to edit").click()
    expect(bob.locator("#locks-banner .locks-status")).to_contain_text("Your request was sent.")
    bob.get_by_role("button", name="Edit when free").click()
    expect(alice.locator(".locks-handover-note")).to_contain_text(
        "Bob Brown asks to edit", timeout=1000
    )
    alice.get_by_role("button", name="Hand over now").click()
    # "Edit when free" takes the lock for Bob as soon as Alice lets go.
    expect(bob.locator("#locks-banner")).to_contain_text(
        "You are editing this record", timeout=5000
    )
    expect(bob.locator("#id_name")).to_be_editable()


def test_polling_fallback_when_websocket_is_blocked(login, live_site):
    pk, _ = pick_customer(live_site, 24)
    alice, bob = login("alice"), login("bob")
    bob.route_web_socket(re.compile(r".*/ws/locks/.*"), lambda ws: ws.close())
    alice.goto(url(live_site, pk))
    bob.goto(url(live_site, pk))
    expect(bob.locator("#locks-banner .locks-status")).to_contain_text("Live updates paused")
    alice.fill("#id_phone", "+49 30 1212121")
    alice.click("input[name=_save]")
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")
    interval = int(live_site.env()["LOCKS_HEARTBEAT_INTERVAL"])
    expect(bob.locator(".form-row.field-phone .readonly")).to_have_text(
        "+49 30 1212121", timeout=(interval + 3) * 1000
    )
    expect(bob.locator("#locks-banner")).to_contain_text(
        "The record is free now", timeout=(interval + 3) * 1000
    )


def test_change_list_badges_update_live(login, live_site):
    pk, _ = pick_customer(live_site, 25)
    alice, bob = login("alice"), login("bob")
    bob.goto(f"{live_site.url}/admin/records/customer/?id__exact={pk}")
    bob.wait_for_function("window.locksList && window.locksList.live.subscribed")
    badge = bob.locator(f"[data-locks-pk='{pk}']")
    expect(badge).to_have_text("")
    alice.goto(url(live_site, pk))
    expect(badge).to_have_text("✎ Alice Archer", timeout=1000)
    phone = bob.locator(f"tr:has([data-locks-pk='{pk}']) td.field-phone input")
    loaded = phone.input_value()
    alice.fill("#id_email", "live-update@example.com")
    alice.fill("#id_phone", "+49 30 3434343")
    alice.click("input[name=_save]")
    expect(badge).to_have_text("", timeout=1000)
    expect(bob.locator(f"tr:has([data-locks-pk='{pk}']) td.field-email")).to_have_text(
        "live-update@example.com", timeout=1000
    )
    # An editable cell (list_editable) is an input Bob may be typing in: never overwritten.
    assert phone.input_value() == loaded


def test_a_catch_up_answered_late_does_not_undo_a_newer_event(login, live_site):
    """Bob's list catches up over HTTP after subscribing; alice takes the record while that
    request is out. The reply (free) is older than the live event (alice): the badge keeps
    alice instead of turning blank until the next digest."""
    pk, _ = pick_customer(live_site, 28)
    alice, bob = login("alice"), login("bob")
    held = []

    def hold_the_first(route) -> None:  # answered below; later catch-ups (a digest) go on
        if held:
            route.continue_()
        else:
            held.append(route)

    bob.route("**/lock/states/**", hold_the_first)
    bob.goto(f"{live_site.url}/admin/records/customer/?id__exact={pk}")
    bob.wait_for_function("window.locksList && window.locksList.live.subscribed")
    deadline = time.monotonic() + 5
    while not held:  # the catch-up request reaches the route from the browser's side
        assert time.monotonic() < deadline, "the list made no catch-up request"
        bob.wait_for_timeout(20)
    stale = held[0].fetch()  # read now, while the record is free
    badge = bob.locator(f"[data-locks-pk='{pk}']")
    alice.goto(url(live_site, pk))
    expect(badge).to_have_text("✎ Alice Archer", timeout=1000)  # the live event
    held[0].fulfill(response=stale)
    bob.evaluate("() => window.locksList.resyncing")  # the catch-ups have used their replies
    assert badge.text_content() == "✎ Alice Archer"


def test_idle_open_pages_make_no_http_requests(login, live_site):
    """With the websocket open, the holder's heartbeats travel over it and a viewer waits for
    events: neither page sends HTTP requests while nobody does anything."""
    pk, _ = pick_customer(live_site, 26)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    bob.goto(url(live_site, pk))
    wait_live(alice)
    wait_live(bob)
    requests: list[str] = []
    for page in (alice, bob):
        page.on("request", lambda request: requests.append(request.url))
    interval = int(live_site.env()["LOCKS_HEARTBEAT_INTERVAL"])
    query = "SELECT heartbeat_at FROM locks_editlock WHERE object_pk = ?"
    seen = [live_site.scalar(query, str(pk))]
    deadline = time.monotonic() + interval * 4
    while len(seen) < 3 and time.monotonic() < deadline:  # wait for two more heartbeats
        alice.wait_for_timeout(100)  # lets the page's event loop run while we poll the database
        beat = live_site.scalar(query, str(pk))
        if beat != seen[-1]:
            seen.append(beat)
    assert len(seen) == 3, "the holder's heartbeats stopped"
    assert requests == []


def test_reload_keeps_the_lock_and_closing_frees_it(login, live_site):
    pk, _ = pick_customer(live_site, 27)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    fence = alice.locator("#locks-banner").get_attribute("data-fence")
    bob.goto(url(live_site, pk))
    wait_live(bob)
    bob.get_by_role("button", name="Edit when free").click()
    alice.reload()
    expect(alice.locator("#locks-banner")).to_contain_text("You are editing this record")
    assert alice.locator("#locks-banner").get_attribute("data-fence") == fence  # the same holding
    expect(alice.locator("#id_name")).to_be_editable()
    expect(bob.locator("#locks-banner")).to_contain_text("Alice Archer is editing")
    alice.close()  # no link followed: the lock is kept for the reclaim grace, then freed
    expect(bob.locator("#locks-banner")).to_contain_text(
        "You are editing this record", timeout=15_000
    )


def test_logout_elsewhere_ends_the_pages_socket_and_keeps_the_input(login, live_site):
    pk, _ = pick_customer(live_site, 29)
    alice = login("alice")
    alice.goto(url(live_site, pk))
    wait_live(alice)
    alice.fill("#id_notes", "typed before logging out elsewhere")
    other_tab = alice.context.new_page()  # same browser, same session cookie
    other_tab.goto(f"{live_site.url}/admin/")
    other_tab.click("#logout-form button")
    expect(other_tab.locator("body")).to_contain_text("Logged out")
    status = alice.locator("#locks-banner .locks-sentence")
    expect(status).to_contain_text("Your session has ended", timeout=1000)
    expect(alice.locator("#id_notes")).to_have_value("typed before logging out elsewhere")
    shot(alice, "session-ended")
