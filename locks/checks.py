"""System checks for the lock settings: each message says how to fix the value."""

from __future__ import annotations

from django.core.checks import Error, Warning

from .conf import DEFAULTS, lock_settings


def check_settings(app_configs=None, **kwargs) -> list:
    problems = []
    values = {
        "LOCKS_TIMEOUT": lock_settings.TIMEOUT,
        "LOCKS_HEARTBEAT_INTERVAL": lock_settings.HEARTBEAT_INTERVAL,
        "LOCKS_IDLE_TIMEOUT": lock_settings.IDLE_TIMEOUT,
    }
    for name, value in values.items():
        problems += _positive(name, value, "whole number of seconds", "locks.E001")
    if problems:
        return problems

    timeout, heartbeat, idle = values.values()
    if timeout < 2 * heartbeat:
        problems.append(
            Error(
                f"LOCKS_TIMEOUT ({timeout} s) is under twice LOCKS_HEARTBEAT_INTERVAL "
                f"({heartbeat} s): one late heartbeat would cost the holder the lock.",
                hint=f"Raise LOCKS_TIMEOUT to at least {2 * heartbeat} (3x, {3 * heartbeat}, is "
                "safer) or lower LOCKS_HEARTBEAT_INTERVAL.",
                id="locks.E002",
            )
        )
    if idle < timeout:
        problems.append(
            Warning(
                f"LOCKS_IDLE_TIMEOUT ({idle} s) is shorter than LOCKS_TIMEOUT ({timeout} s): "
                "holders will lose the lock for idling before a closed tab would.",
                hint="Set LOCKS_IDLE_TIMEOUT well above LOCKS_TIMEOUT (default 1800).",
                id="locks.W001",
            )
        )
    if timeout > 600:
        problems.append(
            Warning(
                f"LOCKS_TIMEOUT is {timeout} s: a closed tab keeps the record locked that long.",
                hint="Keep LOCKS_TIMEOUT at a few heartbeats (default 45).",
                id="locks.W002",
            )
        )
    return problems


def check_limits(app_configs=None, **kwargs) -> list:
    """The abuse limits (docs/protocol.md "Limits"): a bad value would let a flood through or
    cut off every page."""
    problems = [
        *_positive(
            "LOCKS_SOCKET_RATE",
            lock_settings.SOCKET_RATE,
            "number of frames per second",
            "locks.E003",
            kinds=(int, float),
        ),
        *_positive(
            "LOCKS_SOCKET_BURST", lock_settings.SOCKET_BURST, "whole number of frames", "locks.E003"
        ),
        *_positive(
            "LOCKS_SOCKET_BACKLOG",
            lock_settings.SOCKET_BACKLOG,
            "whole number of frames",
            "locks.E003",
        ),
    ]
    interval = lock_settings.HANDOVER_REQUEST_INTERVAL
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
        problems.append(
            Error(
                f"LOCKS_HANDOVER_REQUEST_INTERVAL must be a whole number of seconds, 0 or more, "
                f"not {interval!r}.",
                hint="Set it to a number such as the default (60); 0 turns the limit off.",
                id="locks.E003",
            )
        )
    return problems


def _positive(name: str, value, what: str, check_id: str, kinds: tuple = (int,)) -> list:
    if isinstance(value, kinds) and not isinstance(value, bool) and value > 0:
        return []
    return [
        Error(
            f"{name} must be a positive {what}, not {value!r}.",
            hint=f"Set {name} to a number such as the default ({DEFAULTS[name]}).",
            id=check_id,
        )
    ]


def check_audit_retention(app_configs=None, **kwargs) -> list:
    """LOCKS_AUDIT_RETENTION_DAYS: how long `prune_lock_events` keeps the audit trail."""
    days = lock_settings.AUDIT_RETENTION_DAYS
    if not isinstance(days, int) or isinstance(days, bool) or days < 0:
        return [
            Error(
                f"LOCKS_AUDIT_RETENTION_DAYS must be a whole number of days (0 keeps every "
                f"lock event), not {days!r}.",
                hint="Set LOCKS_AUDIT_RETENTION_DAYS to a number such as the default "
                f"({DEFAULTS['LOCKS_AUDIT_RETENTION_DAYS']}), or 0 to keep everything.",
                id="locks.E020",
            )
        ]
    if 0 < days < 30:
        return [
            Warning(
                f"LOCKS_AUDIT_RETENTION_DAYS is {days}: the contention report's 30-day view "
                "will miss what was pruned, and recent disputes lose their history.",
                hint="Keep at least 30 days of audit trail (default 180).",
                id="locks.W020",
            )
        ]
    return []
