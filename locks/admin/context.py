"""What one admin request knows about its record's lock, and the names of the lock's inputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models

from ..policy import LockPolicy
from ..records import RecordRef
from ..state import LockState

LEASE_FIELD = "_locks_lease"
VERSION_FIELD = "_locks_version"
MERGE_FIELD = "_locks_merge"
FINGERPRINT_FIELD = "_locks_fingerprint"


@dataclass
class LockContext:
    """What this request knows about the record's lock; kept on the request."""

    ref: RecordRef
    target: models.Model | None
    lease: str
    state: LockState
    policy: LockPolicy
    based_on_version: int | None = None
    based_on_fingerprint: str = ""
    refused: bool = False
    conflict: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def can_edit(self) -> bool:
        return self.policy.can_edit

    @property
    def may_write(self) -> bool:
        return self.policy.may_write


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
