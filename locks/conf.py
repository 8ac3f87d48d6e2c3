"""The app's settings, read lazily so `override_settings` works in tests.

In the manner of django-allauth's app_settings: one object, one documented property each.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

DEFAULTS = {
    "LOCKS_TIMEOUT": 45,
    "LOCKS_HEARTBEAT_INTERVAL": 15,
    "LOCKS_IDLE_TIMEOUT": 30 * 60,
    "LOCKS_WEBSOCKET_URL": "auto",
    "LOCKS_AUDIT_RETENTION_DAYS": 180,
}


class LockSettings:
    def _get(self, name: str):
        return getattr(settings, name, DEFAULTS[name])

    @property
    def TIMEOUT(self) -> int:
        """Seconds without a heartbeat after which a lock is free (tab closed, network gone)."""
        return self._get("LOCKS_TIMEOUT")

    @property
    def HEARTBEAT_INTERVAL(self) -> int:
        """Seconds between two heartbeats of the holder's page."""
        return self._get("LOCKS_HEARTBEAT_INTERVAL")

    @property
    def IDLE_TIMEOUT(self) -> int:
        """Seconds without user input after which the holder loses the lock."""
        return self._get("LOCKS_IDLE_TIMEOUT")

    @property
    def WEBSOCKET_URL(self) -> str:
        """Where pages open their live-update socket: "auto" (when this server routes it, see
        locks/live.py), a URL, or "" for HTTP polling only."""
        return self._get("LOCKS_WEBSOCKET_URL")

    @property
    def AUDIT_RETENTION_DAYS(self) -> int:
        """Days of audit trail `prune_lock_events` keeps; 0 keeps every lock event forever."""
        return self._get("LOCKS_AUDIT_RETENTION_DAYS")

    @property
    def timeout(self) -> timedelta:
        return timedelta(seconds=self.TIMEOUT)

    @property
    def idle_timeout(self) -> timedelta:
        return timedelta(seconds=self.IDLE_TIMEOUT)


lock_settings = LockSettings()
