"""Advisory mode in the browser (issue 12): Alice and Bob edit the same notice at once. Each
page names the other, live, with their unsaved changes (Alice holds the lock, Bob does not:
his page says so over the socket); nothing is read-only and there is no lock to take; when
Alice saves, Bob is told, keeps what he typed, and his save gets the merge screen.

The demo site has no advisory admin, so this module serves the test settings (with
tests/lockapp's `NoticeAdmin`, `lock_mode = "advisory"`) on a site of its own.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import logins
from tests.test_browser_live import wait_live
from tests.test_browser_locking import shot
from tests.test_browser_page import BANNER_BUTTONS, LAYOUT_SHIFTS

pytestmark = pytest.mark.browser

GRANT_NOTICES_AND_CREATE_ONE = """
from django.contrib.auth.models import Group, Permission
from tests.lockapp.models import Notice
notices = Permission.objects.filter(content_type__app_label="lockapp", codename__endswith="_notice")
for group in Group.objects.filter(name__in=["Editors", "Lock managers"]):
    group.permissions.add(*notices)
Notice.objects.create(title="Opening hours", body="9 to 5")
"""


@pytest.fixture(scope="module")
def advisory_site(tmp_path_factory, browser):
    """The test settings on a real ASGI server: the demo's users, allowed to edit notices."""
    from tests.live import LiveSite

    site = LiveSite(
        tmp_path_factory.mktemp("advisory"),
        extra_env={
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "LOCKS_TIMEOUT": "6",
            "LOCKS_HEARTBEAT_INTERVAL": "2",
        },
    )
    site.manage("migrate", "--run-syncdb", "--noinput", "-v0")  # tests/lockapp has no migrations
    site.manage("demo")
    site.manage("shell", "-c", GRANT_NOTICES_AND_CREATE_ONE)
    site.url = site.start_server()
    yield site
    site.stop()


@pytest.fixture
def login(browser, advisory_site):
    with logins(browser, advisory_site.url) as _login:
        yield _login


def visible_buttons(page) -> list[str]:
    return [b.inner_text() for b in page.locator(BANNER_BUTTONS).all() if b.is_visible()]


def test_alice_and_bob_edit_at_once_and_bob_is_told_what_happens(login, advisory_site):
    pk = advisory_site.scalar("SELECT id FROM lockapp_notice WHERE title = 'Opening hours'")
    address = f"{advisory_site.url}/admin/lockapp/notice/{pk}/change/"
    alice, bob = login("alice"), login("bob")
    alice.goto(address)
    wait_live(alice)
    alices = alice.locator("#locks-banner")
    expect(alices).to_contain_text("Others may edit it too")
    assert visible_buttons(alice) == []  # no "Stop editing": nothing to give up

    # Bob opens it while Alice edits: told who, never read-only, nothing to take or ask for.
    bob.add_init_script(LAYOUT_SHIFTS)
    bob.goto(address)
    wait_live(bob)
    banner = bob.locator("#locks-banner")
    expect(banner).to_contain_text("Alice Archer is editing this record too")
    expect(banner).to_contain_text("You may edit it as well")
    expect(banner).not_to_contain_text("read-only")
    assert visible_buttons(bob) == []
    expect(bob.locator("#id_title")).to_be_editable()
    expect(bob.locator("input[name=_save]")).to_be_enabled()
    assert bob.evaluate("window.__shift") == 0, bob.evaluate("window.__what")
    # Bob's page says it is editing (he holds no lock): Alice's page names him.
    expect(alices.locator(".locks-sentence")).to_have_text("Bob Brown is editing this record too.")
    expect(alices).not_to_contain_text("Others may edit it too")
    bob.fill("#id_body", "9 to 6, Bob")
    # He types: Alice sees that he has unsaved changes, within 2 s.
    expect(alices).to_contain_text(
        "Bob Brown is editing this record too and has unsaved changes", timeout=2000
    )
    expect(alice.locator(".locks-presence")).not_to_contain_text("Bob")  # named once, above

    # Alice types: Bob sees that she has unsaved changes (one heartbeat away).
    alice.fill("#id_title", "Opening hours (summer)")
    expect(banner).to_contain_text(
        "Alice Archer is editing this record too and has unsaved changes", timeout=2000
    )
    shot(bob, "advisory-alongside")

    # Alice saves and stays: Bob is told, and what he typed (and did not type) stays as it was.
    alice.click("input[name=_continue]")
    expect(alice.locator(".messagelist")).to_contain_text("was changed successfully")
    status = banner.locator(".locks-status")
    expect(status).to_contain_text("Someone saved this record after you opened it", timeout=2000)
    expect(status).to_contain_text("you choose, field by field, what to keep")
    expect(bob.locator("#id_body")).to_have_value("9 to 6, Bob")
    expect(bob.locator("#id_title")).to_have_value("Opening hours")
    expect(bob.locator("#id_body")).to_be_editable()
    # Her reloaded page has nothing unsaved: its next heartbeat says so.
    expect(banner).not_to_contain_text("has unsaved changes", timeout=5000)
    expect(banner).to_contain_text("Alice Archer is editing this record too")
    shot(bob, "advisory-saved")
    # Her reloaded page is told at once that Bob is still at it.
    expect(alices).to_contain_text(
        "Bob Brown is editing this record too and has unsaved changes", timeout=2000
    )

    # Alice leaves: Bob's banner no longer names her; the saved notice stays true, and stays.
    alice.goto(f"{advisory_site.url}/admin/")
    expect(banner).to_contain_text("Nobody else is editing this record.", timeout=2000)
    expect(banner.locator(".locks-sentence")).not_to_contain_text("Alice")
    expect(status).to_contain_text("Someone saved this record after you opened it")
    assert visible_buttons(bob) == []
    expect(bob.locator("#id_body")).to_be_editable()

    # Carol opens the record after Alice left (the lock is hers now): she is told that Bob is
    # editing, with unsaved changes, never that nobody else is.
    carol = login("carol")
    carol.goto(address)
    wait_live(carol)
    carols = carol.locator("#locks-banner")
    expect(carols).to_contain_text(
        "Bob Brown is editing this record too and has unsaved changes", timeout=2000
    )
    expect(carols).not_to_contain_text("Nobody else is editing")
    expect(banner).to_contain_text("Carol Clark is editing this record too", timeout=2000)
    shot(carol, "advisory-presence")

    # Bob saves: the version guard shows the merge screen, his input and hers side by side.
    bob.click("input[name=_save]")
    expect(bob.get_by_role("button", name="Save merged version")).to_be_visible()
    shot(bob, "advisory-merge")
    merge = bob.locator("table.locks-merge")
    expect(merge).to_contain_text("9 to 6, Bob")
    expect(merge).to_contain_text("Opening hours (summer)")
    stored = advisory_site.query("SELECT title, body FROM lockapp_notice WHERE id = ?", pk)
    assert stored == [("Opening hours (summer)", "9 to 5")]  # Bob's stale save wrote nothing


# ---------------------------------------------------------------- the state machine, in the page

ADVISORY_MACHINE = """
async ([start, steps]) => {
  const S = await import('/static/locks/lockstate.js');
  const B = await import('/static/locks/banner.js');
  const lock = (holder) => holder ? {held: true, holder_id: holder.id, holder: holder.name,
    fence: holder.fence, since: '2026-01-01T10:02:00Z', idle_seconds: 4,
    unsaved: Boolean(holder.unsaved)} : {held: false};
  let state = S.initial({...start, advisory: true, lock: lock(start.holder), now: 0});
  const seen = [];
  for (const step of steps) {
    state = S.next(state, {at: 0, ...step, lock: step.holder === undefined ? undefined
      : lock(step.holder)});
    const view = B.describe(state, 0);
    seen.push({name: state.name, tone: view.tone, buttons: view.buttons.length,
      text: `${view.sentence} ${view.activity}`.trim(), note: view.note || '', alert: view.alert});
  }
  return seen;
}
"""

ALICE = {"id": 1, "name": "Alice Archer", "fence": 1}
CAROL = {"id": 3, "name": "Carol Clark", "fence": 2}
SAVED = "Someone saved this record after you opened it."


def run_machine(page, start: dict, steps: list[dict]) -> list[dict]:
    return page.evaluate(ADVISORY_MACHINE, [start, steps])


def test_a_holder_who_loses_the_advisory_lock_keeps_editing(login, advisory_site):
    """Expired, released or taken by someone else: the page is never read-only or "lost",
    and offers nothing to take."""
    page = login("alice")
    page.goto(f"{advisory_site.url}/admin/")
    seen = run_machine(
        page,
        {"canEdit": True, "userId": 1, "fence": 1, "holder": ALICE},
        [
            {"kind": "lock", "event": "lock.unsaved", "holder": ALICE},
            {"kind": "offline", "seconds": 50},
            {"kind": "heartbeat", "ok": False, "holder": None},
            {"kind": "lock", "event": "lock.acquired", "holder": CAROL},
            {"kind": "lock", "event": "lock.unsaved", "holder": {**CAROL, "unsaved": True}},
            {"kind": "lock", "event": "lock.acquired", "holder": {**ALICE, "fence": 3}},
        ],
    )
    assert [(s["name"], s["tone"]) for s in seen] == [
        ("editing", "editing"),
        ("offline-unsure", "lost"),
        ("editing-alone", "free"),
        ("editing-alongside", "shared"),
        ("editing-alongside", "shared"),
        ("editing-in-other-tab", "shared"),
    ]
    assert all(s["buttons"] == 0 for s in seen)
    texts = [s["text"] for s in seen]
    assert texts[0].startswith("You are editing this record. Others may edit it too")
    assert "others may not see that you are editing" in texts[1]
    assert texts[2] == "Nobody else is editing this record."
    assert texts[3].startswith("Carol Clark is editing this record too (active 4 s ago).")
    assert texts[4].startswith("Carol Clark is editing this record too and has unsaved changes")
    assert texts[5] == "You are also editing this record in another tab."
    assert not any("read-only" in t or "no longer hold" in t for t in texts)


def test_the_saved_notice_outlasts_holder_changes_and_a_session_end(login, advisory_site):
    page = login("bob")
    page.goto(f"{advisory_site.url}/admin/")
    seen = run_machine(
        page,
        {"userId": 2, "fence": 0, "holder": ALICE},
        [
            {"kind": "saved"},
            {"kind": "lock", "event": "lock.released", "holder": None},
            {"kind": "ended"},
            {"kind": "lock", "event": "state", "holder": CAROL},
        ],
    )
    assert [s["name"] for s in seen] == [
        "editing-alongside",
        "editing-alone",
        "session-ended",
        "editing-alongside",
    ]
    for step in (seen[0], seen[1], seen[3]):
        assert step["note"].startswith(SAVED) and step["alert"]
    assert "Log in again" in seen[2]["text"]


BOB = {"id": 2, "name": "Bob Brown"}


def test_editors_without_the_lock_are_named_with_the_holder(login, advisory_site):
    """Presence names editors who hold nothing: with the holder, once per user, never this
    user; and when the socket closes, the lock's holder is all the page knows."""
    page = login("carol")
    page.goto(f"{advisory_site.url}/admin/")
    carol = {**CAROL, "unsaved": False}
    seen = run_machine(
        page,
        {"userId": 3, "fence": 0, "holder": None},
        [
            {"kind": "presence", "editors": [{**BOB, "unsaved": True}]},
            {"kind": "lock", "event": "lock.acquired", "holder": {**ALICE, "unsaved": True}},
            {"kind": "presence", "editors": [{**ALICE, "unsaved": False}, BOB, carol]},
            {"kind": "presence", "editors": []},
            {"kind": "lock", "event": "lock.released", "holder": None},
        ],
    )
    assert [s["name"] for s in seen] == [
        "editing-alongside",
        "editing-alongside",
        "editing-alongside",
        "editing-alongside",
        "editing-alone",
    ]
    texts = [s["text"] for s in seen]
    assert texts[0] == (
        "Bob Brown is editing this record too and has unsaved changes. You may edit it as well: "
        "if they save first, you choose what to keep when you save."
    )
    assert texts[1].startswith(
        "Alice Archer (unsaved changes) and Bob Brown (unsaved changes) are editing this record "
        "too. You may edit it as well"
    )
    # Alice's page says nothing unsaved, her lock does: unsaved. Carol (this user) is left out.
    assert texts[2].startswith("Alice Archer (unsaved changes) and Bob Brown are editing")
    assert texts[3].startswith("Alice Archer is editing this record too and has unsaved changes")
    assert "(active 4 s ago)" in texts[3]
    assert texts[4] == "Nobody else is editing this record."
    assert all(s["buttons"] == 0 for s in seen)


def test_the_holder_is_told_who_else_edits(login, advisory_site):
    page = login("alice")
    page.goto(f"{advisory_site.url}/admin/")
    seen = run_machine(
        page,
        {"canEdit": True, "userId": 1, "fence": 1, "holder": ALICE},
        [
            {"kind": "presence", "editors": [{**BOB, "unsaved": False}]},
            {"kind": "presence", "editors": [{**BOB, "unsaved": True}, CAROL]},
            {"kind": "presence", "editors": []},
        ],
    )
    assert [s["name"] for s in seen] == ["editing"] * 3
    assert seen[0]["text"] == (
        "Bob Brown is editing this record too. You are editing it as well: if they save first, "
        "you choose what to keep when you save."
    )
    assert seen[1]["text"].startswith(
        "Bob Brown (unsaved changes) and Carol Clark are editing this record too."
    )
    assert seen[2]["text"].startswith("You are editing this record. Others may edit it too")
