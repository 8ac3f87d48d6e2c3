"""The only code that changes locks.

Each operation is one short transaction; the state change itself is one conditional
statement (an upsert or a compare-and-set UPDATE), so two requests can never both win, and
the unique constraint on (content type, object id) is the last word. Expired and idle leases
count as free at once; `release_stale` only tidies up and writes their audit events.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import connections, models, router, transaction
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from . import clock, events
from .conf import lock_settings
from .models import EditLock, LockEvent, live_q, stale_q
from .policy import LockPolicy, ago, is_lock_manager
from .records import RecordRef, ref_for
from .state import FREE, LockState, display_name

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


# ---------------------------------------------------------------- low-level SQL helpers


def _conn():
    return connections[router.db_for_write(EditLock)]


def _q(name: str) -> str:
    return _conn().ops.quote_name(name)


def _dt(value: datetime) -> Any:
    return _conn().ops.adapt_datetimefield_value(value)


def _as_datetime(value: Any) -> datetime | None:
    """Raw SQL returns text on SQLite; make it an aware datetime like the ORM would."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed and parsed.tzinfo is None else parsed


def _read(ref: RecordRef, *, for_update: bool = False) -> EditLock | None:
    qs = EditLock.objects.select_related("holder", "handover_requested_by").filter(
        content_type_id=ref.content_type_id, object_pk=ref.object_pk
    )
    if for_update and _conn().features.has_select_for_update:
        qs = (
            qs.select_for_update(of=("self",))
            if _conn().features.has_select_for_update_of
            else qs.select_for_update()
        )
    return qs.first()


def get_state(obj: models.Model | RecordRef) -> LockState:
    """The record's lock as it is now (one query)."""
    return LockState.from_lock(_read(ref_for(obj)))


def _event(
    kind: str,
    ref: RecordRef,
    *,
    actor_id: int | None,
    holder_id: int | None,
    lease: str,
    fence: int,
    at: datetime,
    reason: str = "",
) -> LockEvent:
    return LockEvent(
        kind=kind,
        content_type_id=ref.content_type_id,
        object_pk=ref.object_pk,
        object_repr=ref.object_repr,
        actor_id=actor_id,
        holder_id=holder_id,
        lease=lease,
        fence=fence,
        reason=reason,
        at=at,
    )


def _announce(rows: list[LockEvent], ref: RecordRef, state: LockState, now: datetime) -> None:
    for row in rows:
        events.publish(
            {
                "type": events.KIND_TO_EVENT[row.kind],
                "record": events.record_payload(ref),
                "lock": state.as_public_dict(now),
                "actor_id": row.actor_id,
                "holder_id": row.holder_id,
                "fence": row.fence,
                "reason": row.reason,
                "at": now.isoformat(),
            }
        )


def _write_event(kind: str, ref: RecordRef, state: LockState, now: datetime, **fields: Any) -> None:
    """Record one audit event and announce it after commit."""
    _write_events([_event(kind, ref, at=now, **fields)], ref, state, now)


def _write_events(rows: list[LockEvent], ref: RecordRef, state: LockState, now: datetime) -> None:
    if rows:
        LockEvent.objects.bulk_create(rows)
        _announce(rows, ref, state, now)


# ---------------------------------------------------------------- operations


_ACQUIRE_SQL = """
INSERT INTO {t} ({ct}, {pk}, {repr}, {holder}, {lease}, {fence}, {acquired}, {heartbeat},
                 {activity}, {expires}, {prev_holder}, {prev_lease}, {prev_end},
                 {handover_by}, {handover_at})
VALUES (%(ct)s, %(pk)s, %(repr)s, %(user)s, %(new)s, 1, %(now)s, %(now)s, %(now)s, %(expires)s,
        NULL, '', '', NULL, NULL)
ON CONFLICT ({ct}, {pk}) DO UPDATE SET
    {prev_holder} = CASE WHEN {renew} THEN NULL ELSE {t}.{holder} END,
    {prev_lease} = CASE WHEN {renew} THEN '' ELSE {t}.{lease} END,
    {prev_end} = CASE WHEN {renew} THEN 'renewed' WHEN {t}.{holder} IS NULL THEN ''
                      WHEN {t}.{activity} <= %(idle_cutoff)s THEN 'idle_released'
                      ELSE 'expired' END,
    {fence} = CASE WHEN {renew} THEN {t}.{fence} ELSE {t}.{fence} + 1 END,
    {acquired} = CASE WHEN {renew} THEN {t}.{acquired} ELSE %(now)s END,
    {lease} = CASE WHEN {renew} AND %(rotate)s = 0 THEN {t}.{lease} ELSE %(new)s END,
    {handover_by} = CASE WHEN {renew} THEN {t}.{handover_by} ELSE NULL END,
    {handover_at} = CASE WHEN {renew} THEN {t}.{handover_at} ELSE NULL END,
    {holder} = %(user)s,
    {repr} = %(repr)s,
    {heartbeat} = %(now)s,
    {activity} = %(now)s,
    {expires} = %(expires)s
WHERE {t}.{holder} IS NULL OR {t}.{expires} <= %(now)s OR {t}.{activity} <= %(idle_cutoff)s
   OR {renew}
RETURNING {lease}, {fence}, {acquired}, {prev_holder}, {prev_lease}, {prev_end},
          {handover_by}, {handover_at}
"""

_COLUMNS = {
    "ct": "content_type_id",
    "pk": "object_pk",
    "repr": "object_repr",
    "holder": "holder_id",
    "lease": "lease",
    "fence": "fence",
    "acquired": "acquired_at",
    "heartbeat": "heartbeat_at",
    "activity": "activity_at",
    "expires": "expires_at",
    "prev_holder": "previous_holder_id",
    "prev_lease": "previous_lease",
    "prev_end": "previous_end",
    "handover_by": "handover_requested_by_id",
    "handover_at": "handover_requested_at",
}


def _sql(template: str) -> str:
    names = {key: _q(column) for key, column in _COLUMNS.items()}
    names["t"] = _q(EditLock._meta.db_table)
    t, lease, holder, expires, activity = (
        names["t"],
        names["lease"],
        names["holder"],
        names["expires"],
        names["activity"],
    )
    # "This tab's lease is still current": the only case in which acquire renews.
    names["renew"] = (
        f"({t}.{lease} = %(own)s AND {t}.{holder} = %(user)s AND {t}.{expires} > %(now)s "
        f"AND {t}.{activity} > %(idle_cutoff)s)"
    )
    return template.format(**names)


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
    now = clock.now()
    params = {
        "ct": ref.content_type_id,
        "pk": ref.object_pk,
        "repr": ref.object_repr,
        "user": user.pk,
        "new": new_lease(),
        "own": lease or None,
        "rotate": int(rotate),
        "now": _dt(now),
        "expires": _dt(now + lock_settings.timeout),
        "idle_cutoff": _dt(now - lock_settings.idle_timeout),
    }
    with transaction.atomic(using=_conn().alias, savepoint=False):
        with _conn().cursor() as cursor:
            cursor.execute(_sql(_ACQUIRE_SQL), params)
            row = cursor.fetchone()
        if row is None:
            return Outcome(False, get_state(ref), detail="held")
        got_lease, fence, acquired_at, prev_holder, prev_lease, prev_end, _hand_by, _hand_at = row
        state = LockState(
            holder_id=user.pk,
            holder_name=display_name(user),
            lease=got_lease,
            fence=fence,
            acquired_at=_as_datetime(acquired_at),
            heartbeat_at=now,
            activity_at=now,
            expires_at=now + lock_settings.timeout,
        )
        if prev_end == "renewed":
            return Outcome(True, state, lease=got_lease, detail="renewed")
        rows = []
        if prev_end:
            rows.append(
                _event(
                    prev_end,
                    ref,
                    actor_id=None,
                    holder_id=prev_holder,
                    lease=prev_lease,
                    fence=fence - 1,
                    at=now,
                )
            )
        rows.append(
            _event(
                Kind.ACQUIRED,
                ref,
                actor_id=user.pk,
                holder_id=user.pk,
                lease=got_lease,
                fence=fence,
                at=now,
            )
        )
        _write_events(rows, ref, state, now)
    return Outcome(True, state, lease=got_lease, detail="acquired")


_HEARTBEAT_SQL = """
UPDATE {t} SET {heartbeat} = %(now)s, {expires} = %(expires)s{activity_set}
WHERE {ct} = %(ct)s AND {pk} = %(pk)s AND {lease} = %(own)s AND {holder} = %(user)s
  AND {expires} > %(now)s AND {activity} > %(idle_cutoff)s
RETURNING {fence}, {acquired}, {activity}, {handover_by}
"""


def heartbeat(obj: models.Model | RecordRef, user, lease: str, active: bool) -> Outcome:
    """Keep this tab's lease alive; `active` says the user typed or clicked since the last one.

    A lapsed or replaced lease is refused even if nobody else holds the lock: the page must
    acquire again (and the user learns their lease had lapsed). Two queries at most.
    """
    ref = ref_for(obj)
    now = clock.now()
    template = _HEARTBEAT_SQL.replace("{activity_set}", ", {activity} = %(now)s" if active else "")
    params = {
        "ct": ref.content_type_id,
        "pk": ref.object_pk,
        "user": user.pk,
        "own": lease or None,
        "now": _dt(now),
        "expires": _dt(now + lock_settings.timeout),
        "idle_cutoff": _dt(now - lock_settings.idle_timeout),
    }
    with _conn().cursor() as cursor:
        cursor.execute(_sql(template), params)
        row = cursor.fetchone()
    if row is None:
        return Outcome(False, get_state(ref), detail="lost")
    fence, acquired_at, activity_at, handover_by = row
    if handover_by is not None:
        # Someone asked for the record: read who, so the holder's page can say it. (Should a
        # take-over have committed in between, the answer is the truth as of now: lost.)
        state = get_state(ref)
        alive = state.lease == lease
        return Outcome(
            alive, state, lease=lease if alive else "", detail="alive" if alive else "lost"
        )
    state = LockState(
        holder_id=user.pk,
        holder_name=display_name(user),
        lease=lease,
        fence=fence,
        acquired_at=_as_datetime(acquired_at),
        heartbeat_at=now,
        activity_at=_as_datetime(activity_at),
        expires_at=now + lock_settings.timeout,
    )
    return Outcome(True, state, lease=lease, detail="alive")


_RELEASE_SQL = """
UPDATE {t} SET {holder} = NULL, {lease} = '', {expires} = NULL, {handover_by} = NULL,
    {handover_at} = NULL, {prev_holder} = NULL, {prev_lease} = '', {prev_end} = ''
WHERE {ct} = %(ct)s AND {pk} = %(pk)s AND {lease} = %(own)s AND {holder} = %(user)s
RETURNING {fence}, {repr}
"""


def release(obj: models.Model | RecordRef, user, lease: str) -> Outcome:
    """Give up this tab's lease (leaving the page, saving). Two queries at most."""
    ref = ref_for(obj)
    now = clock.now()
    params = {"ct": ref.content_type_id, "pk": ref.object_pk, "user": user.pk, "own": lease or None}
    with transaction.atomic(using=_conn().alias, savepoint=False):
        with _conn().cursor() as cursor:
            cursor.execute(_sql(_RELEASE_SQL), params)
            row = cursor.fetchone()
        if row is None:
            return Outcome(False, FREE, detail="not-held")
        fence, object_repr = row
        ref = ref._replace(object_repr=ref.object_repr or object_repr)
        _write_event(
            Kind.RELEASED,
            ref,
            FREE,
            now,
            actor_id=user.pk,
            holder_id=user.pk,
            lease=lease,
            fence=fence,
        )
    return Outcome(True, FREE, detail="released")


def _compare_and_set(lock: EditLock, **changes: Any) -> bool:
    """Apply `changes` only if the lock still carries the lease we read."""
    return bool(
        EditLock.objects.filter(pk=lock.pk, lease=lock.lease, fence=lock.fence).update(**changes)
    )


def take_over(
    obj: models.Model | RecordRef, user, reason: str = "", *, lease: str | None = None
) -> Outcome:
    """Move a live lock to `user`'s tab: managers, or the same user from another tab.

    The old lease is void at once. On a free record this is a plain acquire.
    Raises PermissionDenied when the policy says no.
    """
    ref = ref_for(obj)
    now = clock.now()
    with transaction.atomic(using=_conn().alias):
        lock = _read(ref, for_update=True)
        state = LockState.from_lock(lock)
        policy = LockPolicy(state, user, lease, now)
        if policy.is_free:
            return acquire(ref, user)
        if policy.can_edit:
            return Outcome(True, state, lease=lease or "", detail="renewed")
        if not policy.can_take_over:
            raise PermissionDenied("You may not take over this lock.")
        got = new_lease()
        changed = _compare_and_set(
            lock,
            holder_id=user.pk,
            lease=got,
            fence=lock.fence + 1,
            acquired_at=now,
            heartbeat_at=now,
            activity_at=now,
            expires_at=now + lock_settings.timeout,
            previous_holder_id=lock.holder_id,
            previous_lease=lock.lease,
            previous_end=Kind.TAKEN_OVER,
            handover_requested_by=None,
            handover_requested_at=None,
            object_repr=ref.object_repr or lock.object_repr,
        )
        if not changed:
            return Outcome(False, get_state(ref), detail="raced")
        new_state = LockState(
            user.pk,
            display_name(user),
            got,
            lock.fence + 1,
            now,
            now,
            now,
            now + lock_settings.timeout,
        )
        ref = ref._replace(object_repr=ref.object_repr or lock.object_repr)
        _write_event(
            Kind.TAKEN_OVER,
            ref,
            new_state,
            now,
            actor_id=user.pk,
            holder_id=lock.holder_id,
            lease=lock.lease,
            fence=lock.fence + 1,
            reason=reason,
        )
    return Outcome(True, new_state, lease=got, detail="taken-over")


def force_release(obj: models.Model | RecordRef, user, reason: str = "") -> Outcome:
    """A manager frees someone's lock (live or stale). Raises PermissionDenied otherwise."""
    if not is_lock_manager(user):
        raise PermissionDenied("Only lock managers may release other users' locks.")
    ref = ref_for(obj)
    now = clock.now()
    with transaction.atomic(using=_conn().alias):
        lock = _read(ref, for_update=True)
        if lock is None or lock.holder_id is None:
            return Outcome(False, FREE, detail="not-held")
        if not _compare_and_set(lock, **_FREED):
            return Outcome(False, get_state(ref), detail="raced")
        ref = ref._replace(object_repr=ref.object_repr or lock.object_repr)
        _write_event(
            Kind.FORCE_RELEASED,
            ref,
            FREE,
            now,
            actor_id=user.pk,
            holder_id=lock.holder_id,
            lease=lock.lease,
            fence=lock.fence,
            reason=reason,
        )
    return Outcome(True, FREE, detail="force-released")


_FREED = {
    "holder_id": None,
    "lease": "",
    "expires_at": None,
    "handover_requested_by": None,
    "handover_requested_at": None,
    "previous_holder_id": None,
    "previous_lease": "",
    "previous_end": "",
}


def request_handover(obj: models.Model | RecordRef, user, message: str = "") -> Outcome:
    """Ask the holder to hand the record over; they see it on their page at once.

    A user asks a holder for a record once per `LOCKS_HANDOVER_REQUEST_INTERVAL`: asking
    again sooner is refused (`detail` "asked-recently", with a message) and writes nothing.
    """
    ref = ref_for(obj)
    now = clock.now()
    with transaction.atomic(using=_conn().alias):
        lock = _read(ref, for_update=True)
        state = LockState.from_lock(lock)
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
        if not _compare_and_set(lock, handover_requested_by_id=user.pk, handover_requested_at=now):
            return Outcome(False, get_state(ref), detail="raced")
        ref = ref._replace(object_repr=ref.object_repr or lock.object_repr)
        new_state = LockState.from_lock(_read(ref))
        _write_event(
            Kind.HANDOVER_REQUESTED,
            ref,
            new_state,
            now,
            actor_id=user.pk,
            holder_id=lock.holder_id,
            lease=lock.lease,
            fence=lock.fence,
            reason=message,
        )
    return Outcome(True, new_state, detail="requested")


def _asked_at(lock: EditLock, user, now: datetime) -> datetime | None:
    """When `user` last asked this holder for this record, if within the interval. The lock
    row remembers the last asker (no query); the audit trail the ones before."""
    since = now - lock_settings.handover_request_interval
    if lock.handover_requested_by_id == user.pk and lock.handover_requested_at > since:
        return lock.handover_requested_at
    return (
        LockEvent.objects.filter(
            content_type_id=lock.content_type_id,
            object_pk=lock.object_pk,
            at__gt=since,
            kind=Kind.HANDOVER_REQUESTED,
            actor_id=user.pk,
            holder_id=lock.holder_id,
        )
        .values_list("at", flat=True)
        .first()
    )


@dataclass(frozen=True)
class StaleLock:
    record: RecordRef
    holder: str
    kind: str  # "expired" or "idle_released"
    heartbeat_at: datetime | None
    activity_at: datetime | None


def release_stale(*, dry_run: bool = False, actor=None) -> list[StaleLock]:
    """Free every expired or idle lock and record why. Safe to run on several hosts at once:
    each row is freed by a compare-and-set, and only the winner writes the audit event."""
    now = clock.now()
    idle_cutoff = now - lock_settings.idle_timeout
    done = []
    for lock in EditLock.objects.stale(now).select_related("holder").order_by("pk"):
        kind = Kind.IDLE_RELEASED if lock.activity_at <= idle_cutoff else Kind.EXPIRED
        ref = RecordRef(lock.content_type_id, lock.object_pk, lock.object_repr)
        item = StaleLock(ref, display_name(lock.holder), kind, lock.heartbeat_at, lock.activity_at)
        if dry_run:
            done.append(item)
            continue
        with transaction.atomic(using=_conn().alias):
            if not EditLock.objects.filter(stale_q(now), pk=lock.pk, lease=lock.lease).update(
                **_FREED
            ):
                continue
            _write_event(
                kind,
                ref,
                FREE,
                now,
                actor_id=actor.pk if actor else None,
                holder_id=lock.holder_id,
                lease=lock.lease,
                fence=lock.fence,
            )
        done.append(item)
    return done


def seconds_until_next_expiry() -> float:
    """Seconds until the earliest held lease runs out (heartbeat or idle), at most one lock
    timeout: how long the expiry sweeper may sleep. One query."""
    from django.db.models import Min

    now = clock.now()
    soonest = EditLock.objects.held().aggregate(
        expires=Min("expires_at"), active=Min("activity_at")
    )
    candidates = [now + lock_settings.timeout]
    if soonest["expires"]:
        candidates.append(soonest["expires"])
    if soonest["active"]:
        candidates.append(soonest["active"] + lock_settings.idle_timeout)
    return max(0.0, (min(candidates) - now).total_seconds()) + 0.05


def check_lease(obj: models.Model | RecordRef, user, lease: str | None) -> LockState:
    """For write paths: return the lock if `lease` is this user's current lease, else raise
    LeaseError. Inside a transaction on PostgreSQL the lock row stays locked until commit,
    so nobody can take the lock between this check and the write."""
    ref = ref_for(obj)
    now = clock.now()
    in_transaction = not _conn().get_autocommit()
    lock = _read(ref, for_update=in_transaction)
    state = LockState.from_lock(lock)
    if not (lease and LockPolicy(state, user, lease, now).can_edit):
        raise LeaseError(state)
    return state


def live_states(model: type[models.Model], pks: list[Any]) -> dict[str, LockState]:
    """Current locks of several records of one model (for change lists), in one query."""
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(model, for_concrete_model=False)
    now = clock.now()
    locks = EditLock.objects.filter(
        live_q(now), content_type=ct, object_pk__in=[str(p) for p in pks]
    )
    return {lock.object_pk: LockState.from_lock(lock) for lock in locks.select_related("holder")}
