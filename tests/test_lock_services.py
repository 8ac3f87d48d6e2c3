"""The service layer: who may hold, renew, release and take over a lock, and what it costs."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from locks import services
from locks.models import EditLock, LockEvent
from locks.policy import LockPolicy

pytestmark = pytest.mark.django_db


def kinds(contact) -> list[str]:
    return list(
        LockEvent.objects.filter(object_pk=str(contact.pk))
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )


def test_first_opener_holds_others_see_who(contact, alice, bob, fake_clock):
    got = services.acquire(contact, alice)
    assert got.ok and got.detail == "acquired" and got.lease
    fake_clock.advance(4)
    refused = services.acquire(contact, bob)
    assert not refused.ok
    assert refused.state.holder_name == "Alice"
    assert refused.state.acquired_at == got.state.acquired_at
    message = LockPolicy(refused.state, bob, None, fake_clock.now()).get_message()
    assert "Alice is editing since" in message


def test_same_tab_renews_other_tab_is_told(contact, alice, fake_clock):
    first = services.acquire(contact, alice)
    again = services.acquire(contact, alice, first.lease)
    assert again.ok and again.detail == "renewed" and again.lease == first.lease
    other_tab = services.acquire(contact, alice)
    assert not other_tab.ok
    policy = LockPolicy(other_tab.state, alice, None, fake_clock.now())
    assert policy.held_in_other_tab and policy.can_take_over
    assert policy.get_message() == "You are editing this in another tab."
    moved = services.take_over(contact, alice)
    assert moved.ok and moved.lease != first.lease
    assert not services.heartbeat(contact, alice, first.lease, active=True).ok


def test_expired_lock_is_free_at_once_and_audited(contact, alice, bob, fake_clock):
    services.acquire(contact, alice)
    fake_clock.advance(44)
    assert not services.acquire(contact, bob).ok
    fake_clock.advance(2)
    got = services.acquire(contact, bob)
    assert got.ok and got.state.fence == 2
    assert kinds(contact) == ["acquired", "expired", "acquired"]
    expired = LockEvent.objects.get(kind="expired")
    assert expired.holder == alice and expired.actor is None


def test_heartbeat_keeps_lock_and_idle_holder_loses_it(contact, alice, bob, fake_clock, settings):
    settings.LOCKS_IDLE_TIMEOUT = 120
    lease = services.acquire(contact, alice).lease
    for _ in range(6):  # 6 x 30 s = 3 minutes, heartbeats without input
        fake_clock.advance(30)
        assert services.heartbeat(contact, alice, lease, active=False).ok is (_ < 3)
    assert not services.heartbeat(contact, alice, lease, active=True).ok
    assert services.acquire(contact, bob).ok
    assert kinds(contact)[-2:] == ["idle_released", "acquired"]


def test_active_heartbeats_keep_the_lock_past_idle_timeout(contact, alice, fake_clock, settings):
    settings.LOCKS_IDLE_TIMEOUT = 120
    lease = services.acquire(contact, alice).lease
    for _ in range(20):
        fake_clock.advance(15)
        assert services.heartbeat(contact, alice, lease, active=True).ok


def test_stale_lease_is_refused_even_when_nobody_else_holds(contact, alice, fake_clock):
    lease = services.acquire(contact, alice).lease
    fake_clock.advance(60)
    assert not services.heartbeat(contact, alice, lease, active=True).ok
    with pytest.raises(services.LeaseError), transaction.atomic():
        services.check_lease(contact, alice, lease)


def test_release_frees_and_only_the_holder_may(contact, alice, bob):
    lease = services.acquire(contact, alice).lease
    assert not services.release(contact, bob, lease).ok
    assert not services.release(contact, alice, "forged").ok
    assert services.release(contact, alice, lease).ok
    assert services.acquire(contact, bob).ok
    assert kinds(contact) == ["acquired", "released", "acquired"]


def test_manager_takes_over_with_reason_editor_may_not(contact, alice, bob, carol):
    lease = services.acquire(contact, alice).lease
    with pytest.raises(PermissionDenied):
        services.take_over(contact, bob)
    taken = services.take_over(contact, carol, "Alice is on holiday")
    assert taken.ok and taken.state.holder_id == carol.pk and taken.state.fence == 2
    assert not services.heartbeat(contact, alice, lease, active=True).ok
    event = LockEvent.objects.get(kind="taken_over")
    assert (event.actor, event.holder, event.reason) == (carol, alice, "Alice is on holiday")


def test_force_release_needs_manager(contact, alice, bob, carol):
    services.acquire(contact, alice)
    with pytest.raises(PermissionDenied):
        services.force_release(contact, bob, "mine now")
    assert services.force_release(contact, carol, "stuck").ok
    assert services.get_state(contact).holder_id is None
    event = LockEvent.objects.get(kind="force_released")
    assert (event.actor, event.holder, event.reason) == (carol, alice, "stuck")


def test_handover_request_reaches_holder(contact, alice, bob):
    lease = services.acquire(contact, alice).lease
    assert not services.request_handover(contact, alice).ok  # not to yourself
    assert services.request_handover(contact, bob, "need to fix the email").ok
    beat = services.heartbeat(contact, alice, lease, active=False)
    assert beat.ok and beat.state.handover_requested_by == "Bob"


def test_release_stale_releases_expired_and_idle_once(contact, alice, bob, fake_clock, settings):
    from tests.lockapp.models import Contact

    other = Contact.objects.create(name="Other", email="o@example.com")
    services.acquire(contact, alice)
    lease = services.acquire(other, bob).lease
    fake_clock.advance(50)
    assert not services.heartbeat(other, bob, lease, active=False).ok  # lapsed already
    assert services.release_stale(dry_run=True)
    assert EditLock.objects.held().count() == 2
    released = services.release_stale()
    assert {item.record.object_pk for item in released} == {str(contact.pk), str(other.pk)}
    assert services.release_stale() == []
    assert EditLock.objects.held().count() == 0
    assert LockEvent.objects.filter(kind="expired").count() == 2


def test_write_check_accepts_only_current_lease(contact, alice, bob):
    lease = services.acquire(contact, alice).lease
    with transaction.atomic():
        assert services.check_lease(contact, alice, lease).holder_id == alice.pk
    for user, token in [(bob, lease), (alice, "forged"), (alice, ""), (bob, None)]:
        with pytest.raises(services.LeaseError), transaction.atomic():
            services.check_lease(contact, user, token)


def test_one_row_per_record_is_enforced_by_the_database(contact, alice):
    from django.db import IntegrityError

    services.acquire(contact, alice)
    lock = EditLock.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        EditLock.objects.create(content_type=lock.content_type, object_pk=lock.object_pk)


@pytest.mark.parametrize(
    "operation", ["acquire", "acquire-refused", "heartbeat", "heartbeat-lost", "release"]
)
def test_query_budget(operation, contact, alice, bob, django_assert_max_num_queries):
    """Acquire, heartbeat and release each take at most two SQL queries, either way."""
    services.get_state(contact)  # warm the content type cache
    lease = services.acquire(contact, alice).lease
    services.request_handover(contact, bob)  # the heartbeat then also reads who asked
    if operation == "acquire":
        services.release(contact, alice, lease)
    calls = {
        "acquire": lambda: services.acquire(contact, bob).ok,
        "acquire-refused": lambda: not services.acquire(contact, bob).ok,
        "heartbeat": lambda: services.heartbeat(contact, alice, lease, active=True).ok,
        "heartbeat-lost": lambda: not services.heartbeat(contact, bob, lease, active=True).ok,
        "release": lambda: services.release(contact, alice, lease).ok,
    }
    with django_assert_max_num_queries(2):
        assert calls[operation]()


@pytest.mark.parametrize("operation", ["take-over", "force-release", "request-handover"])
def test_guarded_operations_take_three_queries(operation, contact, alice, bob, carol):
    """Read (row-locked), compare-and-set, audit insert: nothing more (the savepoints of
    their transaction, nested in the test's, aside)."""
    services.get_state(contact)  # warm the content type cache
    carol.has_perm("locks.manage_locks")  # and the manager's permission cache
    services.acquire(contact, alice)
    calls = {
        "take-over": lambda: services.take_over(contact, carol),
        "force-release": lambda: services.force_release(contact, carol),
        "request-handover": lambda: services.request_handover(contact, bob),
    }
    with CaptureQueriesContext(connection) as queries:
        outcome = calls[operation]()
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"].upper()]
    assert len(statements) <= 3, statements
    assert outcome.ok
    assert (
        kinds(contact)[-1]
        == {
            "take-over": "taken_over",
            "force-release": "force_released",
            "request-handover": "handover_requested",
        }[operation]
    )
    stored = services.get_state(contact)
    assert (outcome.state.holder_id, outcome.state.lease, outcome.state.handover_requested_by) == (
        stored.holder_id,
        stored.lease,
        stored.handover_requested_by,
    )


def test_reload_rotates_the_lease_so_the_old_pages_goodbye_is_void(contact, alice, bob):
    first = services.acquire(contact, alice)
    reloaded = services.acquire(contact, alice, first.lease, rotate=True)
    assert reloaded.ok and reloaded.detail == "renewed"
    assert reloaded.lease != first.lease and reloaded.state.fence == first.state.fence
    assert not services.release(contact, alice, first.lease).ok  # the old page's beacon
    assert not services.acquire(contact, bob).ok
    assert services.heartbeat(contact, alice, reloaded.lease, active=True).ok
    assert kinds(contact) == ["acquired"]
