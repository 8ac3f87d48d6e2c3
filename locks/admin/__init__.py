"""Admin integration: the ModelAdmin mixin, and the lock console and audit trail.

Django's admin autodiscovery imports this package, which registers the console
(`EditLockAdmin`) and the audit trail (`LockEventAdmin`), and the admin checks.
"""

from __future__ import annotations

from . import checks  # noqa: F401  (registers the admin checks)
from .console import EditLockAdmin, LockEventAdmin
from .mixin import LockedAdminMixin

__all__ = ["EditLockAdmin", "LockEventAdmin", "LockedAdminMixin"]
