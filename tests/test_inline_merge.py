"""Three-way inline merge (issue 10): on the merge screen a row only the other side changed
keeps their values without asking; only rows changed on both sides are a choice."""

from __future__ import annotations

import pytest

from tests.lockapp.models import Ticket, TicketLine
from tests.test_admin_locking import change_url, client_for, hidden, merge_submit

pytestmark = pytest.mark.django_db


def post_lines(
    page, ticket, lines, *, quantities=None, new=None, delete=(), notes="", then="_save"
):
    """The ticket's change form as posted: its lines (some quantities changed, some marked
    for deletion) and an optional new line."""
    quantities = quantities or {}
    data = {
        "reference": ticket.reference,
        "contact": ticket.contact_id,
        "status": "draft",
        "notes": notes,
        "lines-TOTAL_FORMS": str(len(lines) + 1),
        "lines-INITIAL_FORMS": str(len(lines)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "_locks_lease": hidden(page, "_locks_lease"),
        "_locks_version": hidden(page, "_locks_version"),
        "_locks_base": hidden(page, "_locks_base"),
        then: "1",
    }
    for index, line in enumerate(lines):
        data.update(
            {
                f"lines-{index}-id": line.pk,
                f"lines-{index}-ticket": ticket.pk,
                f"lines-{index}-product": line.product,
                f"lines-{index}-quantity": quantities.get(line.pk, line.quantity),
                f"lines-{index}-unit_price": line.unit_price,
            }
        )
        if line.pk in delete:
            data[f"lines-{index}-DELETE"] = "on"
    product, quantity = new or ("", "1")
    data.update(
        {
            f"lines-{len(lines)}-id": "",
            f"lines-{len(lines)}-ticket": ticket.pk,
            f"lines-{len(lines)}-product": product,
            f"lines-{len(lines)}-quantity": quantity,
            f"lines-{len(lines)}-unit_price": "2.00" if new else "",
        }
    )
    return data


@pytest.fixture
def ticket(contact):
    ticket = Ticket.objects.create(contact=contact, reference="ORD-9")
    for product in ("Lamp", "Desk", "Chair"):
        TicketLine.objects.create(ticket=ticket, product=product, quantity=1, unit_price="5.00")
    return ticket


def quantities(ticket) -> dict[str, int]:
    return dict(ticket.lines.values_list("product", "quantity"))


def test_rows_each_side_changed_alone_are_kept_without_asking(alice, bob, ticket, fake_clock):
    lamp, desk, chair = ticket.lines.order_by("pk")
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(ticket))
    fake_clock.advance(60)  # alice's lock lapses; bob changes the lamp and adds a line
    bob_page = bob_client.get(change_url(ticket))
    saved = bob_client.post(
        change_url(ticket),
        post_lines(
            bob_page, ticket, [lamp, desk, chair], quantities={lamp.pk: 5}, new=("Rug", "2")
        ),
    )
    assert saved.status_code == 302

    # alice changed the desk, deleted the chair and added a shelf, from the old page
    merge = alice_client.post(
        change_url(ticket),
        post_lines(
            alice_page,
            ticket,
            [lamp, desk, chair],
            quantities={desk.pk: 7},
            delete={chair.pk},
            new=("Shelf", "3"),
            notes="alice note",
        ),
    )
    assert "Save merged version" in merge.text
    assert "only they changed this row" in merge.text
    assert "only you changed this row" in merge.text
    assert "added by them" in merge.text  # the rug
    assert "deleted by you" in merge.text  # the chair
    assert "added by you" in merge.text  # the shelf
    assert "changed on both sides" not in merge.text
    assert 'name="_locks_inline_lines-' not in merge.text  # nothing to choose

    assert merge_submit(alice_client, ticket, merge).status_code == 302
    ticket.refresh_from_db()
    assert quantities(ticket) == {"Lamp": 5, "Desk": 7, "Rug": 2, "Shelf": 3}
    assert ticket.notes == "alice note"


def test_only_a_row_both_changed_is_a_choice(alice, bob, ticket, fake_clock):
    lamp, desk, chair = ticket.lines.order_by("pk")
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(ticket))
    fake_clock.advance(60)
    bob_page = bob_client.get(change_url(ticket))
    bob_client.post(
        change_url(ticket),
        post_lines(bob_page, ticket, [lamp, desk, chair], quantities={lamp.pk: 5, desk.pk: 4}),
    )
    merge = alice_client.post(
        change_url(ticket),
        post_lines(alice_page, ticket, [lamp, desk, chair], quantities={lamp.pk: 9, chair.pk: 8}),
    )
    assert merge.text.count("changed on both sides") == 1
    assert f'name="_locks_inline_lines-{lamp.pk}" value="theirs"' in merge.text
    assert f'name="_locks_inline_lines-{desk.pk}"' not in merge.text

    merge_submit(alice_client, ticket, merge, **{f"_locks_inline_lines-{lamp.pk}": "theirs"})
    assert quantities(ticket) == {"Lamp": 5, "Desk": 4, "Chair": 8}
