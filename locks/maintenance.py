"""Tidying up lapsed locks: the stale-lock sweep (command and hub sweeper) and its timing.

Expired and idle leases already count as free to every operation; sweeping only frees their
rows and records why in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Max, Min

from . import clock, sql
from .audit import write_event
from .conf import lock_settings
from .models import EditLock, LockEvent, stale_q
from .records import RecordRef
from .state import FREE, display_name

Kind = LockEvent.Kind


@dataclass(frozen=True)
class StaleLock:
    record: RecordRef
    holder: str
    kind: str  # "expired" or "idle_released"
    heartbeat_at: datetime | None
    activity_at: datetime | None


def release_stale(*, dry_run: bool = False, actor=None) -> list[StaleLock]:
    """Free every expired or idle lock and record why. Safe to run on several hosts at once:
    each row is freed by a compare-and-set, and only the winner writes the audit event.
    Lapsed by the database's clock, whichever host runs it."""
    done = []
    stale = EditLock.objects.stale().with_clock().select_related("holder").order_by("pk")
    for lock in stale:
        now = lock.clock_now
        kind = Kind.IDLE_RELEASED if lock.state(now) == "idle" else Kind.EXPIRED
        ref = RecordRef(lock.content_type_id, lock.object_pk, lock.object_repr)
        item = StaleLock(ref, display_name(lock.holder), kind, lock.heartbeat_at, lock.activity_at)
        if dry_run:
            done.append(item)
            continue
        with transaction.atomic(using=sql.conn().alias):
            if not EditLock.objects.filter(stale_q(), pk=lock.pk, lease=lock.lease).update(
                **sql.FREED
            ):
                continue
            write_event(
                kind,
                ref,
                FREE,
                now,
                actor=actor,
                holder_id=lock.holder_id,
                lease=lock.lease,
                fence=lock.fence,
            )
        done.append(item)
    return done


def seconds_until_next_expiry() -> float:
    """Seconds until the earliest held lease runs out (heartbeat or idle), at most one lock
    timeout, by the database's clock: how long the expiry sweeper may sleep. One query."""
    soonest = EditLock.objects.held().aggregate(
        expires=Min("expires_at"), active=Min("activity_at"), now=Max(clock.expression())
    )
    now = soonest["now"]
    if now is None:  # nothing held
        return lock_settings.timeout.total_seconds() + 0.05
    candidates = [now + lock_settings.timeout, soonest["expires"]]
    if soonest["active"]:
        candidates.append(soonest["active"] + lock_settings.idle_timeout)
    return max(0.0, (min(c for c in candidates if c) - now).total_seconds()) + 0.05
