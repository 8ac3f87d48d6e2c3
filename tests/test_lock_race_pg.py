"""Race tests on PostgreSQL: 16 real threads, 200 rounds, one record.

Every thread is one browser tab (some tabs share a user, some belong to lock managers) calling
the service layer at the same moment as the others. Time comes from one thread-safe fake clock
that only moves between rounds, while every thread waits at the barrier, so leases expire and
go idle without sleeping and every thread knows exactly when its own lease runs out.

What a user would notice, and what is checked:

- two tabs believing they hold a live lease at the same instant (checked between rounds and,
  with the row locked by `check_lease` inside a transaction, right after every new lease);
- a fencing number that does not grow with each new lease, or skips or repeats one;
- a lost renewal: the current holder's heartbeat on a live lease refused without a take-over or
  force-release in the audit trail;
- more than one lock row for the record;
- an audit trail that does not match what the callers were told (one "acquired" per new
  acquisition, every replaced lease ended exactly once).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction

from locks import services
from locks.clock import FakeClock, use_clock
from locks.conf import lock_settings
from locks.models import EditLock, LockEvent
from tests.conftest import EDITOR, make_user, require_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16
ROUNDS = 200
STAMPEDE_ROUNDS = 100
JOIN_TIMEOUT = 120

Kind = LockEvent.Kind
ENDINGS = (Kind.RELEASED, Kind.EXPIRED, Kind.IDLE_RELEASED, Kind.TAKEN_OVER, Kind.FORCE_RELEASED)
SUPERSEDED = (Kind.TAKEN_OVER, Kind.FORCE_RELEASED)


class ThreadSafeClock(FakeClock):
    """One fake clock read by every thread; moved only between rounds."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


@dataclass
class Tab:
    """One browser tab: who it is, and what it believes about its lease."""

    index: int
    user: object
    manager: bool
    rng: random.Random
    lease: str = ""
    fence: int = 0
    expires: datetime | None = None
    activity: datetime | None = None
    fences_seen: list[int] = field(default_factory=list)

    def live(self, now: datetime) -> bool:
        """Whether this tab's lease is live by its own bookkeeping (exact: one clock)."""
        return bool(
            self.lease and self.expires > now and self.activity > now - lock_settings.idle_timeout
        )

    def forget(self) -> None:
        self.lease, self.fence, self.expires, self.activity = "", 0, None, None


class Race:
    """Run `step(tab, round)` in every thread, round after round, all starting together; run
    `between(round)` in one thread while the others wait at the barrier."""

    def __init__(self, tabs, step, between, rounds: int = ROUNDS) -> None:
        self.tabs, self.step, self.between, self.rounds = tabs, step, between, rounds
        self.errors: list[BaseException] = []
        self.round = -1  # the first barrier only starts the race
        self.barrier = threading.Barrier(len(tabs), action=self._between)

    def _between(self) -> None:
        try:
            if self.round >= 0:
                self.between(self.round)
        finally:
            self.round += 1

    def _run(self, tab: Tab) -> None:
        try:
            self.barrier.wait()  # start together
            for round_no in range(self.rounds):
                self.step(tab, round_no)
                self.barrier.wait()
        except threading.BrokenBarrierError:
            pass  # another thread failed: its error is reported
        except BaseException as exc:
            self.errors.append(exc)
            self.barrier.abort()
        finally:
            connection.close()

    def run(self) -> None:
        threads = [
            threading.Thread(target=self._run, args=(tab,), name=f"tab-{tab.index}")
            for tab in self.tabs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)
        assert not any(thread.is_alive() for thread in threads), "threads hung"
        if self.errors:
            raise self.errors[0]
        assert self.round == self.rounds, "the race stopped early"


def make_tabs(editors: int, managers: int, tabs_per_user: int, seed: int) -> list[Tab]:
    tabs: list[Tab] = []
    for u in range(editors + managers):
        manager = u >= editors
        perms = [*EDITOR, "locks.manage_locks"] if manager else EDITOR
        user = make_user(f"{'manager' if manager else 'editor'}{u}", *perms)
        for _ in range(tabs_per_user):
            index = len(tabs)
            tabs.append(Tab(index, user, manager, random.Random(seed * 1000 + index)))
    assert len(tabs) == THREADS
    return tabs


def lease_passes(contact, user, lease: str) -> bool:
    try:
        services.check_lease(contact, user, lease)
    except services.LeaseError:
        return False
    return True


def lock_rows(contact) -> int:
    return EditLock.objects.for_object(contact).count()


@pytest.fixture
def contact(db):
    from tests.lockapp.models import Contact

    return Contact.objects.create(name="Race Record", email="race@example.com", status="active")


# ---------------------------------------------------------------- everyone opens the form


def test_stampede_exactly_one_tab_wins_each_free_record(contact):
    """100 rounds. Each round the record is free and all 16 tabs (8 users x 2 tabs) acquire
    at the same instant: exactly one wins, with the next fencing number; the losers are told
    who holds it. Between rounds the winner's lease ends in turn by release, expiry (exactly
    at the deadline), idling, a manager's force-release, or expiry tidied by release_stale."""
    require_postgres()
    tabs = make_tabs(editors=8, managers=0, tabs_per_user=2, seed=1)
    carol = make_user("carol", *EDITOR, "locks.manage_locks")
    clock = ThreadSafeClock()
    guard = threading.Lock()
    results: dict[int, list[tuple[Tab, services.Outcome]]] = {r: [] for r in range(STAMPEDE_ROUNDS)}
    old_leases: list[tuple[object, str]] = []
    endings: Counter[str] = Counter()

    def step(tab: Tab, round_no: int) -> None:
        outcome = services.acquire(contact, tab.user)
        with guard:
            results[round_no].append((tab, outcome))

    def between(round_no: int) -> None:
        now = clock.now()
        winners = [(tab, out) for tab, out in results[round_no] if out.ok]
        assert len(results[round_no]) == THREADS
        assert len(winners) == 1, f"round {round_no}: {len(winners)} tabs acquired the lock"
        winner, won = winners[0]
        assert won.detail == "acquired"
        assert won.state.fence == round_no + 1, "the fencing number must grow by one per lease"
        for tab, out in results[round_no]:
            if tab is not winner:
                assert out.detail == "held"
                assert out.state.holder_id == winner.user.pk
                assert out.state.is_live(now)
        with transaction.atomic():
            state = services.check_lease(contact, winner.user, won.lease)  # row locked
            assert state.fence == round_no + 1
            for user, lease in old_leases[-2:]:
                assert not lease_passes(contact, user, lease), "an old lease passed"
            other = next(tab for tab in tabs if tab.user.pk != winner.user.pk)
            assert not lease_passes(contact, other.user, won.lease), "someone else's lease"

        assert lock_rows(contact) == 1
        old_leases.append((winner.user, won.lease))
        # End the lease so the next round starts on a free record.
        how = ("release", "expire", "idle", "force", "stale")[round_no % 5]
        if how == "release":
            assert services.release(contact, winner.user, won.lease).ok
            endings[Kind.RELEASED] += 1
            clock.advance(1)
        elif how == "expire":
            clock.advance(lock_settings.TIMEOUT)  # exactly at the deadline: free
            endings[Kind.EXPIRED] += 1
        elif how == "idle":
            clock.advance(lock_settings.IDLE_TIMEOUT + 1)
            endings[Kind.IDLE_RELEASED] += 1
        elif how == "force":
            assert services.force_release(contact, carol, "stampede").ok
            endings[Kind.FORCE_RELEASED] += 1
            clock.advance(1)
        else:
            clock.advance(lock_settings.TIMEOUT + 1)
            assert [s.kind for s in services.release_stale()] == [Kind.EXPIRED]
            endings[Kind.EXPIRED] += 1
        assert not services.get_state(contact).is_live(clock.now())

    with use_clock(clock):
        Race(tabs, step, between, rounds=STAMPEDE_ROUNDS).run()

    events = Counter(
        LockEvent.objects.filter(object_pk=str(contact.pk)).values_list("kind", flat=True)
    )
    assert events[Kind.ACQUIRED] == STAMPEDE_ROUNDS
    # The last round's lease was ended after the race too, but an expiry or idling without a
    # later acquire or release_stale leaves no event yet.
    last = ("release", "expire", "idle", "force", "stale")[(STAMPEDE_ROUNDS - 1) % 5]
    if last in ("expire", "idle"):
        endings[Kind.EXPIRED if last == "expire" else Kind.IDLE_RELEASED] -= 1
    for kind in ENDINGS:
        assert events[kind] == endings[kind], kind
    assert EditLock.objects.for_object(contact).get().fence == STAMPEDE_ROUNDS


# ---------------------------------------------------------------- everything at once


def test_mixed_race_keeps_one_holder_growing_fences_and_no_lost_renewals(contact, settings):
    """16 tabs: 6 editors with 2 tabs each (so a user can take over from their other tab) and
    2 managers with 2 tabs each. Each round every tab does one thing: holders heartbeat (active
    or not), save (check_lease in a transaction), renew, release or go quiet; the others
    acquire, take over, force-release, ask for a handover or tidy stale locks. Between rounds
    the clock moves by 0 s to past the idle timeout, here 120 s so that a holder sending only
    inactive heartbeats goes idle within the race."""
    require_postgres()
    settings.LOCKS_TIMEOUT = 45
    settings.LOCKS_IDLE_TIMEOUT = 120
    tabs = make_tabs(editors=6, managers=2, tabs_per_user=2, seed=2)
    clock = ThreadSafeClock()
    guard = threading.Lock()
    told: Counter[str] = Counter()  # what the callers were told
    granted: list[tuple[int, str]] = []  # (fence, lease) of every new lease
    verified_fences: list[int] = []  # new leases verified while holding the row lock
    rng = random.Random(3)
    # Seconds between rounds, and how often: mostly within the timeout, sometimes at or past
    # it, now and then past the idle timeout.
    steps = [0, 5, 15, 30, 44, 45, 46, lock_settings.IDLE_TIMEOUT + 1]
    weights = [20, 20, 20, 10, 5, 5, 5, 2]

    def snapshot() -> list[tuple[Tab, object, str]]:
        with guard:
            return [(t, t.user, t.lease) for t in tabs if t.lease]

    def superseded(lease: str) -> bool:
        return LockEvent.objects.filter(lease=lease, kind__in=SUPERSEDED).exists()

    def lost(tab: Tab, now: datetime, what: str) -> None:
        """The tab learnt its lease is gone: that must have a visible reason."""
        if tab.live(now):
            assert superseded(tab.lease), (
                f"{what}: tab {tab.index} lost a live lease (fence {tab.fence}) "
                "without a take-over or force-release"
            )
        with guard:
            tab.forget()

    def new_lease(tab: Tab, outcome: services.Outcome, now: datetime) -> None:
        assert outcome.lease and outcome.state.lease == outcome.lease
        fence = outcome.state.fence
        assert not tab.fences_seen or fence > tab.fences_seen[-1], "fence went backwards"
        tab.fences_seen.append(fence)
        with guard:
            granted.append((fence, outcome.lease))
            tab.lease, tab.fence = outcome.lease, fence
            tab.expires, tab.activity = now + lock_settings.timeout, now
        saved(tab, now, after_grant=True)

    def saved(tab: Tab, now: datetime, after_grant: bool = False) -> None:
        """A save: the lease check locks the row until commit, so nobody can change the lock
        meanwhile and no other tab's lease may pass."""
        others = [(user, lease) for t, user, lease in snapshot() if t is not tab]
        with transaction.atomic():
            try:
                state = services.check_lease(contact, tab.user, tab.lease)
            except services.LeaseError:
                passed = False
            else:
                passed = True
                assert state.fence == tab.fence
                assert tab.live(now), "a lapsed lease passed check_lease"
                for user, lease in others:
                    assert not lease_passes(contact, user, lease), "two tabs hold the lock"
                if after_grant:
                    with guard:
                        assert not verified_fences or tab.fence > verified_fences[-1]
                        verified_fences.append(tab.fence)
                type(contact).objects.filter(pk=contact.pk).update(notes=f"tab {tab.index}")
                # Until commit nobody can take the lock away (a plain read sees commits).
                current = EditLock.objects.for_object(contact).values_list("lease", flat=True)
                assert current.get() == tab.lease, "the lock changed hands during a save"
        with guard:
            told["save-ok" if passed else "save-refused"] += 1
        if not passed:
            lost(tab, now, "save")

    def holder_step(tab: Tab, now: datetime) -> None:
        """The holder's page heartbeats every round (unless the laptop closed), and sometimes
        also saves, reopens the form (renew) or leaves (release)."""
        if tab.rng.random() < 0.08:
            return  # quiet: the lease runs out unless time stands still
        active = tab.rng.random() < 0.7
        outcome = services.heartbeat(contact, tab.user, tab.lease, active)
        if not outcome.ok:
            lost(tab, now, "heartbeat")  # never a lost renewal
            return
        assert tab.live(now), "a lapsed lease was renewed by a heartbeat"
        assert outcome.lease == tab.lease
        assert outcome.state.fence == tab.fence, "a heartbeat renewed someone else's lease"
        with guard:
            tab.expires = now + lock_settings.timeout
            if active:
                tab.activity = now
            told["heartbeat-ok"] += 1
        roll = tab.rng.random()
        if roll < 0.25:
            saved(tab, now)
        elif roll < 0.35:
            outcome = services.acquire(contact, tab.user, tab.lease)
            if outcome.ok and outcome.detail == "renewed":
                assert tab.live(now), "a lapsed lease was renewed"
                assert outcome.lease == tab.lease
                with guard:
                    tab.expires, tab.activity = now + lock_settings.timeout, now
                    told["renewed"] += 1
            else:
                lost(tab, now, "renew")
                if outcome.ok:
                    with guard:
                        told["acquired"] += 1
                    new_lease(tab, outcome, now)
        elif roll < 0.43:
            old = tab.lease
            outcome = services.release(contact, tab.user, old)
            with guard:
                told["released" if outcome.ok else "release-refused"] += 1
                tab.forget()
            if not outcome.ok:
                # Release works on a lapsed lease too: only a newer lease (or a tidy-up)
                # may have replaced it.
                assert EditLock.objects.for_object(contact).get().lease != old

    def other_step(tab: Tab, now: datetime) -> None:
        roll = tab.rng.random()
        if roll < (0.05 if tab.manager else 0.03):
            try:
                outcome = services.take_over(contact, tab.user, "race")
            except PermissionDenied:
                assert not tab.manager, "a manager was refused a take-over"
                with guard:
                    told["take-over-denied"] += 1
                return
            assert outcome.detail != "renewed"  # this tab presented no lease
            if outcome.ok:
                with guard:
                    told[outcome.detail] += 1
                new_lease(tab, outcome, now)
        elif tab.manager and roll < 0.08:
            outcome = services.force_release(contact, tab.user, "race")
            with guard:
                told["force-released" if outcome.ok else "force-release-missed"] += 1
        elif roll < 0.14:
            outcome = services.request_handover(contact, tab.user, "please")
            with guard:
                told["requested" if outcome.ok else "request-missed"] += 1
        elif roll < 0.18:
            services.release_stale()
        else:
            outcome = services.acquire(contact, tab.user)
            with guard:
                told["acquired" if outcome.ok else "held"] += 1
            if outcome.ok:
                assert outcome.detail == "acquired"
                new_lease(tab, outcome, now)

    def step(tab: Tab, round_no: int) -> None:
        now = clock.now()
        if tab.lease:
            holder_step(tab, now)
        else:
            other_step(tab, now)

    def between(round_no: int) -> None:
        now = clock.now()
        assert lock_rows(contact) <= 1
        believers = [t for t in tabs if t.live(now)]
        gone = set(
            LockEvent.objects.filter(
                lease__in=[t.lease for t in believers], kind__in=SUPERSEDED
            ).values_list("lease", flat=True)
        )
        holders = [t for t in believers if t.lease not in gone]
        assert len(holders) <= 1, f"round {round_no}: tabs {[t.index for t in holders]} hold"
        state = services.get_state(contact)
        # A live lock is held by exactly the one tab that believes it holds it: no lock that
        # nobody knows of, and nobody holding a lock the database gave to someone else.
        assert state.is_live(now) == bool(holders), (round_no, state, holders)
        if holders:
            holder = holders[0]
            assert (state.lease, state.fence, state.holder_id) == (
                holder.lease,
                holder.fence,
                holder.user.pk,
            )
            with transaction.atomic():
                assert lease_passes(contact, holder.user, holder.lease)
                for t in tabs:
                    if t is not holder and t.lease:
                        assert not lease_passes(contact, t.user, t.lease)
        # Time passes: mostly a little, sometimes past the timeout or the idle timeout.
        clock.advance(rng.choices(steps, weights)[0])

    with use_clock(clock):
        Race(tabs, step, between).run()

    assert lock_rows(contact) == 1
    row = EditLock.objects.for_object(contact).get()
    fences = sorted(fence for fence, _lease in granted)
    assert fences == list(range(1, row.fence + 1)), "each new lease gets the next fence, once"
    assert verified_fences == sorted(set(verified_fences))
    events = Counter(
        LockEvent.objects.filter(object_pk=str(contact.pk)).values_list("kind", flat=True)
    )
    assert events[Kind.ACQUIRED] == told["acquired"]
    assert events[Kind.TAKEN_OVER] == told["taken-over"]
    assert events[Kind.RELEASED] == told["released"]
    assert events[Kind.FORCE_RELEASED] == told["force-released"]
    assert events[Kind.HANDOVER_REQUESTED] == told["requested"]
    assert told["acquired"] + told["taken-over"] == len(granted)
    # Every lease that was replaced or freed ended exactly once in the audit trail.
    ended = Counter(
        LockEvent.objects.filter(kind__in=ENDINGS, object_pk=str(contact.pk)).values_list(
            "lease", flat=True
        )
    )
    for _fence, lease in granted:
        assert ended[lease] == (0 if lease == row.lease else 1), lease
    # The race really raced: all the interesting outcomes happened.
    for what in ("acquired", "taken-over", "released", "force-released", "heartbeat-ok"):
        assert told[what] > 0, (what, told)
    assert told["save-ok"] > 0
