"""The admin's write paths: the holder edits, everyone else reads, the server refuses the rest."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from locks import services
from locks.models import EditLock, LockEvent
from tests.lockapp.models import Contact, Ticket, TicketLine

pytestmark = pytest.mark.django_db


def change_url(obj) -> str:
    return reverse(f"admin:lockapp_{obj._meta.model_name}_change", args=[obj.pk])


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def hidden(page, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}"(?: value="([^"]*)")?', page.text)
    assert match, f"no hidden input {name}"
    return match.group(1) or ""  # Django leaves out an empty value


def form_data(page, **changes) -> dict:
    data = {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "",
        "status": "active",
        "notes": "",
        "_locks_lease": hidden(page, "_locks_lease"),
        "_locks_version": hidden(page, "_locks_version"),
        "_locks_base": hidden(page, "_locks_base"),
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_opener_edits_others_read_only_with_banner(contact, alice, bob):
    alice_page = client_for(alice).get(change_url(contact))
    assert 'name="_save"' in alice_page.text
    assert 'id="id_name"' in alice_page.text
    assert "You are editing this record" in alice_page.text

    bob_page = client_for(bob).get(change_url(contact))
    assert bob_page.status_code == 200
    assert 'role="status"' in bob_page.text
    assert "Alice is editing since" in bob_page.text
    assert 'id="id_name"' not in bob_page.text  # rendered read-only by the server
    assert 'name="_save"' not in bob_page.text
    assert "deletelink" not in bob_page.text
    assert (
        '<div class="readonly"><span data-locks-field="name">Ada Lovelace</span></div>'
        in bob_page.text
    )
    assert "Ask to edit" in bob_page.text
    assert "Take over" not in bob_page.text


def test_saving_stores_bumps_version_and_releases(contact, alice, bob):
    client = client_for(alice)
    page = client.get(change_url(contact))
    response = client.post(change_url(contact), form_data(page, phone="+49 30 1111111"))
    assert response.status_code == 302
    contact.refresh_from_db()
    assert (contact.phone, contact.version) == ("+49 30 1111111", 2)
    assert services.get_state(contact).holder_id is None  # "Save" releases
    assert services.acquire(contact, bob).ok


def test_save_and_continue_keeps_the_lock(contact, alice, bob):
    client = client_for(alice)
    page = client.get(change_url(contact))
    lease = hidden(page, "_locks_lease")
    response = client.post(change_url(contact), form_data(page, notes="n1", _continue="1"))
    assert response.status_code == 302
    again = client.get(response["Location"])
    assert hidden(again, "_locks_lease") == lease
    assert hidden(again, "_locks_version") == "2"
    assert not services.acquire(contact, bob).ok


def test_forged_post_is_refused_and_input_shown_back(contact, alice, bob):
    client_for(alice).get(change_url(contact))
    bob_client = client_for(bob)
    bob_page = bob_client.get(change_url(contact))
    data = form_data(
        bob_page, name="Hacked by Bob", _locks_lease="forged-token", _locks_version="1"
    )
    response = bob_client.post(change_url(contact), data)
    assert response.status_code == 200
    assert "Alice is editing this record now, so your changes were not saved" in response.text
    assert 'value="Hacked by Bob"' in response.text  # their input, shown back
    contact.refresh_from_db()
    assert (contact.name, contact.version) == ("Ada Lovelace", 1)


def test_post_with_no_lease_at_all_is_refused(contact, alice):
    client = client_for(alice)
    response = client.post(
        change_url(contact),
        {"name": "X", "email": "ada@example.com", "status": "active", "_locks_version": "1"},
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.name == "Ada Lovelace"


def test_lapsed_lease_refused_then_fresh_lease_lets_save(contact, alice, fake_clock):
    client = client_for(alice)
    page = client.get(change_url(contact))
    fake_clock.advance(120)
    response = client.post(change_url(contact), form_data(page, name="Late"))
    assert response.status_code == 200
    assert "Your lock had lapsed" in response.text
    contact.refresh_from_db()
    assert contact.name == "Ada Lovelace"
    response = client.post(change_url(contact), form_data(response, name="Late"))
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.name == "Late"


def test_stale_version_shows_merge_screen_and_merged_save_is_stored(
    contact, alice, bob, fake_clock
):
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(contact))
    fake_clock.advance(60)  # Alice is away; her lock expires; Bob saves
    bob_page = bob_client.get(change_url(contact))
    bob_client.post(change_url(contact), form_data(bob_page, phone="+1 555 0100", notes="from bob"))
    contact.refresh_from_db()
    assert contact.version == 2

    # Her lease lapsed (she gets a fresh one) and the version moved on: the merge screen.
    merge = alice_client.post(change_url(contact), form_data(alice_page, name="Ada King"))
    assert merge.status_code == 200
    assert "Your lock had lapsed" in merge.text
    assert "Save merged version" in merge.text
    assert "Saved by someone else" in merge.text
    # Alice changed the name; Bob changed phone and notes: defaults keep both sides' changes.
    rows = dict(re.findall(r'name="_locks_choice_(\w+)" value="(\w+)" checked', merge.text))
    assert rows == {"name": "yours", "phone": "theirs", "notes": "theirs"}
    contact.refresh_from_db()
    assert contact.name == "Ada Lovelace"

    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', merge.text))
    data.update({f"_locks_choice_{k}": v for k, v in rows.items()})
    data["_continue"] = "1"
    saved = alice_client.post(change_url(contact), data)
    assert saved.status_code == 302, saved.text[:2000]
    contact.refresh_from_db()
    assert (contact.name, contact.phone, contact.notes, contact.version) == (
        "Ada King",
        "+1 555 0100",
        "from bob",
        3,
    )


def test_merge_is_checked_again(contact, alice):
    alice_client = client_for(alice)
    page = alice_client.get(change_url(contact))
    Contact.objects.filter(pk=contact.pk).update(version=2, notes="elsewhere")
    merge = alice_client.post(change_url(contact), form_data(page, name="Mine"))
    assert "Save merged version" in merge.text
    Contact.objects.filter(pk=contact.pk).update(version=3, notes="again")
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', merge.text))
    data["_continue"] = "1"
    again = alice_client.post(change_url(contact), data)
    assert again.status_code == 200 and "Save merged version" in again.text
    contact.refresh_from_db()
    assert (contact.name, contact.version) == ("Ada Lovelace", 3)


def test_inline_lines_cannot_be_changed_without_lease(contact, alice, bob):
    ticket = Ticket.objects.create(contact=contact, reference="ORD-7")
    line = TicketLine.objects.create(ticket=ticket, product="Lamp", quantity=1, unit_price="5.00")
    client_for(alice).get(change_url(ticket))
    bob_client = client_for(bob)
    page = bob_client.get(change_url(ticket))
    assert 'name="lines-0-quantity"' not in page.text  # inline read-only too
    response = bob_client.post(
        change_url(ticket),
        {
            "reference": "ORD-7",
            "contact": contact.pk,
            "status": "draft",
            "notes": "",
            "_locks_lease": "nope",
            "_locks_version": "1",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "1",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "lines-0-id": line.pk,
            "lines-0-ticket": ticket.pk,
            "lines-0-product": "Lamp",
            "lines-0-quantity": "99",
            "lines-0-unit_price": "5.00",
        },
    )
    assert response.status_code == 200
    line.refresh_from_db()
    assert line.quantity == 1


def test_read_only_values_are_named_for_the_page(contact, alice, bob):
    """Every read-only value carries the name its input would have, so the page can show a
    saved value in place whatever markup an admin skin puts around it."""
    ticket = Ticket.objects.create(contact=contact, reference="ORD-8", notes="Fragile")
    TicketLine.objects.create(ticket=ticket, product="Lamp", quantity=3, unit_price="5.00")
    alice_page = client_for(alice).get(change_url(ticket))
    assert "data-locks-field" not in alice_page.text  # the holder's inputs are left alone

    bob_page = client_for(bob).get(change_url(ticket))
    assert '<span data-locks-field="reference">ORD-8</span>' in bob_page.text
    assert '<span data-locks-field="notes">Fragile</span>' in bob_page.text
    # An inline row's value is named as its input, so it never clashes with the record's.
    assert '<p><span data-locks-field="lines-0-quantity">3</span></p>' in bob_page.text
    assert bob_page.text.count("data-locks-field=") == 4 + 3  # one per field, no more


def test_only_the_holder_gets_blank_rows_and_delete_boxes(contact, alice, bob):
    ticket = Ticket.objects.create(contact=contact, reference="ORD-9")
    TicketLine.objects.create(ticket=ticket, product="Lamp", quantity=1, unit_price="5.00")
    alice_page = client_for(alice).get(change_url(ticket))
    assert 'name="lines-1-product"' in alice_page.text  # the inline's extra row
    assert 'name="lines-0-DELETE"' in alice_page.text

    bob_page = client_for(bob).get(change_url(ticket))
    assert 'name="lines-1-product"' not in bob_page.text
    assert 'name="lines-0-DELETE"' not in bob_page.text


def test_save_as_new_needs_the_lease(contact, alice, bob, settings):
    from tests.lockapp.admin import ContactAdmin

    ContactAdmin.save_as = True
    try:
        client_for(alice).get(change_url(contact))
        bob_client = client_for(bob)
        page = bob_client.get(change_url(contact))
        data = form_data(page, email="copy@example.com", _saveasnew="1", _locks_lease="x")
        data.pop("_save")
        response = bob_client.post(change_url(contact), data)
        assert response.status_code == 200
        assert not Contact.objects.filter(email="copy@example.com").exists()
    finally:
        ContactAdmin.save_as = False


def test_delete_needs_the_lease(contact, alice, bob):
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_client.get(change_url(contact))
    delete_url = reverse("admin:lockapp_contact_delete", args=[contact.pk])
    response = bob_client.post(delete_url, {"post": "yes"})
    assert response.status_code == 302
    assert Contact.objects.filter(pk=contact.pk).exists()
    page = bob_client.get(delete_url, follow=True)
    assert "Alice is editing this record, so it was not deleted." in page.text


def test_holder_deletes_through_confirmation(contact, alice):
    client = client_for(alice)
    page = client.get(change_url(contact))
    lease = hidden(page, "_locks_lease")
    delete_url = reverse("admin:lockapp_contact_delete", args=[contact.pk])
    confirm = client.get(delete_url, {"_locks_lease": lease})
    assert confirm.status_code == 200
    response = client.post(f"{delete_url}?_locks_lease={lease}", {"post": "yes"})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert LockEvent.objects.filter(kind="released").count() == 1


def test_delete_without_lease_takes_one_through_redirect(contact, alice):
    client = client_for(alice)
    delete_url = reverse("admin:lockapp_contact_delete", args=[contact.pk])
    first = client.get(delete_url)
    assert first.status_code == 302 and "_locks_lease=" in first["Location"]
    assert client.get(first["Location"]).status_code == 200


def test_actions_skip_nothing_and_refuse_locked_records(contact, alice, bob):
    other = Contact.objects.create(name="Free Co", email="free@example.com")
    client_for(alice).get(change_url(contact))
    response = client_for(bob).post(
        reverse("admin:lockapp_contact_changelist"),
        {"action": "delete_selected", "_selected_action": [contact.pk, other.pk], "post": "yes"},
        follow=True,
    )
    assert (
        "Nothing was done: these records are being edited: Ada Lovelace (Alice)." in response.text
    )
    assert Contact.objects.count() == 2
    response = client_for(bob).post(
        reverse("admin:lockapp_contact_changelist"),
        {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"},
    )
    assert not Contact.objects.filter(pk=other.pk).exists()
    assert EditLock.objects.held().filter(object_pk=str(other.pk)).count() == 0


def test_list_editable_refuses_locked_rows(contact, alice, bob):
    from tests.lockapp.admin import ContactAdmin

    ContactAdmin.list_editable = ["status"]
    try:
        client_for(alice).get(change_url(contact))
        response = client_for(bob).post(
            reverse("admin:lockapp_contact_changelist"),
            {
                "form-TOTAL_FORMS": "1",
                "form-INITIAL_FORMS": "1",
                "form-MIN_NUM_FORMS": "0",
                "form-MAX_NUM_FORMS": "1000",
                "form-0-id": contact.pk,
                "form-0-status": "inactive",
                "_save": "Save",
            },
        )
        assert response.status_code == 200
        assert "Alice is editing this record; not saved." in response.text
        contact.refresh_from_db()
        assert contact.status == "active"
    finally:
        ContactAdmin.list_editable = []


def test_change_list_shows_who_edits(contact, alice, bob):
    client_for(alice).get(change_url(contact))
    page = client_for(bob).get(reverse("admin:lockapp_contact_changelist"))
    assert "locks-badge-held" in page.text
    assert "✎ Alice" in page.text


def test_add_view_takes_no_lock(alice):
    client_for(alice).get(reverse("admin:lockapp_contact_add"))
    assert EditLock.objects.count() == 0


def test_same_user_second_tab(contact, alice):
    client = client_for(alice)
    first = client.get(change_url(contact))
    second = client.get(change_url(contact))
    assert "You are editing this in another tab." in second.text
    assert "Edit here instead" in second.text
    moved = client.post(reverse("admin:lockapp_contact_lock_take_over", args=[contact.pk]))
    assert moved.status_code == 302
    third = client.get(change_url(contact))
    assert 'name="_save"' in third.text
    assert hidden(third, "_locks_lease") != hidden(first, "_locks_lease")


def test_manager_takes_over_with_reason(contact, alice, carol):
    alice_client = client_for(alice)
    page = alice_client.get(change_url(contact))
    carol_client = client_for(carol)
    view = carol_client.get(change_url(contact))
    assert "Take over" in view.text and "Ask to edit" not in view.text
    carol_client.post(
        reverse("admin:lockapp_contact_lock_take_over", args=[contact.pk]),
        {"reason": "Urgent fix"},
    )
    assert 'name="_save"' in carol_client.get(change_url(contact)).text
    beat = alice_client.post(
        reverse("admin:lockapp_contact_lock_heartbeat", args=[contact.pk]),
        {"lease": hidden(page, "_locks_lease"), "active": "1"},
    ).json()
    assert beat["ok"] is False
    assert beat["lock"]["holder"] == "Carol"
    assert LockEvent.objects.get(kind="taken_over").reason == "Urgent fix"


def test_editor_cannot_take_over(contact, alice, bob):
    client_for(alice).get(change_url(contact))
    response = client_for(bob).post(
        reverse("admin:lockapp_contact_lock_take_over", args=[contact.pk]),
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 403
    assert services.get_state(contact).holder_id == alice.pk


def test_ask_to_edit_reaches_holder(contact, alice, bob):
    alice_client = client_for(alice)
    page = alice_client.get(change_url(contact))
    client_for(bob).post(reverse("admin:lockapp_contact_lock_request", args=[contact.pk]))
    beat = alice_client.post(
        reverse("admin:lockapp_contact_lock_heartbeat", args=[contact.pk]),
        {"lease": hidden(page, "_locks_lease"), "active": "0"},
    ).json()
    assert beat["ok"] is True
    assert beat["lock"]["handover_requested_by"] == "Bob"


def test_endpoints_refuse_bad_input(contact, alice, db):
    from django.contrib.auth.models import User

    client = client_for(alice)
    unknown = client.post(
        reverse("admin:lockapp_contact_lock_heartbeat", args=[999999]), {"lease": "x"}
    )
    assert unknown.status_code == 404 and unknown.json()["ok"] is False
    assert (
        client.get(reverse("admin:lockapp_contact_lock_heartbeat", args=[contact.pk])).status_code
        == 405
    )
    viewer = User.objects.create_user("viewer", is_staff=True)
    denied = client_for(viewer).post(
        reverse("admin:lockapp_contact_lock_heartbeat", args=[contact.pk]), {"lease": "x"}
    )
    assert denied.status_code == 403
    csrf = Client(enforce_csrf_checks=True)
    csrf.force_login(alice)
    assert (
        csrf.post(reverse("admin:lockapp_contact_lock_release", args=[contact.pk])).status_code
        == 403
    )


def test_user_supplied_text_is_escaped(contact, bob, db):
    from tests.conftest import EDITOR, make_user

    evil = make_user("evil", *EDITOR)
    evil.first_name = "<i>x</i>"
    evil.save()
    client_for(evil).get(change_url(contact))
    page = client_for(bob).get(change_url(contact))
    assert "&lt;i&gt;x&lt;/i&gt; is editing since" in page.text
    assert "<i>x</i>" not in page.text


def test_console_is_for_managers_and_release_is_audited(contact, alice, bob, carol):
    client_for(alice).get(change_url(contact))
    console = reverse("admin:locks_editlock_changelist")
    assert client_for(bob).get(console).status_code == 403
    page = client_for(carol).get(console)
    assert page.status_code == 200
    assert "Ada Lovelace" in page.text and "Release selected locks" in page.text
    lock = EditLock.objects.get()
    response = client_for(carol).post(
        console, {"action": "release_selected", "_selected_action": [lock.pk]}, follow=True
    )
    assert "Released 1 lock." in response.text
    event = LockEvent.objects.get(kind="force_released")
    assert (event.actor, event.holder) == (carol, alice)
    assert "Ada Lovelace" in client_for(carol).get(reverse("admin:locks_lockevent_changelist")).text


def test_edit_when_free_never_takes_over_even_for_a_manager(contact, alice, carol):
    client_for(alice).get(change_url(contact))
    reply = (
        client_for(carol)
        .post(
            reverse("admin:lockapp_contact_lock_take_over", args=[contact.pk]),
            {"if_free": "1"},
            HTTP_ACCEPT="application/json",
        )
        .json()
    )
    assert reply["ok"] is False
    assert services.get_state(contact).holder_id == alice.pk


def test_save_racing_a_write_without_lock_shows_merge_screen(contact, alice, monkeypatch):
    """The version guard is the last word: a write that commits between the form's version
    check and the save (here: a script, which takes no lock) turns the save into a merge
    screen, with the user's input, and nothing is overwritten."""
    from locks.admin import change_form

    client = client_for(alice)
    page = client.get(change_url(contact))
    Contact.objects.filter(pk=contact.pk).update(version=2, notes="from a script")
    real = change_form.current_version
    reads = []

    def read_before_the_script_committed(model, pk):
        reads.append(pk)
        return 1 if len(reads) == 1 else real(model, pk)

    monkeypatch.setattr(change_form, "current_version", read_before_the_script_committed)
    response = client.post(change_url(contact), form_data(page, name="Mine"))
    assert response.status_code == 200
    assert "Save merged version" in response.text
    assert 'value="Mine"' in response.text
    contact.refresh_from_db()
    assert (contact.name, contact.notes, contact.version) == ("Ada Lovelace", "from a script", 2)


def test_to_field_urls_are_locked_too(contact, alice, bob, monkeypatch):
    from tests.lockapp.admin import TicketAdmin

    monkeypatch.setattr(TicketAdmin, "to_field_allowed", lambda self, request, name: True)
    ticket = Ticket.objects.create(contact=contact, reference="ORD-9")
    client_for(alice).get(change_url(ticket))
    base = reverse("admin:lockapp_ticket_change", args=["ORD-9"])
    response = client_for(bob).post(
        f"{base}?_to_field=reference",
        {
            "reference": "ORD-9",
            "contact": contact.pk,
            "status": "cancelled",
            "notes": "",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000",
            "_continue": "1",
        },
    )
    assert response.status_code == 200
    delete = reverse("admin:lockapp_ticket_delete", args=["ORD-9"])
    client_for(bob).post(f"{delete}?_to_field=reference", {"post": "yes"})
    ticket.refresh_from_db()
    assert (ticket.status, ticket.version) == ("draft", 1)


def ticket_data(page, ticket, contact, line, *, quantity: str, notes: str = "", then="_continue"):
    return {
        "reference": ticket.reference,
        "contact": contact.pk,
        "status": "draft",
        "notes": notes,
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "1",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-id": line.pk,
        "lines-0-ticket": ticket.pk,
        "lines-0-product": line.product,
        "lines-0-quantity": quantity,
        "lines-0-unit_price": "5.00",
        "lines-1-id": "",
        "lines-1-ticket": ticket.pk,
        "lines-1-product": "",
        "lines-1-quantity": "1",
        "lines-1-unit_price": "",
        "_locks_lease": hidden(page, "_locks_lease"),
        "_locks_version": hidden(page, "_locks_version"),
        "_locks_base": hidden(page, "_locks_base"),
        then: "1",
    }


def merge_submit(client, obj, merge_page, **choices):
    data = {}
    for key, value in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)"', merge_page.text
    ):
        data.setdefault(key, []).append(value)
    data.update({key: [value] for key, value in choices.items()})
    data["_continue"] = ["1"]
    return client.post(change_url(obj), data)


def test_merge_never_reverts_order_lines_someone_else_changed(contact, alice, bob, fake_clock):
    ticket = Ticket.objects.create(contact=contact, reference="ORD-1")
    line = TicketLine.objects.create(ticket=ticket, product="Lamp", quantity=1, unit_price="5.00")
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(ticket))
    fake_clock.advance(60)  # Alice's lock lapses; Bob changes the line's quantity
    bob_page = bob_client.get(change_url(ticket))
    assert (
        bob_client.post(
            change_url(ticket),
            ticket_data(bob_page, ticket, contact, line, quantity="5", then="_save"),
        ).status_code
        == 302
    )

    merge = alice_client.post(
        change_url(ticket),
        ticket_data(alice_page, ticket, contact, line, quantity="1", notes="alice note"),
    )
    assert "Save merged version" in merge.text
    assert "only they changed this row" in merge.text
    saved = merge_submit(alice_client, ticket, merge)
    assert saved.status_code == 302, saved.text[:3000]
    line.refresh_from_db()
    ticket.refresh_from_db()
    assert (line.quantity, ticket.notes, ticket.version) == (5, "alice note", 3)


def test_merge_asks_when_both_changed_the_lines(contact, alice, bob, fake_clock):
    ticket = Ticket.objects.create(contact=contact, reference="ORD-2")
    line = TicketLine.objects.create(ticket=ticket, product="Lamp", quantity=1, unit_price="5.00")
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(ticket))
    fake_clock.advance(60)
    bob_page = bob_client.get(change_url(ticket))
    bob_client.post(
        change_url(ticket), ticket_data(bob_page, ticket, contact, line, quantity="5", then="_save")
    )
    merge = alice_client.post(
        change_url(ticket), ticket_data(alice_page, ticket, contact, line, quantity="7")
    )
    assert "changed on both sides" in merge.text
    assert f'name="_locks_inline_lines-{line.pk}" value="theirs"' in merge.text
    merge_submit(alice_client, ticket, merge, _locks_inline_lines="theirs")
    line.refresh_from_db()
    assert line.quantity == 5
    # and choosing "yours" the next time keeps Alice's rows
    page = alice_client.get(change_url(ticket))
    fake_clock.advance(60)
    bob_page = bob_client.get(change_url(ticket))
    bob_client.post(
        change_url(ticket), ticket_data(bob_page, ticket, contact, line, quantity="6", then="_save")
    )
    merge = alice_client.post(
        change_url(ticket), ticket_data(page, ticket, contact, line, quantity="9")
    )
    merge_submit(alice_client, ticket, merge, _locks_inline_lines="yours")
    line.refresh_from_db()
    assert line.quantity == 9
