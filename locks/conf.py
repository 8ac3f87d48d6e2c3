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
    # Abuse limits. A page sends a heartbeat every 15 s and a few subscribes and syncs when it
    # (re)connects: these are far above that, and far below what a flood needs.
    "LOCKS_SOCKET_RATE": 5,
    "LOCKS_SOCKET_BURST": 40,
    "LOCKS_SOCKET_BACKLOG": 32,
    "LOCKS_HANDOVER_REQUEST_INTERVAL": 60,
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
    def SOCKET_RATE(self) -> float:
        """Frames per second one websocket may send, sustained (a token bucket's refill)."""
        return self._get("LOCKS_SOCKET_RATE")

    @property
    def SOCKET_BURST(self) -> int:
        """Frames one websocket may send at once before `SOCKET_RATE` applies."""
        return self._get("LOCKS_SOCKET_BURST")

    @property
    def SOCKET_BACKLOG(self) -> int:
        """Frames of one websocket that may wait to be handled; one more closes the socket."""
        return self._get("LOCKS_SOCKET_BACKLOG")

    @property
    def HANDOVER_REQUEST_INTERVAL(self) -> int:
        """Seconds before the same user may ask the same lease again to hand its record over."""
        return self._get("LOCKS_HANDOVER_REQUEST_INTERVAL")

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

    @property
    def handover_request_interval(self) -> timedelta:
        return timedelta(seconds=self.HANDOVER_REQUEST_INTERVAL)


lock_settings = LockSettings()
