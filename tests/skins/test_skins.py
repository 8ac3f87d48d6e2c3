"""The two-user scenario under the popular admin skins (unfold, jazzmin, grappelli).

Each skin runs the demo site on its own daphne server, sharing the session's live database
(the skins add no tables). Alice opens a customer and may edit it; Bob opens it read-only
and is told Alice is editing; Alice saves and Bob's page shows the new value in place. The
lock's hidden inputs must not show as empty labelled rows. The same for an order's lines:
Bob's read-only lines offer no inputs, and a line Alice saves changes on his page. Screenshots
go to test-artifacts/skin-<name>-{alice,bob,bob-saved,bob-lines}.png.
"""

from __future__ import annotations

import importlib.util
import re

import pytest
from playwright.sync_api import expect

from locks.admin.forms import TOKEN_FIELDS
from tests.conftest import logins
from tests.live import LiveSite
from tests.test_browser_locking import shot

pytestmark = pytest.mark.browser

# skin (its app module) -> the demo customer its test uses, apart from other browser tests
SKINS = {"unfold": 40, "jazzmin": 41, "grappelli": 42}


@pytest.fixture(params=list(SKINS), ids=list(SKINS))
def skin_site(request, live_site):
    """The demo under one skin, on its own server over the session's live database."""
    skin = request.param
    if importlib.util.find_spec(skin) is None:
        pytest.skip(f"{skin} is not installed: pip install -e '.[skins]'")
    site = LiveSite(
        live_site.workdir,
        extra_env={**live_site.extra_env, "DJANGO_SETTINGS_MODULE": f"tests.skins.settings_{skin}"},
    )
    site.skin = skin
    site.url = site.start_server()
    yield site
    site.stop()


@pytest.fixture
def skin_login(browser, skin_site):
    with logins(browser, skin_site.url) as login:
        yield login


def expect_tokens_hidden(page) -> None:
    """The lock's inputs are in the form, and nothing of them shows."""
    expect(page.locator("form input[type=hidden][name=_locks_lease]")).to_have_count(1)
    for name in TOKEN_FIELDS:
        expect(page.locator(f"label[for=id_{name}]")).to_be_hidden()
        for row in page.locator(f".field-{name}").all():
            expect(row).to_be_hidden()


def test_two_users_under_skin(skin_site, skin_login):
    pk, name = skin_site.query(
        "SELECT id, name FROM records_customer ORDER BY id LIMIT 1 OFFSET ?", SKINS[skin_site.skin]
    )[0]
    change = f"{skin_site.url}/admin/records/customer/{pk}/change/"
    alice, bob = skin_login("alice"), skin_login("bob")

    alice.goto(change)
    expect(alice.locator("#locks-banner")).to_contain_text("You are editing this record")
    expect(alice.locator("#locks-banner")).to_be_visible()
    expect(alice.locator("#id_name")).to_be_editable()
    expect_tokens_hidden(alice)

    bob.goto(change)
    expect(bob.locator("#locks-banner")).to_contain_text(
        re.compile(r"Alice Archer is editing since \d\d:\d\d")
    )
    expect(bob.locator("#id_name")).to_have_count(0)
    expect(bob.locator("[name=_save]")).to_have_count(0)
    expect(bob.get_by_text(name, exact=True).first).to_be_visible()
    shot(alice, f"skin-{skin_site.skin}-alice")
    shot(bob, f"skin-{skin_site.skin}-bob")

    notes = f"Called about the {skin_site.skin} skin"
    alice.fill("#id_notes", notes)
    alice.click("[name=_save]")
    alice.wait_for_url(f"{skin_site.url}/admin/records/customer/")
    assert skin_site.scalar("SELECT notes FROM records_customer WHERE id = ?", pk) == notes
    expect(bob.locator("#locks-banner")).to_contain_text("The record is free now", timeout=8000)
    # In place, highlighted, inside the skin's own read-only box (no stray markup around it).
    expect(bob.get_by_text(notes, exact=True)).to_be_visible()
    expect(bob.locator(".locks-changed")).to_have_text(notes)
    shot(bob, f"skin-{skin_site.skin}-bob-saved")


def test_order_lines_under_skin(skin_site, skin_login):
    """Bob's read-only order lines offer no inputs, and a line Alice saves changes in place."""
    pk = skin_site.query(
        "SELECT id FROM records_order ORDER BY id LIMIT 1 OFFSET ?", SKINS[skin_site.skin]
    )[0][0]
    change = f"{skin_site.url}/admin/records/order/{pk}/change/"
    alice, bob = skin_login("alice"), skin_login("bob")
    alice.goto(change)
    expect(alice.locator("#locks-banner")).to_contain_text("You are editing this record")
    bob.goto(change)
    expect(bob.locator("#locks-banner")).to_contain_text("Alice Archer is editing")
    expect(bob.locator("input[name^=lines-]:visible")).to_have_count(0)

    quantity = alice.locator("input[name=lines-0-quantity]")
    if not quantity.is_visible():  # jazzmin shows inlines on a tab of their own
        alice.get_by_role("tab", name="Order lines").click()
    quantity.fill("42")
    alice.click("[name=_continue]")
    line = skin_site.query(
        "SELECT quantity FROM records_orderline WHERE order_id = ? ORDER BY id LIMIT 1", pk
    )
    assert line == [(42,)]
    shown = bob.locator("[data-locks-field=lines-0-quantity]")
    expect(shown).to_have_text("42")
    expect(bob.locator(".locks-changed")).to_have_text("42")
    shot(bob, f"skin-{skin_site.skin}-bob-lines")
