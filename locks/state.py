"""A read-only snapshot of a lock, handed to policy, views, consumers and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import clock
from .conf import lock_settings
from .models import EditLock


def display_name(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


@dataclass(frozen=True)
class LockState:
    holder_id: int | None
    holder_name: str
    lease: str
    fence: int
    acquired_at: datetime | None
    heartbeat_at: datetime | None
    activity_at: datetime | None
    expires_at: datetime | None
    handover_requested_by: str = ""
    handover_requested_at: datetime | None = None
    # The lock clock's time (the database's) when this state was read or written: what
    # liveness and ages are measured against, whichever server looks at it.
    as_of: datetime | None = None
    handover_requested_by_id: int | None = None
    unsaved: bool = False  # the holder's page reported unsaved changes

    @classmethod
    def from_lock(cls, lock: EditLock | None) -> LockState:
        if lock is None:
            return FREE
        return cls(
            holder_id=lock.holder_id,
            holder_name=display_name(lock.holder) if lock.holder_id else "",
            lease=lock.lease,
            fence=lock.fence,
            acquired_at=lock.acquired_at,
            heartbeat_at=lock.heartbeat_at,
            activity_at=lock.activity_at,
            expires_at=lock.expires_at,
            handover_requested_by=display_name(lock.handover_requested_by)
            if lock.handover_requested_by_id
            else "",
            handover_requested_at=lock.handover_requested_at,
            as_of=getattr(lock, "clock_now", None),
            handover_requested_by_id=lock.handover_requested_by_id,
            unsaved=lock.unsaved,
        )

    def _now(self, now: datetime | None) -> datetime:
        return now or self.as_of or clock.now()

    def is_live(self, now: datetime | None = None) -> bool:
        """The lease is current at `now` (default: the database time it was read at)."""
        now = self._now(now)
        return (
            self.holder_id is not None
            and self.expires_at is not None
            and self.expires_at > now
            and self.activity_at is not None
            and self.activity_at > now - lock_settings.idle_timeout
        )

    def as_public_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """What any viewer may learn: never the lease token. Ages are the server's (database
        clock) when the payload is built; pages add the time elapsed since it arrived."""
        now = self._now(now)
        live = self.is_live(now)
        return {
            "held": live,
            "holder": self.holder_name if live else "",
            "holder_id": self.holder_id if live else None,
            "fence": self.fence,
            "since": _iso(self.acquired_at) if live else None,
            "last_active": _iso(self.activity_at) if live else None,
            "expires": _iso(self.expires_at) if live else None,
            "idle_seconds": _seconds_since(self.activity_at, now) if live else None,
            "held_seconds": _seconds_since(self.acquired_at, now) if live else None,
            "handover_requested_by": self.handover_requested_by if live else "",
            "handover_requested_by_id": self.handover_requested_by_id if live else None,
            "unsaved": self.unsaved if live else False,
        }


def _seconds_since(then: datetime | None, now: datetime) -> int | None:
    return None if then is None else max(0, int((now - then).total_seconds()))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


FREE = LockState(None, "", "", 0, None, None, None, None)
