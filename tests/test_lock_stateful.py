"""The lock service layer against a small pure-Python model, driven by Hypothesis.

Hypothesis runs random sequences of acquire / heartbeat / release / take-over / force-release /
handover requests / time passing / stale clean-up for three users (alice and bob edit, carol
manages locks), each with two browser tabs, on one record. After every step the database must
agree with the model: who holds the lock, whether it is live, which lease is current (only that
one passes `check_lease`), the fencing number (never decreasing) and the audit trail.

Choices are biased towards the interesting cases: the holder's own tab acts often, leases
presented may be the tab's own, the current one (someone else's), an old one or none, and time
can jump to just before, at or just after the expiry and idle deadlines.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from locks import services
from locks.clock import FakeClock, use_clock
from locks.conf import lock_settings
from locks.models import EditLock, LockEvent
from tests.conftest import EDITOR, make_user

MANAGER = "carol"
USERS = ("alice", "bob", MANAGER)
TABS = tuple((user, tab) for user in USERS for tab in (1, 2))
# "holder" is the tab holding the current lease (if any): weighted so it acts often.
ACTORS = st.sampled_from(("holder", "holder", "holder", *TABS))
LEASES = st.sampled_from(("own", "own", "none", "current", "old"))
# Around LOCKS_TIMEOUT (45 s) and LOCKS_IDLE_TIMEOUT (1800 s, or 100 s in the short-idle run);
# 0.5 mixes timestamps with and without microseconds (SQLite compares them as text).
STEPS = st.sampled_from((0.5, 1, 10, 30, 44, 45, 46, 99, 100, 101, 1799, 1800, 1801))
# Whole seconds: the stored timestamps have no fractional part until a 0.5 s step.
START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)

Kind = LockEvent.Kind


def get_user(name: str) -> User:
    user = User.objects.filter(username=name).first()
    if user is None:
        perms = [*EDITOR, "locks.manage_locks"] if name == MANAGER else EDITOR
        user = make_user(name, *perms)
    return User.objects.get(pk=user.pk)  # fresh: no permission cache from another example


@dataclass
class ModelLock:
    """What the lock should be: the reference the service is compared with."""

    holder: str | None = None
    lease: str = ""
    fence: int = 0
    expires: datetime | None = None
    activity: datetime | None = None
    handover_by: str | None = None
    tab: tuple[str, int] | None = None  # which tab got the lease

    def live(self, now: datetime) -> bool:
        return (
            self.holder is not None
            and self.expires > now
            and self.activity > now - lock_settings.idle_timeout
        )

    def lapse_kind(self, now: datetime) -> str:
        """How a held but no longer live lease ended."""
        if self.activity <= now - lock_settings.idle_timeout:
            return Kind.IDLE_RELEASED
        return Kind.EXPIRED


class LockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # The test's transaction wraps every example: start each one from empty tables.
        EditLock.objects.all().delete()
        LockEvent.objects.all().delete()
        from tests.lockapp.models import Contact

        self.users = {name: get_user(name) for name in USERS}
        self.contact = Contact.objects.filter(email="ada@example.com").first()
        if self.contact is None:
            self.contact = Contact.objects.create(
                name="Ada Lovelace", email="ada@example.com", status="active"
            )
        self.clock = FakeClock(START)
        self._clock_context = use_clock(self.clock)
        self._clock_context.__enter__()
        self.model = ModelLock()
        self.tabs: dict[tuple[str, int], str] = dict.fromkeys(TABS, "")
        self.old_leases: list[str] = []
        self.events: Counter[str] = Counter()
        self.max_fence = 0
        # When each user last asked each lease (by fence) to hand over: once per
        # LOCKS_HANDOVER_REQUEST_INTERVAL.
        self.asked: dict[tuple[str, int], datetime] = {}

    def teardown(self) -> None:
        self._clock_context.__exit__(None, None, None)
        EditLock.objects.all().delete()
        LockEvent.objects.all().delete()

    # ------------------------------------------------------------ helpers

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def pk(self, name: str | None) -> int | None:
        return self.users[name].pk if name else None

    def actor(self, choice) -> tuple[str, int]:
        if choice == "holder":
            return self.model.tab or TABS[0]
        return choice

    def lease_for(self, tab: tuple[str, int], choice: str) -> str | None:
        if choice == "own":
            return self.tabs[tab]
        if choice == "current":
            return self.model.lease
        if choice == "old":
            return self.old_leases[-1] if self.old_leases else ""
        return None

    def replaced(self, tab: tuple[str, int], outcome: services.Outcome, **fields) -> None:
        """The model after `tab` got a new lease: fence + 1, the old lease is void."""
        old, now = self.model, self.now
        assert outcome.ok, outcome
        assert outcome.lease, outcome
        assert outcome.lease not in {*self.tabs.values(), *self.old_leases}
        assert outcome.state.fence == old.fence + 1, (outcome, old)
        assert outcome.state.lease == outcome.lease
        assert outcome.state.holder_id == self.pk(tab[0])
        if old.lease:
            self.old_leases.append(old.lease)
        self.model = ModelLock(
            tab[0], outcome.lease, old.fence + 1, now + lock_settings.timeout, now, tab=tab
        )
        self.tabs[tab] = outcome.lease

    def acquired(self, tab: tuple[str, int], outcome: services.Outcome) -> None:
        """A new lease on a free, released or lapsed lock."""
        old, now = self.model, self.now
        assert not old.live(now)
        assert outcome.detail == "acquired", outcome
        if old.holder is not None:
            self.events[old.lapse_kind(now)] += 1
        self.events[Kind.ACQUIRED] += 1
        self.replaced(tab, outcome)

    def freed(self) -> None:
        if self.model.lease:
            self.old_leases.append(self.model.lease)
        self.model = ModelLock(fence=self.model.fence, activity=self.model.activity)

    # ------------------------------------------------------------ rules

    @rule(actor=ACTORS, lease_choice=LEASES)
    def acquire(self, actor, lease_choice):
        """Open the change form, presenting this tab's lease, someone else's, an old or none."""
        tab = self.actor(actor)
        user, lease = tab[0], self.lease_for(tab, lease_choice)
        model, now = self.model, self.now
        outcome = services.acquire(self.contact, self.users[user], lease)
        if model.live(now) and model.holder == user and lease and lease == model.lease:
            assert outcome.ok, outcome
            assert outcome.detail == "renewed"
            assert outcome.lease == lease
            assert outcome.state.fence == model.fence
            model.expires, model.activity = now + lock_settings.timeout, now
        elif not model.live(now):
            self.acquired(tab, outcome)
        else:
            assert not outcome.ok, outcome
            assert outcome.detail == "held"
            assert outcome.state.holder_id == self.pk(model.holder)
            assert outcome.state.fence == model.fence

    @rule(actor=ACTORS, active=st.booleans())
    def heartbeat(self, actor, active):
        self.beat(self.actor(actor), active)

    @rule(beats=st.integers(1, 50))
    def away_from_keyboard(self, beats):
        """The holder's page stays open with nobody at it: a heartbeat without activity just
        before each expiry, until the idle timeout takes the lock."""
        tab = self.actor("holder")
        for _ in range(beats):
            self.clock.advance(lock_settings.TIMEOUT - 1)
            self.beat(tab, active=False)

    def beat(self, tab, active):
        user, lease = tab[0], self.tabs[tab]
        model, now = self.model, self.now
        outcome = services.heartbeat(self.contact, self.users[user], lease, active)
        if lease and model.live(now) and model.holder == user and model.lease == lease:
            # Never a lost renewal: the current lease of a live lock is always renewed.
            assert outcome.ok, outcome
            assert outcome.detail == "alive"
            assert outcome.lease == lease
            assert outcome.state.lease == lease
            assert outcome.state.fence == model.fence
            model.expires = now + lock_settings.timeout
            if active:
                model.activity = now
        else:
            assert not outcome.ok, outcome
            assert outcome.detail == "lost"

    @rule(actor=ACTORS, lease_choice=LEASES)
    def release(self, actor, lease_choice):
        tab = self.actor(actor)
        user, lease = tab[0], self.lease_for(tab, lease_choice)
        model = self.model
        outcome = services.release(self.contact, self.users[user], lease)
        # Releasing needs the holder's lease, live or lapsed, as long as nobody replaced it.
        if lease and model.holder == user and model.lease == lease:
            assert outcome.ok, outcome
            assert outcome.detail == "released"
            self.events[Kind.RELEASED] += 1
            self.freed()
        else:
            assert not outcome.ok, outcome
            assert outcome.detail == "not-held"

    @rule(actor=ACTORS, with_lease=st.booleans())
    def take_over(self, actor, with_lease):
        tab = self.actor(actor)
        user = tab[0]
        lease = self.tabs[tab] if with_lease else None
        model, now = self.model, self.now
        if model.live(now) and model.holder != user and user != MANAGER:
            with pytest.raises(PermissionDenied):
                services.take_over(self.contact, self.users[user], "", lease=lease)
            return
        outcome = services.take_over(self.contact, self.users[user], "need it", lease=lease)
        if not model.live(now):
            self.acquired(tab, outcome)
        elif model.holder == user and lease and lease == model.lease:
            assert outcome.ok, outcome
            assert outcome.detail == "renewed"
            assert outcome.lease == lease
        else:
            # The same user's other tab, or a manager: a new lease, the old one is void.
            assert outcome.detail == "taken-over", outcome
            self.events[Kind.TAKEN_OVER] += 1
            self.replaced(tab, outcome)

    @rule(user=st.sampled_from(USERS))
    def force_release(self, user):
        if user != MANAGER:
            with pytest.raises(PermissionDenied):
                services.force_release(self.contact, self.users[user], "no")
            return
        outcome = services.force_release(self.contact, self.users[user], "stuck")
        if self.model.holder is None:
            assert not outcome.ok, outcome
            assert outcome.detail == "not-held"
        else:
            assert outcome.ok, outcome
            assert outcome.detail == "force-released"
            self.events[Kind.FORCE_RELEASED] += 1
            self.freed()

    @rule(user=st.sampled_from(USERS))
    def request_handover(self, user):
        model = self.model
        outcome = services.request_handover(self.contact, self.users[user], "please")
        asked = self.asked.get((user, model.fence))
        if model.live(self.now) and model.holder != user:
            if asked and self.now - asked < lock_settings.handover_request_interval:
                assert not outcome.ok, outcome
                assert outcome.detail == "asked-recently"
                return
            assert outcome.ok, outcome
            assert outcome.detail == "requested"
            self.events[Kind.HANDOVER_REQUESTED] += 1
            model.handover_by = user
            self.asked[(user, model.fence)] = self.now
        else:
            assert not outcome.ok, outcome
            assert outcome.detail == "not-held-by-other"

    @rule(seconds=STEPS)
    def advance(self, seconds):
        self.clock.advance(seconds)

    @rule(deadline=st.sampled_from(("expiry", "idle")), offset=st.sampled_from((-1, 0, 1)))
    def advance_to_deadline(self, deadline, offset):
        """Move time to just before, exactly at or just after the holder's deadline."""
        model = self.model
        if model.holder is None:
            return
        if deadline == "expiry":
            target = model.expires
        else:
            target = model.activity + lock_settings.idle_timeout
        target += timedelta(seconds=offset)
        if target > self.now:
            self.clock.advance((target - self.now).total_seconds())

    @rule()
    def release_stale(self):
        model, now = self.model, self.now
        done = services.release_stale()
        if model.holder is not None and not model.live(now):
            kind = model.lapse_kind(now)
            assert [item.kind for item in done] == [kind]
            self.events[kind] += 1
            self.freed()
        else:
            assert done == []

    # ------------------------------------------------------------ invariants

    @invariant()
    def service_agrees_with_model(self):
        model, now = self.model, self.now
        state = services.get_state(self.contact)
        assert state.is_live(now) == model.live(now)
        assert state.holder_id == self.pk(model.holder)
        assert state.lease == model.lease
        assert state.fence == model.fence
        assert state.fence >= self.max_fence
        self.max_fence = state.fence
        expected_by = self.users[model.handover_by].first_name if model.handover_by else ""
        assert state.handover_requested_by == expected_by
        if model.holder is not None:
            assert state.expires_at == model.expires
            assert state.activity_at == model.activity

    @invariant()
    def only_the_current_lease_passes(self):
        model, now = self.model, self.now
        presented = {(user, lease) for (user, _tab), lease in self.tabs.items()}
        # Somebody else presenting the current lease is refused, as is every old lease.
        presented |= {(user, model.lease) for user in USERS}
        presented |= {(model.holder or "alice", lease) for lease in self.old_leases[-3:]}
        for user, lease in presented:
            expected = bool(model.live(now) and lease and lease == model.lease)
            expected = expected and user == model.holder
            try:
                services.check_lease(self.contact, self.users[user], lease)
            except services.LeaseError:
                passed = False
            else:
                passed = True
            assert passed == expected, (user, lease, model)

    @invariant()
    def audit_trail_matches(self):
        counts = Counter(LockEvent.objects.values_list("kind", flat=True))
        assert counts == +self.events


def run_machine(max_examples: int) -> None:
    run_state_machine_as_test(
        LockMachine,
        settings=hypothesis_settings(
            max_examples=max_examples,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


@pytest.mark.django_db
def test_lock_service_matches_model():
    """Default timeouts: 45 s without heartbeat, 1800 s without activity."""
    run_machine(max_examples=25)


@pytest.mark.django_db
def test_lock_service_matches_model_with_short_idle_timeout(settings):
    """A 100 s idle timeout, so a holder sending only inactive heartbeats can go idle within
    a few steps."""
    settings.LOCKS_TIMEOUT = 45
    settings.LOCKS_IDLE_TIMEOUT = 100
    run_machine(max_examples=20)
