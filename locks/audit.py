"""Audit rows for lock changes, announced to open pages after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models.expressions import Expression

from . import events
from .models import LockEvent
from .records import RecordRef
from .state import LockState, display_name


def event(
    kind: str,
    ref: RecordRef,
    *,
    actor,
    holder_id: int | None,
    lease: str,
    fence: int,
    at: datetime | Expression,
    reason: str = "",
) -> LockEvent:
    """One unsaved audit row. `actor` is the user who did it (None: the system); the row
    keeps the object, so announcing it can name them without a query."""
    return LockEvent(
        kind=kind,
        content_type_id=ref.content_type_id,
        object_pk=ref.object_pk,
        object_repr=ref.object_repr,
        actor=actor,
        holder_id=holder_id,
        lease=lease,
        fence=fence,
        reason=reason,
        at=at,
    )


def write_event(
    kind: str,
    ref: RecordRef,
    state: LockState,
    now: datetime,
    *,
    extra: dict[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Record one audit event and announce it after commit; `extra` adds fields to the
    announced event only (as the declined requester of `lock.handover_declined`)."""
    write_events([event(kind, ref, at=now, **fields)], ref, state, now, extra=extra)


def write_unannounced(kind: str, ref: RecordRef, at: datetime | Expression, **fields: Any) -> None:
    """Record one audit event that changes no lock (the merge screen being shown): no page
    is told, as nothing on any page changes. `at` may be the lock clock's SQL expression."""
    event(kind, ref, at=at, **fields).save()


def write_events(
    rows: list[LockEvent],
    ref: RecordRef,
    state: LockState,
    now: datetime,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Record audit events in one insert and announce each after commit; `state` is the lock
    as the events leave it."""
    if rows:
        LockEvent.objects.bulk_create(rows)
        _announce(rows, ref, state, now, extra or {})


def _announce(
    rows: list[LockEvent], ref: RecordRef, state: LockState, now: datetime, extra: dict[str, Any]
) -> None:
    lock = state.as_public_dict(now)
    for row in rows:
        events.publish(
            events.lock_event(
                events.KIND_TO_EVENT[row.kind],
                ref,
                lock,
                now,
                actor_id=row.actor_id,
                actor=display_name(row.actor) if row.actor_id else "",
                holder_id=row.holder_id,
                fence=row.fence,
                reason=row.reason,
                **extra,
            )
        )
