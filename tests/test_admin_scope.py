"""Lock scope: a ticket's lines, edited in their own admin (`lock_parent = "ticket"`), are
covered by the ticket's lock on every write path."""

from __future__ import annotations

import re

import pytest
from django.core import checks
from django.urls import reverse

from locks import services
from tests.forms import posted
from tests.lockapp.models import Ticket, TicketLine
from tests.test_admin_locking import change_url, client_for, hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def line(contact):
    ticket = Ticket.objects.create(contact=contact, reference="ORD-1")
    return TicketLine.objects.create(ticket=ticket, product="Lamp", quantity=1, unit_price="5.00")


def line_post(line, **changes) -> dict:
    data = {
        "ticket": line.ticket_id,
        "product": line.product,
        "quantity": "1",
        "unit_price": "5.00",
        "_locks_lease": "forged",
        "_save": "1",
    }
    return {**data, **changes}


def test_line_is_read_only_while_someone_else_edits_its_ticket(line, alice, bob):
    client_for(alice).get(change_url(line.ticket))
    bob_client = client_for(bob)
    page = bob_client.get(change_url(line))
    assert "Alice is editing since" in page.text
    assert 'name="_save"' not in page.text and 'id="id_quantity"' not in page.text
    assert "deletelink" not in page.text

    forged = bob_client.post(change_url(line), line_post(line, quantity="99"))
    assert forged.status_code == 200
    assert "Alice is editing this record now" in forged.text
    line.refresh_from_db()
    assert line.quantity == 1


def test_editing_a_line_holds_the_ticket_and_bumps_its_version(line, alice, bob):
    bob_client = client_for(bob)
    page = bob_client.get(change_url(line))
    assert "You are editing this record" in page.text
    # Bob's line page holds the ticket: Alice's ticket page is read-only meanwhile
    alice_page = client_for(alice).get(change_url(line.ticket))
    assert "Bob is editing since" in alice_page.text
    assert 'name="lines-0-quantity"' not in alice_page.text
    # The page keeps the ticket's lock alive through the ticket's own endpoints
    beat = re.search(r'data-heartbeat-url="([^"]+)"', page.text).group(1)
    assert beat == reverse("admin:lockapp_ticket_lock_heartbeat", args=[line.ticket_id])
    reply = bob_client.post(beat, {"lease": hidden(page, "_locks_lease")}).json()
    assert reply["ok"] and reply["can_edit"]

    saved = bob_client.post(change_url(line), posted(page, "ticketline_form", quantity="4"))
    assert saved.status_code == 302, saved.text[:2000]
    line.refresh_from_db()
    line.ticket.refresh_from_db()
    assert (line.quantity, line.ticket.version) == (4, 2)
    assert services.get_state(line.ticket).holder_id is None  # "Save" released the ticket


def test_ticket_form_opened_before_a_line_edit_gets_the_merge_screen(line, alice, bob, fake_clock):
    from tests.test_admin_locking import ticket_data

    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(line.ticket))
    fake_clock.advance(60)  # Alice's lock lapses; Bob changes the line on its own page
    bob_page = bob_client.get(change_url(line))
    bob_client.post(change_url(line), posted(bob_page, "ticketline_form", quantity="5"))

    merge = alice_client.post(
        change_url(line.ticket),
        ticket_data(alice_page, line.ticket, line.ticket.contact, line, quantity="1", notes="n"),
    )
    assert "Save merged version" in merge.text
    line.refresh_from_db()
    assert line.quantity == 5


def test_delete_actions_and_list_edits_of_a_line_need_the_ticket(line, alice, bob):
    client_for(alice).get(change_url(line.ticket))
    bob_client = client_for(bob)

    bob_client.post(reverse("admin:lockapp_ticketline_delete", args=[line.pk]), {"post": "yes"})
    changelist = reverse("admin:lockapp_ticketline_changelist")
    action = bob_client.post(
        changelist,
        {"action": "delete_selected", "_selected_action": [line.pk], "post": "yes"},
        follow=True,
    )
    assert "Nothing was done: these records are being edited: ORD-1 (Alice)" in action.text

    listing = bob_client.get(changelist)
    assert "locks-badge-held" in listing.text  # the row shows its ticket's holder
    edit = bob_client.post(
        changelist,
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-MIN_NUM_FORMS": "0",
            "form-MAX_NUM_FORMS": "1000",
            "form-0-id": line.pk,
            "form-0-quantity": "42",
            "_save": "Save",
        },
    )
    assert "Alice is editing this record; not saved." in edit.text
    line.refresh_from_db()
    assert line.quantity == 1


def test_no_line_is_added_to_or_moved_into_a_ticket_someone_else_edits(line, alice, bob):
    other = Ticket.objects.create(contact=line.ticket.contact, reference="ORD-2")
    client_for(alice).get(change_url(line.ticket))
    bob_client = client_for(bob)
    add = bob_client.post(
        reverse("admin:lockapp_ticketline_add"),
        {"ticket": line.ticket_id, "product": "Desk", "quantity": "1", "unit_price": "9.00"},
    )
    assert add.status_code == 200
    assert "Alice is editing ORD-1, so nothing can be saved into it now." in add.text
    assert not TicketLine.objects.filter(product="Desk").exists()

    # A line of another ticket (free: Bob takes it) cannot be moved into Alice's ticket either
    mine = TicketLine.objects.create(ticket=other, product="Chair", unit_price="3.00")
    page = bob_client.get(change_url(mine))
    moved = bob_client.post(
        change_url(mine), posted(page, "ticketline_form", ticket=str(line.ticket_id))
    )
    assert "Alice is editing ORD-1" in moved.text
    mine.refresh_from_db()
    assert mine.ticket_id == other.pk


def test_lock_parent_that_names_no_locked_parent_is_a_check_error():
    from django.contrib import admin

    from locks.admin import LockedAdminMixin
    from locks.admin.checks import check_lock_scope
    from tests.lockapp.models import Memo

    class Wrong(LockedAdminMixin, admin.ModelAdmin):
        lock_parent = "title"

    class Unlocked(LockedAdminMixin, admin.ModelAdmin):
        lock_parent = "ticket"

    site = admin.AdminSite(name="scope-check")
    site.register(Ticket)  # a plain ModelAdmin: nobody could hold the ticket's lock
    [wrong] = check_lock_scope(Wrong(Memo, site))
    [unlocked] = check_lock_scope(Unlocked(TicketLine, site))
    assert (wrong.id, unlocked.id) == ("locks.E040", "locks.E041")
    assert isinstance(wrong, checks.Error)
