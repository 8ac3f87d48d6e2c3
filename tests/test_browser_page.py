"""The page is a faithful picture of the lock (issue 8): each banner state and the moves
between them, as two or three people see them in Chromium; accessibility (axe-core, keyboard
only); no layout shift; inline rows and reconnects."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.test_browser_live import wait_live
from tests.test_browser_locking import pick_customer, shot, url

pytestmark = pytest.mark.browser

BANNER_BUTTONS = "#locks-banner .locks-actions button, #locks-notice button"


def order_url(live_site, offset: int) -> tuple[int, str]:
    pk = live_site.scalar(
        "SELECT o.id FROM records_order o WHERE (SELECT count(*) FROM records_orderline l"
        " WHERE l.order_id = o.id) >= 2 ORDER BY o.id LIMIT 1 OFFSET ?",
        offset,
    )
    return pk, f"{live_site.url}/admin/records/order/{pk}/change/"


def open_live(address: str, *pages) -> None:
    """Open `address` in each page and wait until its websocket is subscribed."""
    for page in pages:
        page.goto(address)
        wait_live(page)


def buttons(page) -> list[str]:
    """The banner's visible buttons, by name."""
    return [b.inner_text().strip() for b in page.locator(BANNER_BUTTONS).all() if b.is_visible()]


def focused(page) -> str:
    return page.evaluate(
        "document.activeElement ? (document.activeElement.textContent || '').trim()"
        " + '|' + (document.activeElement.closest('#locks-banner, #locks-notice') ? 'banner' : '')"
        " : ''"
    )


def serious_violations(page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


# ---------------------------------------------------------------- states and transitions


def test_free_record_taken_by_carol_turns_bobs_edit_now_into_ask(login, live_site):
    """viewing-held -> viewing-free -> viewing-held (someone else): Bob's buttons follow."""
    pk, _ = pick_customer(live_site, 30)
    alice, bob, carol = login("alice"), login("bob"), login("carol")
    alice.goto(url(live_site, pk))
    open_live(url(live_site, pk), bob)
    assert buttons(bob) == ["Ask to edit", "Edit when free"]
    alice.click("input[name=_save]")  # saves and leaves
    expect(bob.locator("#locks-banner")).to_contain_text("The record is free now", timeout=1000)
    expect(bob.get_by_role("button", name="Edit now")).to_be_visible()
    carol.goto(url(live_site, pk))
    expect(carol.locator("#locks-banner")).to_contain_text("You are editing this record")
    expect(bob.get_by_role("button", name="Ask to edit")).to_be_visible(timeout=1000)
    expect(bob.get_by_role("button", name="Edit now")).to_have_count(0)
    expect(bob.locator("#locks-banner")).to_contain_text("Carol")
    assert buttons(bob) == ["Ask to edit", "Edit when free"]


def test_handover_request_is_seen_anywhere_and_handing_over_leaves_nothing_dead(login, live_site):
    """editing (+request) -> viewing-free/lost for Alice; title, floating notice, focus."""
    _, page_url = order_url(live_site, 0)
    alice, bob = login("alice"), login("bob")
    open_live(page_url, alice)
    title = alice.title()
    open_live(page_url, bob)
    alice.locator("#orderline_set-group, .inline-group").last.scroll_into_view_if_needed()
    alice.locator("#id_notes").focus()
    alice.keyboard.type("typing at the bottom")
    bob.get_by_role("button", name="Ask to edit").click()
    expect(bob.locator("#locks-banner .locks-status")).to_contain_text("Your request was sent.")
    expect(alice).to_have_title(re.compile("Bob Brown asks to edit"), timeout=1000)
    notice = alice.locator("#locks-notice")
    expect(notice).to_be_in_viewport()  # wherever she has scrolled
    expect(notice.locator(".locks-handover-note")).to_have_text(
        "Bob Brown asks to edit this record."
    )
    assert alice.evaluate("document.activeElement.id") == "id_notes"  # focus not stolen
    assert [b.inner_text() for b in notice.locator("button").all()] == [
        "Hand over now",
        "Save and hand over",
        "Decline",
    ]
    shot(alice, "handover-request")
    notice.get_by_role("button", name="Hand over now").click()
    expect(notice).to_be_hidden(timeout=1000)
    expect(alice).to_have_title(title)
    banner = alice.locator("#locks-banner")
    expect(banner).to_contain_text("You handed this record over.")
    expect(banner).not_to_contain_text("asks to edit")
    expect(alice.locator("#id_notes")).to_be_disabled()
    assert buttons(alice) == ["Edit again"]
    assert focused(alice) == "Edit again|banner"  # focus moved to the next control
    # Bob opens it: Alice's only buttons are the ones valid while someone else holds it.
    bob.reload()
    expect(bob.locator("#locks-banner")).to_contain_text("You are editing this record")
    expect(banner).to_contain_text("Bob Brown is editing since", timeout=1000)
    assert buttons(alice) == ["Ask to edit", "Edit when free"]


def test_take_over_with_reason_names_carol_and_disables_every_control(login, live_site):
    """editing -> lost: who and why within a second; the form is read-only, widgets too."""
    _, page_url = order_url(live_site, 1)
    alice, carol = login("alice"), login("carol")
    open_live(page_url, alice)
    alice.fill("#id_notes", "typed before the take-over")
    form = alice.locator("#content-main > form")
    assert form.locator(".related-widget-wrapper-link:visible, .add-row a:visible").count() > 0
    carol.goto(page_url)
    carol.fill("#locks-banner input[name=reason]", "Customer on the phone")
    carol.get_by_role("button", name="Take over").click()
    expect(carol.locator("#locks-banner")).to_contain_text("You are editing this record")
    banner = alice.locator("#locks-banner")
    expect(banner).to_contain_text(
        re.compile("Carol .* took it over: “Customer on the phone”"), timeout=1000
    )
    expect(banner).to_contain_text("Your unsaved changes are kept in this tab.")
    enabled = form.locator(
        "input:not([type=hidden]):enabled, select:enabled, textarea:enabled, button:enabled"
    )
    expect(enabled).to_have_count(0)
    expect(form.locator(".related-widget-wrapper-link:visible, .add-row a:visible")).to_have_count(
        0
    )
    expect(form.locator("input[name$='-DELETE']:enabled")).to_have_count(0)
    expect(alice.locator("#id_notes")).to_have_value("typed before the take-over")
    assert focused(alice).endswith("|banner") or focused(alice) == "|"
    shot(alice, "displaced-holder")


def test_stop_editing_keeps_input_and_frees_the_record(login, live_site):
    """editing -> viewing-free (kept) -> editing again with the input restored."""
    pk, _ = pick_customer(live_site, 31)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    open_live(url(live_site, pk), bob)
    alice.fill("#id_notes", "half-written note")
    alice.get_by_role("button", name="Stop editing").click()
    expect(alice.locator("#locks-banner")).to_contain_text("You stopped editing.")
    expect(alice.locator("#id_notes")).to_have_value("half-written note")
    expect(alice.locator("#id_notes")).to_be_disabled()
    assert focused(alice) == "Edit again|banner"
    expect(bob.locator("#locks-banner")).to_contain_text("The record is free now", timeout=3000)
    assert (
        live_site.scalar(
            "SELECT count(*) FROM locks_lockevent WHERE kind = 'released' AND object_pk = ?",
            str(pk),
        )
        == 1
    )
    alice.get_by_role("button", name="Edit again").click()
    alice.get_by_role("button", name="Restore my unsaved changes").click()
    expect(alice.locator("#id_notes")).to_have_value("half-written note")
    expect(alice.locator("#id_notes")).to_be_editable()


def test_offline_holder_is_told_the_lock_may_have_lapsed_and_resyncs(login, live_site):
    """editing -> offline-unsure -> (back online) lost or editing, never a stale "editing"."""
    pk, _ = pick_customer(live_site, 32)
    alice = login("alice")
    open_live(url(live_site, pk), alice)
    alice.fill("#id_notes", "typed while offline")
    network = {"up": False}

    def socket(ws) -> None:  # no websocket while the network is down (new ones too)
        if network["up"]:
            ws.connect_to_server()
        else:
            ws.close()

    alice.route_web_socket(re.compile(r".*/ws/locks/.*"), socket)
    alice.route("**/lock/**", lambda route: route.abort("internetdisconnected"))
    alice.evaluate("window.locksPage.live.drop()")  # the open socket goes with the network
    timeout = int(live_site.env()["LOCKS_TIMEOUT"])
    banner = alice.locator("#locks-banner")
    expect(banner).to_contain_text("Your lock may have lapsed", timeout=(timeout + 4) * 1000)
    expect(alice.locator("#id_notes")).to_have_value("typed while offline")
    shot(alice, "offline")
    network["up"] = True
    alice.unroute("**/lock/**")
    interval = int(live_site.env()["LOCKS_HEARTBEAT_INTERVAL"])
    expect(banner).not_to_contain_text("may have lapsed", timeout=(interval + 6) * 1000)
    # Whatever the server says now is what the banner says.
    expect(banner).to_contain_text(re.compile("You are editing this record|no longer hold"))


def test_restore_with_a_field_both_changed_leads_to_the_merge_screen(login, live_site):
    pk, _ = pick_customer(live_site, 33)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    alice.fill("#id_phone", "+1 555 0100")
    alice.get_by_role("button", name="Stop editing").click()
    expect(alice.locator("#locks-banner")).to_contain_text("You stopped editing.")
    bob.goto(url(live_site, pk))
    bob.fill("#id_phone", "+1 555 0199")
    bob.click("input[name=_save]")
    expect(bob.locator(".messagelist")).to_contain_text("was changed successfully")
    alice.get_by_role("button", name="Edit again").click()
    alice.get_by_role("button", name="Restore my unsaved changes").click()
    expect(alice.locator("#locks-banner .locks-status")).to_contain_text("choose what to keep")
    alice.click("input[name=_save]")
    expect(alice.get_by_role("button", name="Save merged version")).to_be_visible()
    expect(alice.locator("tr[data-field=phone]")).to_contain_text("+1 555 0199")
    shot(alice, "merge-screen")


def test_decline_tells_the_requester(login, live_site):
    pk, _ = pick_customer(live_site, 34)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    if not alice.locator("#locks-banner").get_attribute("data-decline-url"):
        pytest.skip("the server has no decline endpoint yet (page8srv)")
    wait_live(alice)
    open_live(url(live_site, pk), bob)
    bob.get_by_role("button", name="Ask to edit").click()
    notice = alice.locator("#locks-notice")
    expect(notice).to_be_visible(timeout=1000)
    notice.locator("input[name=reason]").fill("Almost done, 5 minutes")
    notice.get_by_role("button", name="Decline").click()
    expect(notice).to_be_hidden()
    expect(alice.locator("#locks-banner")).to_contain_text("You are editing this record")
    expect(bob.locator("#locks-banner .locks-status")).to_contain_text(
        "Alice Archer declined your request: “Almost done, 5 minutes”", timeout=1000
    )
    assert buttons(bob) == ["Ask to edit", "Edit when free"]


JSON_TRUE = '"unsaved":true'


def test_viewers_see_that_the_holder_has_unsaved_changes(login, live_site):
    pk, _ = pick_customer(live_site, 35)
    alice, bob = login("alice"), login("bob")
    open_live(url(live_site, pk), alice)
    open_live(url(live_site, pk), bob)
    if "unsaved" not in bob.evaluate("window.locksPage.state.lock"):
        pytest.skip("the server does not send the unsaved flag yet (page8srv)")
    alice.evaluate(
        "(() => { const s = window.locksPage.live.socket; const send = s.send.bind(s);"
        " window.__sent = []; s.send = (m) => { window.__sent.push(m); send(m); }; })()"
    )
    alice.fill("#id_notes", "a")
    expect(bob.locator("#locks-banner")).to_contain_text(
        "Alice Archer has unsaved changes", timeout=1000
    )
    alice.locator("#id_notes").press_sequentially("bcdefghij")  # keystrokes send nothing
    beats = alice.evaluate("window.__sent.filter((m) => JSON.parse(m).type === 'heartbeat')")
    interval = int(live_site.env()["LOCKS_HEARTBEAT_INTERVAL"])
    assert len(beats) <= 2 + 10 // interval  # the flip, and the regular beats at most
    assert any(JSON_TRUE in beat for beat in beats)
    alice.fill("#id_notes", "")
    expect(bob.locator("#locks-banner")).not_to_contain_text("has unsaved changes", timeout=1000)


# ---------------------------------------------------------------- rendering details


LAYOUT_SHIFTS = """
window.__shift = 0;
window.__what = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    // Vertical moves only: the admin's own sidebar script may slide the page sideways.
    const down = e.sources.some((s) => s.previousRect.y !== s.currentRect.y);
    if (e.hadRecentInput || !down) { continue; }
    window.__shift += e.value;
    window.__what.push(e.sources.map((s) => s.node && (s.node.id || s.node.className ||
      s.node.nodeName) + ":" + s.previousRect.y + "->" + s.currentRect.y).join(";"));
  }
}).observe({type: "layout-shift", buffered: true});
"""


def test_no_layout_shift_after_load(login, live_site):
    pk, _ = pick_customer(live_site, 36)
    alice, bob = login("alice"), login("bob")
    alice.goto(url(live_site, pk))
    bob.add_init_script(LAYOUT_SHIFTS)
    open_live(url(live_site, pk), bob)
    expect(bob.locator(".locks-presence")).to_contain_text("Also viewing: Alice Archer")
    expect(bob.locator(".locks-activity")).to_contain_text("active")
    assert bob.evaluate("window.__shift") == 0, bob.evaluate("window.__what")


def test_inline_rows_are_updated_added_and_removed_in_place(login, live_site):
    """The viewer's read-only inline table follows an `inlines` payload (SPEC)."""
    pk, page_url = order_url(live_site, 2)
    alice, bob = login("alice"), login("bob")
    alice.goto(page_url)
    bob.goto(page_url)
    rows = live_site.query(
        "SELECT id, product, quantity, unit_price FROM records_orderline WHERE order_id = ?"
        " ORDER BY id",
        pk,
    )
    first, second = rows[0], rows[1]
    prefix = bob.evaluate("document.querySelector('.inline-group').id.replace(/-group$/, '')")
    payload = {
        "prefix": prefix,
        "model": "records.orderline",
        "fields": ["product", "quantity", "unit_price"],
        "rows": [
            {
                "pk": str(first[0]),
                "values": {"product": first[1], "quantity": "7", "unit_price": str(first[3])},
            },
            {
                "pk": "999999",
                "values": {"product": "Brand new", "quantity": "1", "unit_price": "2.00"},
            },
        ],
    }
    bob.evaluate(
        "(inlines) => import('/static/locks/values.js').then((m) => m.applyInlines(inlines))",
        [payload],
    )
    group = bob.locator(f"#{prefix}-group")
    expect(group.locator("tbody tr.has_original")).to_have_count(2)
    expect(group.locator(f"input[name$='-id'][value='{second[0]}']")).to_have_count(0)
    changed = group.locator("td.field-quantity.locks-changed")
    expect(changed).to_have_text("7")
    expect(group.locator("tr.locks-live-row td.field-product")).to_have_text("Brand new")


def test_reconnect_waits_at_most_five_seconds_with_jitter(login, live_site):
    alice = login("alice")
    alice.goto(f"{live_site.url}/admin/")
    delays = alice.evaluate(
        "import('/static/locks/transport.js').then((m) => { const out = [];"
        " for (let n = 1; n <= 12; n++) for (let i = 0; i < 200; i++)"
        " out.push(m.backoff(n, m.RECONNECT_CAP)); return out; })"
    )
    assert max(delays) <= 5000
    assert min(delays) >= 250
    assert all(500 <= d <= 1000 for d in delays[:200])  # the first try within a second
    assert len({round(d) for d in delays[-200:]}) > 50  # jittered, not in lock-step


# ---------------------------------------------------------------- accessibility


def test_axe_finds_no_serious_violations_in_any_banner_state(login, live_site):
    pk, _ = pick_customer(live_site, 37)
    alice, bob, carol = login("alice"), login("bob"), login("carol")
    open_live(url(live_site, pk), alice)
    assert serious_violations(alice) == [], "holder"
    open_live(url(live_site, pk), bob)
    assert serious_violations(bob) == [], "viewer"
    bob.get_by_role("button", name="Ask to edit").click()
    expect(alice.locator("#locks-notice")).to_be_visible(timeout=1000)
    assert serious_violations(alice) == [], "holder asked to hand over"
    carol.goto(url(live_site, pk))
    assert serious_violations(carol) == [], "manager"
    carol.get_by_role("button", name="Take over").click()
    expect(alice.locator("#locks-banner")).to_contain_text("You no longer hold", timeout=1000)
    expect(carol.locator("#locks-banner")).to_contain_text("You are editing this record")
    assert serious_violations(alice) == [], "displaced holder"
    carol.goto(f"{live_site.url}/admin/")
    expect(alice.locator("#locks-banner")).to_contain_text("The record is free now")
    assert serious_violations(alice) == [], "free again"


def tab_to(page, name: str, limit: int = 80) -> None:
    """Press Tab until the control called `name` has focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        label = page.evaluate(
            "(() => { const e = document.activeElement; return e ? (e.innerText ||"
            " e.value || e.getAttribute('aria-label') || '').trim() : ''; })()"
        )
        if label == name:
            return
    raise AssertionError(f"{name!r} not reached with {limit} Tabs")


def test_keyboard_only_take_over_ask_hand_over_and_edit_when_free(login, live_site):
    pk, _ = pick_customer(live_site, 38)
    alice, bob, carol = login("alice"), login("bob"), login("carol")
    open_live(url(live_site, pk), alice)
    # Carol takes over with the keyboard.
    carol.goto(url(live_site, pk))
    tab_to(carol, "Take over")
    carol.keyboard.press("Enter")
    expect(carol.locator("#locks-banner")).to_contain_text("You are editing this record")
    expect(alice.locator("#locks-banner")).to_contain_text("You no longer hold", timeout=1000)
    # Bob asks, and waits for the record.
    open_live(url(live_site, pk), bob)
    tab_to(bob, "Ask to edit")
    bob.keyboard.press("Enter")
    expect(bob.locator("#locks-banner .locks-status")).to_contain_text("Your request was sent.")
    assert focused(bob) == "Edit when free|banner"  # focus moved on, to the next control
    bob.keyboard.press("Enter")
    expect(bob.locator("#locks-banner")).to_contain_text("You will get the record when it is free")
    # Carol hands over with the keyboard: Bob gets the record.
    expect(carol.locator("#locks-notice")).to_be_visible(timeout=1000)
    tab_to(carol, "Hand over now")
    carol.keyboard.press("Enter")
    expect(bob.locator("#locks-banner")).to_contain_text(
        "You are editing this record", timeout=5000
    )
    expect(bob.locator("#id_name")).to_be_editable()


def test_without_javascript_the_holder_is_told_how_long_the_lock_lasts(browser, live_site):
    pk, _ = pick_customer(live_site, 39)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_site.url}/admin/login/")
        page.fill("#id_username", "alice")
        page.fill("#id_password", "demo")
        page.click("input[type=submit]")
        page.goto(url(live_site, pk))
        timeout = live_site.env()["LOCKS_TIMEOUT"]
        expect(page.locator(".locks-noscript")).to_contain_text(
            f"it lasts {timeout} seconds from when the page loaded"
        )
        expect(page.locator(".locks-noscript")).to_be_visible()
    finally:
        context.close()


def test_a_saved_inline_row_changes_in_the_viewers_table(login, live_site):
    """End to end: record.saved carries `inlines`; Bob's read-only order lines follow."""
    pytest.importorskip("locks.inlines", reason="the server sends no inline rows yet (live10)")
    _, page_url = order_url(live_site, 3)
    alice, bob = login("alice"), login("bob")
    alice.goto(page_url)
    open_live(page_url, bob)
    group = alice.locator(".inline-group").first
    prefix = group.get_attribute("id").removesuffix("-group")
    alice.fill(f"#id_{prefix}-0-quantity", "42")
    alice.click("input[name=_continue]")
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")
    cell = bob.locator(f"#{prefix}-group tbody tr.has_original").first.locator("td.field-quantity")
    expect(cell).to_have_text("42", timeout=1000)
    expect(cell).to_have_class(re.compile("locks-changed"))


MACHINE = """
async ([start, steps]) => {
  const S = await import('/static/locks/lockstate.js');
  const B = await import('/static/locks/banner.js');
  const lock = (holder) => holder ? {held: true, holder_id: holder.id, holder: holder.name,
    fence: holder.fence || 1, since: '2026-01-01T10:02:00Z', idle_seconds: 4,
    handover_requested_by: holder.asker || null} : {held: false};
  let state = S.initial({...start, lock: lock(start.holder), now: 0});
  const seen = [];
  for (const step of steps) {
    state = S.next(state, {at: 0, ...step, lock: step.holder === undefined ? undefined
      : lock(step.holder)});
    const view = B.describe(state, 0);
    seen.push([state.name, view.buttons.map((b) => b.label).join(', '),
      view.notice ? view.notice.buttons.map((b) => b.label).join(', ') : '', view.sentence]);
  }
  return seen;
}
"""

ME = {"id": 1, "name": "Alice Archer", "fence": 1}
CAROL = {"id": 3, "name": "Carol Clark", "fence": 2}


@pytest.mark.parametrize(
    ("start", "steps", "expected"),
    [
        pytest.param(
            {"canEdit": True, "userId": 1, "fence": 1, "holder": ME},
            [
                {"kind": "offline", "seconds": 50},
                {"kind": "heartbeat", "ok": True, "holder": ME},
                {"kind": "offline", "seconds": 50},
                {"kind": "heartbeat", "ok": False, "holder": None},
                {"kind": "lock", "event": "lock.acquired", "holder": CAROL},
            ],
            [
                ("offline-unsure", ""),
                ("editing", "Stop editing"),
                ("offline-unsure", ""),
                ("viewing-free", "Edit again"),
                ("lost", "Ask to edit, Edit when free"),
            ],
            id="editing-offline-back-lapsed-lost",
        ),
        pytest.param(
            {"canEdit": True, "userId": 1, "fence": 1, "holder": ME},
            [
                {
                    "kind": "lock",
                    "event": "lock.handover_requested",
                    "holder": {**ME, "asker": "Bob Brown"},
                },
                {"kind": "released", "how": "handed_over"},
                {"kind": "ended"},
                {"kind": "lock", "event": "state", "holder": None},
                {"kind": "deleted"},
            ],
            [
                ("editing", "Stop editing"),
                ("viewing-free", "Edit again"),
                ("session-ended", ""),
                ("viewing-free", "Edit again"),
                ("deleted", ""),
            ],
            id="editing-handover-ended-deleted",
        ),
        pytest.param(
            {"userId": 2, "fence": 0, "holder": ME},
            [
                {"kind": "arm", "on": True},
                {"kind": "asked", "ok": True, "message": "sent"},
                {"kind": "lock", "event": "lock.released", "holder": None},
                {"kind": "lock", "event": "lock.acquired", "holder": CAROL},
                {"kind": "refused", "status": 403, "message": "You may not edit this record."},
            ],
            [
                ("viewing-held", "Ask to edit, Stop waiting"),
                ("viewing-held", "Stop waiting"),
                ("viewing-free", "Edit now"),
                ("viewing-held", "Ask to edit, Stop waiting"),  # someone was faster
                ("no-permission", ""),
            ],
            id="viewer-armed-asked-free-held-refused",
        ),
        pytest.param(
            {"userId": 1, "fence": 0, "heldInOtherTab": True, "holder": ME},
            [
                {"kind": "lock", "event": "lock.released", "holder": None},
                {"kind": "lock", "event": "lock.acquired", "holder": ME},
            ],
            [("viewing-free", "Edit now"), ("editing-in-other-tab", "Edit here instead")],
            id="other-tab-free-other-tab",
        ),
        pytest.param(
            {"userId": 3, "fence": 0, "manager": True, "holder": ME},
            [{"kind": "lock", "event": "lock.heartbeat", "holder": ME}],
            [("viewing-held", "Take over, Edit when free")],
            id="manager",
        ),
    ],
)
def test_every_state_has_only_the_buttons_valid_in_it(login, live_site, start, steps, expected):
    """The state machine and the banner, run in the page's own modules: each input leads to
    one state, and each state shows only its buttons."""
    page = login("bob")
    page.goto(f"{live_site.url}/admin/")
    seen = page.evaluate(MACHINE, [start, steps])
    assert [(name, labels) for name, labels, _, _ in seen] == expected
    for step, (_, _, notice, sentence) in zip(steps, seen, strict=True):
        asked = (step.get("holder") or {}).get("asker")
        # The handover notice appears exactly while someone asks, with its three answers.
        assert notice == ("Hand over now, Save and hand over, Decline" if asked else "")
        assert (f"{asked} asks to edit" in sentence) == bool(asked)
