"""The contention report: counts by kind, time held, most contended records; the same numbers
from `manage.py locks --stats` and in the console's template fragment."""

from __future__ import annotations

import json
import re

import pytest
from django.core.management.base import CommandError
from django.template.loader import render_to_string

from locks import services
from locks.models import LockEvent
from locks.records import ref_for
from locks.stats import contention_report, period_from
from records.models import Customer
from tests.commands import DAY, run

pytestmark = pytest.mark.django_db


def merge_shown(obj, user, holder=None) -> None:
    """What the merge screen records when it is shown (its view writes the same row)."""
    ref = ref_for(obj)
    LockEvent.objects.create(
        kind=LockEvent.Kind.MERGE_SHOWN,
        content_type_id=ref.content_type_id,
        object_pk=ref.object_pk,
        object_repr=ref.object_repr,
        actor=user,
        holder=holder,
        at=services.clock.now(),
    )


@pytest.fixture
def week(alice, bob, carol, fake_clock):
    """A week of editing: five leases (30 s to 120 s), a take-over, a handover request, an
    expiry and a merge screen; and, eight days ago, one more lease of another record."""
    old = Customer.objects.create(name="Old Corp", email="old@example.com")
    a = Customer.objects.create(name="Acme", email="acme@example.com")
    b = Customer.objects.create(name="Bolt", email="bolt@example.com")
    c = Customer.objects.create(name="Cogs", email="cogs@example.com")

    fake_clock.advance(-8 * DAY)
    services.release(old, alice, services.acquire(old, alice).lease)  # 0 s, eight days ago
    fake_clock.advance(8 * DAY)

    lease = services.acquire(a, alice).lease
    fake_clock.advance(60)
    services.release(a, alice, lease)  # held 60 s

    services.acquire(a, bob)
    fake_clock.advance(30)
    lease = services.take_over(a, carol, "urgent fix").lease  # bob held it 30 s
    fake_clock.advance(90)
    services.release(a, carol, lease)  # carol held it 90 s
    merge_shown(a, alice)

    lease = services.acquire(b, alice).lease
    fake_clock.advance(10)
    services.request_handover(b, bob)
    fake_clock.advance(110)
    services.release(b, alice, lease)  # held 120 s

    services.acquire(c, bob)
    fake_clock.advance(50)  # past LOCKS_TIMEOUT (45 s): swept now, held 50 s
    services.release_stale()
    return {"a": a, "b": b, "c": c, "old": old}


def counts(report) -> dict[str, int]:
    return {row["kind"]: row["count"] for row in report["kinds"]}


def test_counts_by_kind_for_the_period(week):
    report = contention_report(7)
    assert counts(report) == {
        "acquired": 4,
        "taken_over": 1,
        "expired": 1,
        "idle_released": 0,
        "handover_requested": 1,
        "force_released": 0,
        "merge_shown": 1,
    }
    bars = {row["kind"]: row["percent"] for row in report["kinds"]}
    assert bars["acquired"] == 100 and bars["taken_over"] == 25 and bars["idle_released"] == 0


def test_time_held_median_and_95th_percentile(week):
    held = contention_report(7)["held"]
    # Leases of 30, 50, 60, 90 and 120 s.
    assert held["leases"] == 5
    assert held["median_s"] == 60
    assert held["p95_s"] == 114  # between 90 and 120, 80 % of the way
    assert held["median"] == "1 min 0 s"
    assert held["p95"] == "1 min 54 s"


def test_most_contended_records_name_who_waited_on_whom(week):
    contended = contention_report(7)["contended"]
    assert [row["record"] for row in contended] == ["Acme", "Bolt"]
    acme, bolt = contended
    assert acme["contention"] == 2
    assert acme["taken_over"] == 1 and acme["merge_shown"] == 1
    assert acme["waiters"] == [{"name": "Carol", "count": 1}, {"name": "Alice", "count": 1}]
    assert acme["waited_on"] == [{"name": "Bob", "count": 1}]
    assert acme["url"] == f"/admin/records/customer/{week['a'].pk}/change/"
    assert bolt["handover_requested"] == 1
    assert bolt["waiters"] == [{"name": "Bob", "count": 1}]
    assert bolt["waited_on"] == [{"name": "Alice", "count": 1}]


def test_periods_count_only_their_days(week, fake_clock):
    assert counts(contention_report(30))["acquired"] == 5  # the old lease too
    assert contention_report(30)["held"]["leases"] == 6
    fake_clock.advance(DAY)  # everything above is now more than a day old
    day = contention_report(1)
    assert set(counts(day).values()) == {0}
    assert day["held"] == {"leases": 0, "median_s": None, "p95_s": None, "median": "", "p95": ""}
    assert day["contended"] == []


def test_moving_between_ones_own_tabs_is_not_contention(customer, alice, fake_clock):
    services.acquire(customer, alice)
    fake_clock.advance(20)
    lease = services.take_over(customer, alice).lease  # "Edit here instead" in another tab
    fake_clock.advance(40)
    services.release(customer, alice, lease)
    report = contention_report(7)
    assert counts(report)["taken_over"] == 1
    assert report["contended"] == []
    assert report["held"]["leases"] == 2  # 20 s in the first tab, 40 s in the second
    assert report["held"]["median_s"] == 30


def test_stats_command_prints_the_same_numbers(week):
    text = run("locks", "--stats")
    assert "Lock contention, last 7 day(s)" in text
    assert re.search(r"^  acquired +4  #{20}$", text, re.MULTILINE)  # the longest bar
    assert re.search(r"^  taken over +1  #{5}$", text, re.MULTILINE)
    assert "Time held: median 1 min 0 s, 95th percentile 1 min 54 s (5 lease(s))" in text
    assert (
        "records.customer" in text and "Acme: waited Carol (1), Alice (1); held by Bob (1)" in text
    )
    assert json.loads(run("locks", "--stats", "--json")) == contention_report(7)
    assert json.loads(run("locks", "--stats", "--days", "30", "--json"))["days"] == 30
    with pytest.raises(CommandError, match="at least 1"):
        run("locks", "--stats", "--days", "0")


def test_fragment_renders_table_chart_and_period_links(week):
    html = render_to_string("locks/contention.html", {"report": contention_report(7)})
    assert "Contention over the last 7 days" in html
    assert '<strong aria-current="true">7 days</strong>' in html
    assert 'href="?contention_days=1"' in html and 'href="?contention_days=30"' in html
    assert '<span class="locks-bar" style="width: 100%">' in html
    assert "Merge screen shown" in html
    assert f'<a href="/admin/records/customer/{week["a"].pk}/change/">Acme</a>' in html
    assert "Carol (1), Alice (1)" in html
    assert "1 min 54 s" in html
    assert "<script" not in html


def test_fragment_with_nothing_to_report(db):
    html = render_to_string("locks/contention.html", {"report": contention_report(1)})
    assert "Contention over the last day" in html
    assert "Nobody had to wait for a record in this period." in html


@pytest.mark.parametrize(
    ("value", "days"), [("1", 1), ("30", 30), (None, 7), ("5", 7), ("x", 7), ("-1", 7)]
)
def test_period_from_query_string(value, days):
    assert period_from(value) == days
