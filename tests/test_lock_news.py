"""What the holder's and the viewers' pages are told (issue 8, server side): a declined
handover, the holder's unsaved-changes flag, and who did what and why. Through the service
layer and the HTTP endpoints; the websocket side is in test_lock_news_live.py."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from locks import events, services
from locks.models import LockEvent
from tests.test_admin_locking import change_url, client_for, hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(django_capture_on_commit_callbacks):
    """Lock events as they are announced after commit: run `with published() as seen:`."""
    from contextlib import contextmanager

    @contextmanager
    def capture():
        seen: list[dict] = []

        def receiver(event, **kwargs):
            seen.append(event)

        events.event_published.connect(receiver)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield seen
        finally:
            events.event_published.disconnect(receiver)

    return capture


def url(name: str, obj) -> str:
    return reverse(f"admin:lockapp_contact_lock_{name}", args=[obj.pk])


# ---------------------------------------------------------------- decline a handover


def test_holder_declines_and_the_requester_is_named(contact, alice, bob, published):
    lease = services.acquire(contact, alice).lease
    services.request_handover(contact, bob, "need the phone number")
    assert services.get_state(contact).handover_requested_by_id == bob.pk
    with published() as seen:
        declined = services.decline_handover(contact, alice, lease, "Saving in a minute")
    assert declined.ok and declined.detail == "declined" and declined.lease == lease
    event = seen[-1]
    assert event["type"] == "lock.handover_declined"
    assert event["handover_requested_by_id"] == bob.pk  # so Bob's page knows it was his
    assert (event["actor_id"], event["actor"], event["reason"]) == (
        alice.pk,
        "Alice",
        "Saving in a minute",
    )
    assert event["lock"]["held"] is True and event["lock"]["holder_id"] == alice.pk
    assert event["lock"]["handover_requested_by"] == ""
    assert event["lock"]["handover_requested_by_id"] is None
    row = LockEvent.objects.get(kind="handover_declined")
    assert (row.actor, row.holder, row.reason) == (alice, alice, "Saving in a minute")
    # Alice keeps editing, and her next heartbeat shows no request any more.
    beat = services.heartbeat(contact, alice, lease, active=True)
    assert beat.ok and beat.state.handover_requested_by == ""
    # Bob may ask again.
    assert services.request_handover(contact, bob).ok


def test_only_the_holding_tab_declines_and_only_a_pending_request(contact, alice, bob, fake_clock):
    lease = services.acquire(contact, alice).lease
    assert services.decline_handover(contact, alice, lease).detail == "not-requested"
    services.request_handover(contact, bob)
    assert services.decline_handover(contact, bob, lease).detail == "lost"
    assert services.decline_handover(contact, alice, "other tab").detail == "lost"
    assert services.get_state(contact).handover_requested_by == "Bob"
    fake_clock.advance(60)  # the lease lapsed
    assert services.decline_handover(contact, alice, lease).detail == "lost"
    assert not LockEvent.objects.filter(kind="handover_declined").exists()


def test_decline_takes_three_queries(contact, alice, bob):
    services.get_state(contact)  # warm the content type cache
    lease = services.acquire(contact, alice).lease
    services.request_handover(contact, bob)
    with CaptureQueriesContext(connection) as queries:
        assert services.decline_handover(contact, alice, lease).ok
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"].upper()]
    assert len(statements) <= 3, statements


def test_decline_endpoint_json_and_plain_form(contact, alice, bob):
    alice_client, bob_client = client_for(alice), client_for(bob)
    lease = hidden(alice_client.get(change_url(contact)), "_locks_lease")
    bob_client.post(url("request", contact))
    refused = bob_client.post(
        url("decline", contact), {"lease": lease}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert refused.json() == {"ok": False, "detail": "lost"}
    done = alice_client.post(
        url("decline", contact),
        {"lease": lease, "reason": "  Almost done  "},
        HTTP_ACCEPT="application/json",
    )
    assert done.json() == {"ok": True, "detail": "declined"}
    assert LockEvent.objects.get(kind="handover_declined").reason == "Almost done"
    again = alice_client.post(
        url("decline", contact), {"lease": lease}, HTTP_X_REQUESTED_WITH="fetch"
    )
    assert again.json() == {"ok": False, "detail": "not-requested"}

    bob_client.post(url("request", contact))
    plain = alice_client.post(url("decline", contact), {"lease": lease}, follow=True)
    assert plain.redirect_chain[-1][0] == change_url(contact)
    assert "You declined the request; you are still editing." in plain.text
    assert alice_client.get(url("decline", contact)).status_code == 405
    state = alice_client.get(url("state", contact), {"lease": lease}).json()
    assert state["can_edit"] is True and state["lock"]["handover_requested_by_id"] is None


def test_holders_page_learns_it_may_decline(contact, alice, bob):
    alice_client = client_for(alice)
    lease = hidden(alice_client.get(change_url(contact)), "_locks_lease")
    beat = lambda: alice_client.post(url("heartbeat", contact), {"lease": lease}).json()  # noqa: E731
    assert beat()["can_decline_handover"] is False
    client_for(bob).post(url("request", contact))
    answer = beat()
    assert answer["can_decline_handover"] is True
    assert answer["lock"]["handover_requested_by_id"] == bob.pk
    bob_view = client_for(bob).get(url("state", contact)).json()
    assert bob_view["can_decline_handover"] is False
    assert bob_view["lock"]["handover_requested_by_id"] == bob.pk


# ---------------------------------------------------------------- unsaved changes


def test_unsaved_flag_is_stored_shown_and_announced_only_when_it_flips(contact, alice, published):
    lease = services.acquire(contact, alice).lease
    with published() as seen:
        flags = []
        for unsaved in [True, True, None, False, None, False, True]:
            beat = services.heartbeat(contact, alice, lease, active=True, unsaved=unsaved)
            flags.append(beat.state.unsaved)
    assert flags == [True, True, True, False, False, False, True]
    flips = [e for e in seen if e["type"] == "lock.unsaved"]
    assert [e["lock"]["unsaved"] for e in flips] == [True, False, True]
    first = flips[0]
    assert (first["actor_id"], first["actor"], first["holder_id"]) == (alice.pk, "Alice", alice.pk)
    assert first["fence"] == first["lock"]["fence"] == 1 and first["reason"] == ""
    assert services.get_state(contact).unsaved is True
    assert not LockEvent.objects.exclude(kind="acquired").exists()  # presence, not audit


@pytest.mark.parametrize("ends", ["release", "take-over", "force-release", "expiry"])
def test_a_new_lease_starts_without_unsaved_changes(ends, contact, alice, carol, fake_clock):
    lease = services.acquire(contact, alice).lease
    services.heartbeat(contact, alice, lease, active=True, unsaved=True)
    if ends == "release":
        services.release(contact, alice, lease)
        assert services.get_state(contact).unsaved is False
    elif ends == "take-over":
        taken = services.take_over(contact, carol, "urgent")
        assert taken.state.unsaved is services.get_state(contact).unsaved is False
        services.release(contact, carol, taken.lease)
    elif ends == "force-release":
        services.force_release(contact, carol)
        assert services.get_state(contact).unsaved is False
    else:
        fake_clock.advance(60)
        assert services.get_state(contact).as_public_dict(fake_clock.now())["unsaved"] is False
    got = services.acquire(contact, carol)
    assert got.ok and got.state.unsaved is False
    assert services.get_state(contact).unsaved is False


def test_a_reloaded_page_keeps_the_holding_and_its_flag(contact, alice):
    first = services.acquire(contact, alice).lease
    services.heartbeat(contact, alice, first, active=True, unsaved=True)
    reloaded = services.acquire(contact, alice, first, rotate=True)
    assert reloaded.detail == "renewed" and reloaded.state.unsaved is True


@pytest.mark.parametrize("asked", [False, True])
def test_heartbeat_with_a_flip_stays_within_two_queries(
    asked, contact, alice, bob, django_assert_max_num_queries, published
):
    services.get_state(contact)  # warm the content type cache
    lease = services.acquire(contact, alice).lease
    if asked:
        services.request_handover(contact, bob)  # the heartbeat then also reads who asked
    with published() as seen, django_assert_max_num_queries(2):
        beat = services.heartbeat(contact, alice, lease, active=True, unsaved=True)
    assert beat.ok and beat.state.unsaved is True
    assert [e["type"] for e in seen] == ["lock.unsaved"]
    assert seen[0]["lock"]["handover_requested_by"] == ("Bob" if asked else "")


def test_http_heartbeat_takes_unsaved_and_viewers_see_it(contact, alice, bob):
    alice_client, bob_client = client_for(alice), client_for(bob)
    lease = hidden(alice_client.get(change_url(contact)), "_locks_lease")

    def beat(**extra):
        return alice_client.post(url("heartbeat", contact), {"lease": lease, **extra}).json()

    assert beat()["lock"]["unsaved"] is False
    assert beat(unsaved="1")["lock"]["unsaved"] is True
    assert beat()["lock"]["unsaved"] is True  # not told: kept
    assert bob_client.get(url("state", contact)).json()["lock"]["unsaved"] is True
    assert beat(unsaved="0")["lock"]["unsaved"] is False
    assert beat(unsaved="yes")["lock"]["unsaved"] is False
    assert bob_client.get(url("state", contact)).json()["lock"]["unsaved"] is False


# ---------------------------------------------------------------- who and why


def test_displaced_holder_is_told_who_and_why(contact, alice, carol, fake_clock, published):
    with published() as seen:
        services.acquire(contact, alice)
        services.take_over(contact, carol, "Customer on the phone")
        services.force_release(contact, carol, "Carol is done")
        services.acquire(contact, alice)
        fake_clock.advance(60)
        services.release_stale()
    by_type = {e["type"]: e for e in seen}
    taken = by_type["lock.taken_over"]
    assert (taken["actor_id"], taken["actor"], taken["holder_id"], taken["reason"]) == (
        carol.pk,
        "Carol",
        alice.pk,
        "Customer on the phone",
    )
    freed = by_type["lock.force_released"]
    assert (freed["actor"], freed["holder_id"], freed["reason"]) == (
        "Carol",
        carol.pk,
        "Carol is done",
    )
    assert by_type["lock.acquired"]["actor"] == "Alice"
    expired = by_type["lock.expired"]  # nobody did it: the type says why
    assert (expired["actor_id"], expired["actor"], expired["holder_id"]) == (None, "", alice.pk)


def test_save_and_continue_clears_the_flag_for_viewers_at_once(contact, alice, published):
    """The page handed the lease by its own save starts clean: viewers hear it at once, not
    at the holder's next heartbeat."""
    first = services.acquire(contact, alice).lease
    services.heartbeat(contact, alice, first, active=True, unsaved=True)
    with published() as seen:
        continued = services.acquire(contact, alice, first)  # the GET after the save
    assert continued.detail == "renewed" and continued.state.unsaved is False
    assert services.get_state(contact).unsaved is False
    assert [(e["type"], e["lock"]["unsaved"]) for e in seen] == [("lock.unsaved", False)]
