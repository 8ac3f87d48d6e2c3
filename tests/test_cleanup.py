"""A bounded audit trail (`prune_lock_events`) and lock rows that go with their records."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse

from locks import cleanup, services
from locks.checks import check_audit_retention
from locks.models import EditLock, LockEvent
from locks.records import RecordRef
from records.models import Customer
from tests.commands import DAY, run

pytestmark = pytest.mark.django_db


def edit_sessions(obj, user, count: int) -> None:
    """`count` open-and-leave sessions: two audit rows each (acquired, released)."""
    for _ in range(count):
        lease = services.acquire(obj, user).lease
        services.release(obj, user, lease)


@pytest.fixture
def old_and_new_events(customer, alice, fake_clock):
    """1,000 audit rows 181 days old and 10 from today (retention: 180 days)."""
    edit_sessions(customer, alice, 500)
    fake_clock.advance(181 * DAY)
    edit_sessions(customer, alice, 5)
    assert LockEvent.objects.count() == 1010
    return fake_clock


def test_prune_keeps_only_events_within_retention(old_and_new_events):
    newest = set(LockEvent.objects.order_by("-id").values_list("id", flat=True)[:10])
    out = run("prune_lock_events")
    assert "Deleted 1000 lock event(s) older than 180 day(s)" in out
    assert set(LockEvent.objects.values_list("id", flat=True)) == newest
    assert "Deleted 0 lock event(s)" in run("prune_lock_events")


def test_dry_run_counts_and_deletes_nothing(old_and_new_events):
    out = run("prune_lock_events", "--dry-run")
    assert "Would delete 1000 lock event(s) older than 180 day(s)" in out
    assert "Would remove 0 lock row(s) of deleted records." in out
    assert LockEvent.objects.count() == 1010


def test_older_than_overrides_the_setting(old_and_new_events, settings):
    settings.LOCKS_AUDIT_RETENTION_DAYS = 365
    assert "Deleted 0 lock event(s)" in run("prune_lock_events")
    assert "Deleted 1000 lock event(s) older than 30 day(s)" in run(
        "prune_lock_events", "--older-than", "30"
    )
    assert LockEvent.objects.count() == 10
    with pytest.raises(CommandError, match="at least 1 day"):
        run("prune_lock_events", "--older-than", "0")


def test_retention_zero_keeps_everything(old_and_new_events, settings):
    settings.LOCKS_AUDIT_RETENTION_DAYS = 0
    assert "every lock event is kept" in run("prune_lock_events")
    assert LockEvent.objects.count() == 1010


def test_prune_deletes_in_batches(old_and_new_events):
    assert list(cleanup.prune_events(180, batch_size=300)) == [300, 300, 300, 100]
    assert LockEvent.objects.count() == 10


def test_batches_are_reported_at_verbosity_2(old_and_new_events, customer, alice):
    edit_sessions(customer, alice, 1)  # today: stays
    old_and_new_events.advance(-181 * DAY)
    edit_sessions(customer, alice, 1)  # two more old rows: 1,002 in all, two batches
    old_and_new_events.advance(181 * DAY)
    out = run("prune_lock_events", "-v", "2")
    assert out.count("Deleted a batch of") == 2
    assert "Deleted a batch of 1000 lock event(s)." in out
    assert "Deleted a batch of 2 lock event(s)." in out
    assert "Deleted 1002 lock event(s)" in out


def test_deleting_a_record_removes_its_lock_row(
    customer, alice, django_capture_on_commit_callbacks
):
    other = Customer.objects.create(name="Grace Hopper", email="grace@example.com")
    services.acquire(customer, alice)
    services.acquire(other, alice)
    assert EditLock.objects.count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        customer.delete()
    assert list(EditLock.objects.values_list("object_pk", flat=True)) == [str(other.pk)]
    with django_capture_on_commit_callbacks(execute=True):
        Customer.objects.filter(pk=other.pk).delete()  # bulk deletes too
    assert EditLock.objects.count() == 0
    # The audit trail keeps the deleted records' history.
    assert LockEvent.objects.filter(kind="acquired").count() == 2


def test_a_rolled_back_deletion_keeps_the_lock(customer, alice, django_capture_on_commit_callbacks):
    services.acquire(customer, alice)
    pk = customer.pk

    def delete_then_fail():
        with transaction.atomic():
            customer.delete()
            raise RuntimeError("the deletion fails later in the same transaction")

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
    ):
        delete_then_fail()
    assert callbacks == []
    assert services.get_state(Customer.objects.get(pk=pk)).holder_id == alice.pk


def test_deleting_through_the_admin_keeps_the_release_in_the_audit_trail(
    customer, alice, client, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    url = reverse("admin:records_customer_delete", args=[customer.pk])
    confirm = client.get(url)  # takes the lock; redirects to the page carrying the lease
    lease = parse_qs(urlsplit(confirm["Location"]).query)["_locks_lease"][0]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{url}?_locks_lease={lease}", {"post": "yes"})
    assert response.status_code == 302
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert EditLock.objects.count() == 0
    assert list(LockEvent.objects.order_by("id").values_list("kind", flat=True)) == [
        "acquired",
        "released",
    ]


def test_prune_removes_lock_rows_of_records_that_no_longer_exist(customer, alice, bob):
    ct = ContentType.objects.get_for_model(Customer)
    services.acquire(RecordRef(ct.pk, "999999", "Gone Ltd"), alice)  # held, record gone
    lease = services.acquire(RecordRef(ct.pk, "999998", "Left Ltd"), bob).lease
    services.release(RecordRef(ct.pk, "999998"), bob, lease)  # free, record gone
    services.acquire(RecordRef(ct.pk, "not-a-number"), bob)  # a key the model cannot have
    services.acquire(customer, bob)  # exists: stays
    dry = run("prune_lock_events", "--dry-run")
    assert "Would remove the lock row of records.customer 999999 (Gone Ltd, held)" in dry
    assert "Would remove 3 lock row(s) of deleted records." in dry
    assert EditLock.objects.count() == 4
    out = run("prune_lock_events")
    assert "Removed 3 lock row(s) of deleted records." in out
    assert list(EditLock.objects.values_list("object_pk", flat=True)) == [str(customer.pk)]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (180, []),
        (0, []),
        (30, []),
        (7, ["locks.W020"]),
        (-1, ["locks.E020"]),
        ("90", ["locks.E020"]),
    ],
)
def test_retention_setting_is_checked(settings, value, expected):
    settings.LOCKS_AUDIT_RETENTION_DAYS = value
    problems = check_audit_retention()
    assert [p.id for p in problems] == expected
    assert all(p.hint for p in problems)
