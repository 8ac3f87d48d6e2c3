"""The contention report on the lock console, and the merge screen counted in the audit
trail it is computed from."""

from __future__ import annotations

import pytest
from django.urls import reverse

from locks import services
from locks.models import LockEvent
from tests.test_admin_locking import change_url, client_for, form_data

pytestmark = pytest.mark.django_db

CONSOLE = "admin:locks_editlock_changelist"


def test_a_stale_save_shows_the_merge_screen_and_records_it_once(contact, alice, bob, fake_clock):
    alice_client, bob_client = client_for(alice), client_for(bob)
    alice_page = alice_client.get(change_url(contact))
    fake_clock.advance(60)  # Alice's lock expires; Bob opens and saves
    bob_page = bob_client.get(change_url(contact))
    bob_client.post(change_url(contact), form_data(bob_page, notes="from bob", _continue="1"))
    merge = alice_client.post(change_url(contact), form_data(alice_page, name="Ada King"))
    assert "Save merged version" in merge.text
    shown = LockEvent.objects.get(kind="merge_shown")
    # Alice was refused; Bob still held the record (save and continue).
    assert (shown.actor, shown.holder, shown.object_pk) == (alice, bob, str(contact.pk))
    assert shown.at == fake_clock.now()


def test_console_shows_the_contention_report_above_the_live_list(contact, alice, bob, carol):
    services.acquire(contact, alice)
    services.request_handover(contact, bob, "please")
    client = client_for(carol)
    page = client.get(reverse(CONSOLE))
    assert page.status_code == 200
    text = page.text
    assert "Contention over the last 7 days" in text
    assert text.index("locks-contention") < text.index('id="result_list"')
    assert "Bob (1)" in text and "Alice (1)" in text  # who waited on whom
    assert '<tr class="locks-kind-handover_requested">' in text


@pytest.mark.parametrize(("days", "title"), [("1", "the last day"), ("30", "the last 30 days")])
def test_console_period_is_selectable_and_not_taken_for_a_filter(contact, carol, days, title):
    client = client_for(carol)
    page = client.get(reverse(CONSOLE), {"contention_days": days, "state": "active"})
    assert page.status_code == 200  # not the admin's "?e=1" redirect for an unknown filter
    assert f"Contention over {title}" in page.text
    assert f'<strong aria-current="true">{days} day' in page.text


def test_a_period_not_offered_falls_back_to_seven_days(carol):
    page = client_for(carol).get(reverse(CONSOLE), {"contention_days": "9999"})
    assert page.status_code == 200 and "Contention over the last 7 days" in page.text
