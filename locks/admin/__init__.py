"""Admin integration: the ModelAdmin mixin, and the lock console and audit trail.

Django's admin autodiscovery imports this package, which registers the console
(`EditLockAdmin`) and the audit trail (`LockEventAdmin`).
"""

from __future__ import annotations

from .console import EditLockAdmin, LockEventAdmin
from .mixin import LockedAdminMixin

__all__ = ["EditLockAdmin", "LockEventAdmin", "LockedAdminMixin"]
