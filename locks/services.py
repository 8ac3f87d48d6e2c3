"""The only code that changes locks.

Each operation is one short transaction; the state change itself is one conditional
statement (an upsert or a compare-and-set UPDATE), so two requests can never both win, and
the unique constraint on (content type, object id) is the last word. Expired and idle leases
count as free at once; `release_stale` only tidies up and writes their audit events.

The statements live in `locks.sql`, the audit rows in `locks.audit`, the sweeping of lapsed
locks in `locks.maintenance` (re-exported here).
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.utils.translation import gettext as _

from . import clock, events, sql
from .audit import event, write_event, write_events, write_unannounced
from .conf import lock_settings
from .maintenance import StaleLock, release_stale, seconds_until_next_expiry
from .models import EditLock, LockEvent, live_q
from .policy import LockPolicy, ago, is_lock_manager
from .records import RecordRef, ref_for
from .state import FREE, LockState, display_name

__all__ = [
    "LeaseError",
    "Outcome",
    "StaleLock",
    "acquire",
    "check_lease",
    "decline_handover",
    "force_release",
    "get_state",
    "heartbeat",
    "live_states",
    "new_lease",
    "record_merge_shown",
    "release",
    "release_stale",
    "request_handover",
    "seconds_until_next_expiry",
    "take_over",
]

Kind = LockEvent.Kind


class LeaseError(Exception):
    """A write was attempted without the record's current lease."""

    def __init__(self, state: LockState) -> None:
        super().__init__("The current lease for this record was not presented.")
        self.state = state


@dataclass(frozen=True)
class Outcome:
    """What an operation did. `ok` false means nothing changed; `state` says why."""

    ok: bool
    state: LockState
    lease: str = ""
    detail: str = ""
    message: str = ""  # for the user, when `detail` alone would not tell them enough


def new_lease() -> str:
    return secrets.token_urlsafe(24)


def get_state(obj: models.Model | RecordRef) -> LockState:
    """The record's lock as it is now (one plain query, and one for names when held): the
    read every page load, poll and (re)connecting socket makes."""
    return sql.read_state(ref_for(obj))


def _read_state(ref: RecordRef) -> LockState:
    """The lock in one query (names joined), for an operation's answer after it failed:
    acquire, heartbeat and release keep to two queries."""
    return LockState.from_lock(sql.read(ref))


def _holding(
    user,
    lease: str,
    fence: int,
    acquired_at: Any,
    activity_at: Any,
    now: datetime,
    expires_at: Any,
    unsaved: Any,
) -> LockState:
    """The lock as a statement that just gave or renewed `user`'s lease returned it (raw
    values: SQLite returns text and 0/1), without reading the row again. `now` is the
    database's time the statement wrote."""
    return LockState(
        holder_id=user.pk,
        holder_name=display_name(user),
        lease=lease,
        fence=fence,
        acquired_at=sql.as_datetime(acquired_at),
        heartbeat_at=now,
        activity_at=sql.as_datetime(activity_at),
        expires_at=sql.as_datetime(expires_at),
        unsaved=bool(unsaved),
        as_of=now,
    )


def acquire(
    obj: models.Model | RecordRef, user, lease: str | None = None, *, rotate: bool = False
) -> Outcome:
    """Take the record's lock for one browser tab, or renew that tab's own lease.

    `rotate` renews with a new token (same holding, same fence): a reloaded page gets its
    own lease, so the old page's goodbye (a release with the old token) changes nothing.

    Succeeds when the record is free (never locked, released, expired or idle) or `lease` is
    this tab's current lease. Otherwise nothing changes and the outcome names the holder.
    Two queries at most: the upsert, then the audit events or the holder's details.
    """
    ref = ref_for(obj)
    params = {
        "ct": ref.content_type_id,
        "pk": ref.object_pk,
        "repr": ref.object_repr,
        "user": user.pk,
        "new": new_lease(),
        "own": lease or None,
        "rotate": int(rotate),
    }
    with transaction.atomic(using=sql.conn().alias, savepoint=False):
        row = sql.execute("acquire", params)
        if row is None:
            return Outcome(False, _read_state(ref), detail="held")
        got_lease, fence, acquired_at, prev_holder, prev_lease, prev_end, *rest = row
        _by, _at, was_unsaved, now, ends = rest
        now = sql.as_datetime(now)  # the database's time, as the statement wrote it
        # A reloaded page (rotate) restores its unsaved input and keeps the flag; a page
        # handed the lease by its own save ("Save and continue") starts clean.
        unsaved = bool(was_unsaved) and rotate and prev_end == "renewed"
        state = _holding(user, got_lease, fence, acquired_at, now, now, ends, unsaved)
        if prev_end == "renewed":
            if was_unsaved and not unsaved:  # viewers stop saying so at once
                _announce_unsaved(ref, user, state, now, fence)
            return Outcome(True, state, lease=got_lease, detail="renewed")
        rows = []
        if prev_end:
            rows.append(
                event(
                    prev_end,
                    ref,
                    actor=None,
                    holder_id=prev_holder,
                    lease=prev_lease,
                    fence=fence - 1,
                    at=now,
                )
            )
        rows.append(
            event(
                Kind.ACQUIRED,
                ref,
                actor=user,
                holder_id=user.pk,
                lease=got_lease,
                fence=fence,
                at=now,
            )
        )
        write_events(rows, ref, state, now)
    return Outcome(True, state, lease=got_lease, detail="acquired")


def _announce_unsaved(ref: RecordRef, user, state: LockState, now: datetime, fence: int) -> None:
    """The holder's unsaved-changes flag flipped: viewers hear it (no audit row)."""
    events.publish(
        events.lock_event(
            events.LOCK_UNSAVED,
            ref,
            state.as_public_dict(now),
            now,
            actor_id=user.pk,
            actor=display_name(user),
            holder_id=user.pk,
            fence=fence,
        )
    )


def heartbeat(
    obj: models.Model | RecordRef, user, lease: str, active: bool, unsaved: bool | None = None
) -> Outcome:
    """Keep this tab's lease alive; `active` says the user typed or clicked since the last one.

    `unsaved` is the page's "I have unsaved changes" flag (None: not told, keep it). It is
    stored in the same statement; when it flips, `lock.unsaved` tells the viewers. Pages
    send an extra heartbeat when their flag flips, never one per keystroke.

    A lapsed or replaced lease is refused even if nobody else holds the lock: the page must
    acquire again (and the user learns their lease had lapsed). Two queries at most.
    """
    ref = ref_for(obj)
    params = {
        "ct": ref.content_type_id,
        "pk": ref.object_pk,
        "user": user.pk,
        "own": lease or None,
        "unsaved": unsaved,
    }
    row = sql.execute("heartbeat", params, activity_set=", {activity} = {now}" if active else "")
    if row is None:
        return Outcome(False, _read_state(ref), detail="lost")
    fence, acquired_at, activity_at, handover_by, was_unsaved, is_unsaved, now, ends = row
    now = sql.as_datetime(now)  # the database's time, as the statement wrote it
    if handover_by is not None:
        # Someone asked for the record: read who, so the holder's page can say it. (Should a
        # take-over have committed in between, the answer is the truth as of now: lost.)
        state = _read_state(ref)
        if state.lease != lease:
            return Outcome(False, state, detail="lost")
    else:
        state = _holding(user, lease, fence, acquired_at, activity_at, now, ends, is_unsaved)
    if bool(was_unsaved) != bool(is_unsaved):
        _announce_unsaved(ref, user, state, now, fence)
    return Outcome(True, state, lease=lease, detail="alive")


def release(obj: models.Model | RecordRef, user, lease: str) -> Outcome:
    """Give up this tab's lease (leaving the page, saving). Two queries at most."""
    ref = ref_for(obj)
    params = {"ct": ref.content_type_id, "pk": ref.object_pk, "user": user.pk, "own": lease or None}
    with transaction.atomic(using=sql.conn().alias, savepoint=False):
        row = sql.execute("release", params)
        if row is None:
            return Outcome(False, FREE, detail="not-held")
        fence, object_repr, now = row
        now = sql.as_datetime(now)
        ref = ref._replace(object_repr=ref.object_repr or object_repr)
        write_event(
            Kind.RELEASED,
            ref,
            FREE,
            now,
            actor=user,
            holder_id=user.pk,
            lease=lease,
            fence=fence,
        )
    return Outcome(True, FREE, detail="released")


# ---------------------------------------------------------------- read, check, set, audit


@dataclass(frozen=True)
class Change:
    """What an operation wants done to the lock row it read and checked."""

    kind: str  # the audit event
    detail: str  # the outcome's detail
    state: LockState  # the lock afterwards
    fence: int  # the fence the audit event carries
    values: dict[str, Any] = field(default_factory=dict)  # the columns to set
    lease: str = ""  # the lease the caller gets
    extra: dict[str, Any] = field(default_factory=dict)  # more fields for the announced event


def _change(
    obj: models.Model | RecordRef,
    user,
    reason: str,
    decide: Callable[[EditLock | None, LockState, datetime], Change | Outcome],
) -> Outcome:
    """Read the lock row (locked until commit where the database allows), let `decide` check
    it, then set its `Change` only if the row still carries the lease that was read, and
    record the audit event. Three queries. `decide` returns an Outcome to stop early.

    Times are the database's as the read saw it (the row stays locked until commit where
    the database allows; the compare-and-set guards it elsewhere)."""
    ref = ref_for(obj)
    with transaction.atomic(using=sql.conn().alias):
        lock = sql.read(ref, for_update=True)
        state = LockState.from_lock(lock)
        now = state.as_of or clock.now()  # no row yet: nothing is timed from it
        change = decide(lock, state, now)
        if isinstance(change, Outcome):
            return change
        updated = EditLock.objects.filter(pk=lock.pk, lease=lock.lease, fence=lock.fence).update(
            **change.values
        )
        if not updated:
            return Outcome(False, _read_state(ref), detail="raced")
        write_event(
            change.kind,
            ref._replace(object_repr=ref.object_repr or lock.object_repr),
            change.state,
            now,
            extra=change.extra,
            actor=user,
            holder_id=lock.holder_id,
            lease=lock.lease,
            fence=change.fence,
            reason=reason,
        )
    return Outcome(True, change.state, lease=change.lease, detail=change.detail)


def take_over(
    obj: models.Model | RecordRef, user, reason: str = "", *, lease: str | None = None
) -> Outcome:
    """Move a live lock to `user`'s tab: managers, or the same user from another tab.

    The old lease is void at once. On a free record this is a plain acquire.
    Raises PermissionDenied when the policy says no.
    """
    ref = ref_for(obj)

    def decide(lock: EditLock | None, state: LockState, now: datetime) -> Change | Outcome:
        policy = LockPolicy(state, user, lease, now)
        if policy.is_free:
            return acquire(ref, user)
        if policy.can_edit:
            return Outcome(True, state, lease=lease or "", detail="renewed")
        if not policy.can_take_over:
            raise PermissionDenied("You may not take over this lock.")
        got, fence, expires = new_lease(), lock.fence + 1, now + lock_settings.timeout
        return Change(
            Kind.TAKEN_OVER,
            "taken-over",
            LockState(user.pk, display_name(user), got, fence, now, now, now, expires, as_of=now),
            fence,
            {
                "holder_id": user.pk,
                "lease": got,
                "fence": fence,
                "acquired_at": now,
                "heartbeat_at": now,
                "activity_at": now,
                "expires_at": expires,
                "previous_holder_id": lock.holder_id,
                "previous_lease": lock.lease,
                "previous_end": Kind.TAKEN_OVER,
                "handover_requested_by": None,
                "handover_requested_at": None,
                "unsaved": False,
                "object_repr": ref.object_repr or lock.object_repr,
            },
            lease=got,
        )

    return _change(ref, user, reason, decide)


def force_release(obj: models.Model | RecordRef, user, reason: str = "") -> Outcome:
    """A manager frees someone's lock (live or stale). Raises PermissionDenied otherwise."""
    if not is_lock_manager(user):
        raise PermissionDenied("Only lock managers may release other users' locks.")

    def decide(lock: EditLock | None, state: LockState, now: datetime) -> Change | Outcome:
        if lock is None or lock.holder_id is None:
            return Outcome(False, FREE, detail="not-held")
        return Change(Kind.FORCE_RELEASED, "force-released", FREE, lock.fence, sql.FREED)

    return _change(obj, user, reason, decide)


def request_handover(obj: models.Model | RecordRef, user, message: str = "") -> Outcome:
    """Ask the holder to hand the record over; they see it on their page at once.

    A user asks the holder of a record once per `LOCKS_HANDOVER_REQUEST_INTERVAL`: asking
    again sooner is refused (`detail` "asked-recently", with a message) and writes nothing.
    A new holder (a new lease, by take-over or after the lock was free) may be asked at once.
    """

    def decide(lock: EditLock | None, state: LockState, now: datetime) -> Change | Outcome:
        if not LockPolicy(state, user, None, now).held_by_other_user:
            return Outcome(False, state, detail="not-held-by-other")
        asked = _asked_at(lock, user, now)
        if asked is not None:
            wait = asked + lock_settings.handover_request_interval - now
            text = _(
                "You asked %(holder)s to hand this record over %(ago)s ago; you can ask "
                "again in %(wait)d s."
            ) % {
                "holder": state.holder_name,
                "ago": ago(asked, now),
                "wait": math.ceil(wait.total_seconds()),
            }
            return Outcome(False, state, detail="asked-recently", message=text)
        return Change(
            Kind.HANDOVER_REQUESTED,
            "requested",
            replace(
                state,
                handover_requested_by=display_name(user),
                handover_requested_at=now,
                handover_requested_by_id=user.pk,
            ),
            lock.fence,
            {"handover_requested_by_id": user.pk, "handover_requested_at": now},
        )

    return _change(obj, user, message, decide)


def record_merge_shown(obj: models.Model | RecordRef, user, state: LockState) -> None:
    """Record that `user`'s save was refused for an older version and shown as the merge
    screen (the contention report counts these), with the lock as `state` says it is.
    One insert, timed by the database's clock; no page is told: no lock changed."""
    live = state.is_live()
    write_unannounced(
        Kind.MERGE_SHOWN,
        ref_for(obj),
        state.as_of or clock.expression(),
        actor=user,
        holder_id=state.holder_id if live else None,
        lease=state.lease if live else "",
        fence=state.fence,
    )


def _asked_at(lock: EditLock, user, now: datetime) -> datetime | None:
    """When `user` last asked for this holding of the lock, if within the interval.

    The lock row names the last asker (reset when the lease changes hands), so a repeat costs
    no query; only when someone else asked since does the audit trail say whether `user` asked
    before them.
    """
    since = now - lock_settings.handover_request_interval
    if lock.handover_requested_by_id is None or lock.handover_requested_at <= since:
        return None  # nobody asked this holder within the interval
    if lock.handover_requested_by_id == user.pk:
        return lock.handover_requested_at
    return (
        LockEvent.objects.filter(
            content_type_id=lock.content_type_id,
            object_pk=lock.object_pk,
            at__gt=since,
            kind=Kind.HANDOVER_REQUESTED,
            actor_id=user.pk,
            fence=lock.fence,
        )
        .values_list("at", flat=True)
        .first()
    )


def decline_handover(
    obj: models.Model | RecordRef, holder, lease: str, reason: str = ""
) -> Outcome:
    """The holder says no to the pending handover request and keeps editing.

    Only the tab with the current lease may. The request is cleared; `lock.handover_declined`
    names the requester (`handover_requested_by_id`) so their page can say so, with `reason`.
    Three queries, as the other guarded operations."""

    def decide(lock: EditLock | None, state: LockState, now: datetime) -> Change | Outcome:
        policy = LockPolicy(state, holder, lease, now)
        if not policy.can_edit:
            return Outcome(False, state, detail="lost")
        if not policy.can_decline_handover:
            return Outcome(False, state, detail="not-requested")
        return Change(
            Kind.HANDOVER_DECLINED,
            "declined",
            replace(
                state,
                handover_requested_by="",
                handover_requested_at=None,
                handover_requested_by_id=None,
            ),
            lock.fence,
            {"handover_requested_by_id": None, "handover_requested_at": None},
            lease=lease,
            extra={"handover_requested_by_id": lock.handover_requested_by_id},
        )

    return _change(obj, holder, reason, decide)


# ---------------------------------------------------------------- reads for write paths and lists


def check_lease(obj: models.Model | RecordRef, user, lease: str | None) -> LockState:
    """For write paths: return the lock if `lease` is this user's current lease, else raise
    LeaseError. Inside a transaction on PostgreSQL the lock row stays locked until commit,
    so nobody can take the lock between this check and the write."""
    ref = ref_for(obj)
    in_transaction = not sql.conn().get_autocommit()
    state = sql.read_state(ref, for_update=in_transaction, known=user)
    if not (lease and LockPolicy(state, user, lease).can_edit):
        raise LeaseError(state)
    return state


def live_states(model: type[models.Model], pks: list[Any]) -> dict[str, LockState]:
    """Current locks of several records of one model (for change lists), in one query."""
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(model, for_concrete_model=False)
    locks = EditLock.objects.with_clock().filter(
        live_q(), content_type=ct, object_pk__in=[str(p) for p in pks]
    )
    return {lock.object_pk: LockState.from_lock(lock) for lock in locks.select_related("holder")}
