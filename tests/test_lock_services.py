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


def kinds(customer) -> list[str]:
    return list(
        LockEvent.objects.filter(object_pk=str(customer.pk))
        .order_by("at", "id")
        .values_list("kind", flat=True)
    )


def test_first_opener_holds_others_see_who(customer, alice, bob, fake_clock):
    got = services.acquire(customer, alice)
    assert got.ok and got.detail == "acquired" and got.lease
    fake_clock.advance(4)
    refused = services.acquire(customer, bob)
    assert not refused.ok
    assert refused.state.holder_name == "Alice"
    assert refused.state.acquired_at == got.state.acquired_at
    message = LockPolicy(refused.state, bob, None, fake_clock.now()).get_message()
    assert "Alice is editing since" in message


def test_same_tab_renews_other_tab_is_told(customer, alice, fake_clock):
    first = services.acquire(customer, alice)
    again = services.acquire(customer, alice, first.lease)
    assert again.ok and again.detail == "renewed" and again.lease == first.lease
    other_tab = services.acquire(customer, alice)
    assert not other_tab.ok
    policy = LockPolicy(other_tab.state, alice, None, fake_clock.now())
    assert policy.held_in_other_tab and policy.can_take_over
    assert policy.get_message() == "You are editing this in another tab."
    moved = services.take_over(customer, alice)
    assert moved.ok and moved.lease != first.lease
    assert not services.heartbeat(customer, alice, first.lease, active=True).ok


def test_expired_lock_is_free_at_once_and_audited(customer, alice, bob, fake_clock):
    services.acquire(customer, alice)
    fake_clock.advance(44)
    assert not services.acquire(customer, bob).ok
    fake_clock.advance(2)
    got = services.acquire(customer, bob)
    assert got.ok and got.state.fence == 2
    assert kinds(customer) == ["acquired", "expired", "acquired"]
    expired = LockEvent.objects.get(kind="expired")
    assert expired.holder == alice and expired.actor is None


def test_heartbeat_keeps_lock_and_idle_holder_loses_it(customer, alice, bob, fake_clock, settings):
    settings.LOCKS_IDLE_TIMEOUT = 120
    lease = services.acquire(customer, alice).lease
    for _ in range(6):  # 6 x 30 s = 3 minutes, heartbeats without input
        fake_clock.advance(30)
        assert services.heartbeat(customer, alice, lease, active=False).ok is (_ < 3)
    assert not services.heartbeat(customer, alice, lease, active=True).ok
    assert services.acquire(customer, bob).ok
    assert kinds(customer)[-2:] == ["idle_released", "acquired"]


def test_active_heartbeats_keep_the_lock_past_idle_timeout(customer, alice, fake_clock, settings):
    settings.LOCKS_IDLE_TIMEOUT = 120
    lease = services.acquire(customer, alice).lease
    for _ in range(20):
        fake_clock.advance(15)
        assert services.heartbeat(customer, alice, lease, active=True).ok


def test_stale_lease_is_refused_even_when_nobody_else_holds(customer, alice, fake_clock):
    lease = services.acquire(customer, alice).lease
    fake_clock.advance(60)
    assert not services.heartbeat(customer, alice, lease, active=True).ok
    with pytest.raises(services.LeaseError), transaction.atomic():
        services.check_lease(customer, alice, lease)


def test_release_frees_and_only_the_holder_may(customer, alice, bob):
    lease = services.acquire(customer, alice).lease
    assert not services.release(customer, bob, lease).ok
    assert not services.release(customer, alice, "forged").ok
    assert services.release(customer, alice, lease).ok
    assert services.acquire(customer, bob).ok
    assert kinds(customer) == ["acquired", "released", "acquired"]


def test_manager_takes_over_with_reason_editor_may_not(customer, alice, bob, carol):
    lease = services.acquire(customer, alice).lease
    with pytest.raises(PermissionDenied):
        services.take_over(customer, bob)
    taken = services.take_over(customer, carol, "Alice is on holiday")
    assert taken.ok and taken.state.holder_id == carol.pk and taken.state.fence == 2
    assert not services.heartbeat(customer, alice, lease, active=True).ok
    event = LockEvent.objects.get(kind="taken_over")
    assert (event.actor, event.holder, event.reason) == (carol, alice, "Alice is on holiday")


def test_force_release_needs_manager(customer, alice, bob, carol):
    services.acquire(customer, alice)
    with pytest.raises(PermissionDenied):
        services.force_release(customer, bob, "mine now")
    assert services.force_release(customer, carol, "stuck").ok
    assert services.get_state(customer).holder_id is None
    event = LockEvent.objects.get(kind="force_released")
    assert (event.actor, event.holder, event.reason) == (carol, alice, "stuck")


def test_handover_request_reaches_holder(customer, alice, bob):
    lease = services.acquire(customer, alice).lease
    assert not services.request_handover(customer, alice).ok  # not to yourself
    assert services.request_handover(customer, bob, "need to fix the email").ok
    beat = services.heartbeat(customer, alice, lease, active=False)
    assert beat.ok and beat.state.handover_requested_by == "Bob"


def test_release_stale_releases_expired_and_idle_once(customer, alice, bob, fake_clock, settings):
    from records.models import Customer

    other = Customer.objects.create(name="Other", email="o@example.com")
    services.acquire(customer, alice)
    lease = services.acquire(other, bob).lease
    fake_clock.advance(50)
    assert not services.heartbeat(other, bob, lease, active=False).ok  # lapsed already
    assert services.release_stale(dry_run=True)
    assert EditLock.objects.held().count() == 2
    released = services.release_stale()
    assert {item.record.object_pk for item in released} == {str(customer.pk), str(other.pk)}
    assert services.release_stale() == []
    assert EditLock.objects.held().count() == 0
    assert LockEvent.objects.filter(kind="expired").count() == 2


def test_write_check_accepts_only_current_lease(customer, alice, bob):
    lease = services.acquire(customer, alice).lease
    with transaction.atomic():
        assert services.check_lease(customer, alice, lease).holder_id == alice.pk
    for user, token in [(bob, lease), (alice, "forged"), (alice, ""), (bob, None)]:
        with pytest.raises(services.LeaseError), transaction.atomic():
            services.check_lease(customer, user, token)


def test_one_row_per_record_is_enforced_by_the_database(customer, alice):
    from django.db import IntegrityError

    services.acquire(customer, alice)
    lock = EditLock.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        EditLock.objects.create(content_type=lock.content_type, object_pk=lock.object_pk)


@pytest.mark.parametrize(
    "operation", ["acquire", "acquire-refused", "heartbeat", "heartbeat-lost", "release"]
)
def test_query_budget(operation, customer, alice, bob, django_assert_max_num_queries):
    """Acquire, heartbeat and release each take at most two SQL queries, either way."""
    services.get_state(customer)  # warm the content type cache
    lease = services.acquire(customer, alice).lease
    services.request_handover(customer, bob)  # the heartbeat then also reads who asked
    if operation == "acquire":
        services.release(customer, alice, lease)
    calls = {
        "acquire": lambda: services.acquire(customer, bob).ok,
        "acquire-refused": lambda: not services.acquire(customer, bob).ok,
        "heartbeat": lambda: services.heartbeat(customer, alice, lease, active=True).ok,
        "heartbeat-lost": lambda: not services.heartbeat(customer, bob, lease, active=True).ok,
        "release": lambda: services.release(customer, alice, lease).ok,
    }
    with django_assert_max_num_queries(2):
        assert calls[operation]()


@pytest.mark.parametrize("operation", ["take-over", "force-release", "request-handover"])
def test_guarded_operations_take_three_queries(operation, customer, alice, bob, carol):
    """Read (row-locked), compare-and-set, audit insert: nothing more (the savepoints of
    their transaction, nested in the test's, aside)."""
    services.get_state(customer)  # warm the content type cache
    carol.has_perm("locks.manage_locks")  # and the manager's permission cache
    services.acquire(customer, alice)
    calls = {
        "take-over": lambda: services.take_over(customer, carol),
        "force-release": lambda: services.force_release(customer, carol),
        "request-handover": lambda: services.request_handover(customer, bob),
    }
    with CaptureQueriesContext(connection) as queries:
        outcome = calls[operation]()
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"].upper()]
    assert len(statements) <= 3, statements
    assert outcome.ok
    assert (
        kinds(customer)[-1]
        == {
            "take-over": "taken_over",
            "force-release": "force_released",
            "request-handover": "handover_requested",
        }[operation]
    )
    stored = services.get_state(customer)
    assert (outcome.state.holder_id, outcome.state.lease, outcome.state.handover_requested_by) == (
        stored.holder_id,
        stored.lease,
        stored.handover_requested_by,
    )


def test_reload_rotates_the_lease_so_the_old_pages_goodbye_is_void(customer, alice, bob):
    first = services.acquire(customer, alice)
    reloaded = services.acquire(customer, alice, first.lease, rotate=True)
    assert reloaded.ok and reloaded.detail == "renewed"
    assert reloaded.lease != first.lease and reloaded.state.fence == first.state.fence
    assert not services.release(customer, alice, first.lease).ok  # the old page's beacon
    assert not services.acquire(customer, bob).ok
    assert services.heartbeat(customer, alice, reloaded.lease, active=True).ok
    assert kinds(customer) == ["acquired"]
