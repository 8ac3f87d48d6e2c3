"""System checks for the lock settings: each message says how to fix the value."""

from __future__ import annotations

from django.conf import settings
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
            "locks.E030",
            kinds=(int, float),
        ),
        *_positive(
            "LOCKS_SOCKET_BURST", lock_settings.SOCKET_BURST, "whole number of frames", "locks.E030"
        ),
        *_positive(
            "LOCKS_SOCKET_BACKLOG",
            lock_settings.SOCKET_BACKLOG,
            "whole number of frames",
            "locks.E030",
        ),
    ]
    interval = lock_settings.HANDOVER_REQUEST_INTERVAL
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
        problems.append(
            Error(
                f"LOCKS_HANDOVER_REQUEST_INTERVAL must be a whole number of seconds, 0 or more, "
                f"not {interval!r}.",
                hint="Set it to a number such as the default (60); 0 turns the limit off.",
                id="locks.E030",
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


# ---------------------------------------------------------------- setups that disable locking
# Each of these used to fail quietly (500s on every handshake, no lock at all, live updates
# that stop after a few seconds); the message says what breaks and the hint how to fix it.

REQUIRED_APPS = {
    "django.contrib.contenttypes": "locks records which record is locked by its content type",
    "django.contrib.auth": "a lock names the user who holds it",
    "django.contrib.admin": "locks guard the admin's change forms; without it nothing is locked",
}


def check_installed_apps(app_configs=None, **kwargs) -> list:
    """locks.E003: an app that the locks need is missing from INSTALLED_APPS."""
    from django.apps import apps

    return [
        Error(
            f"'{name}' is not in INSTALLED_APPS: {why}.",
            hint=f'Add "{name}" to INSTALLED_APPS (before "locks").',
            id="locks.E003",
        )
        for name, why in REQUIRED_APPS.items()
        if not apps.is_installed(name)
    ]


def check_channel_layer(app_configs=None, **kwargs) -> list:
    """locks.E004: the websocket is routed (or its URL set) but there is no channel layer."""
    from .live import AUTO, asgi_application_routes_locks, channel_layer_configured

    if channel_layer_configured():
        return []
    explicit = lock_settings.WEBSOCKET_URL not in (AUTO, "")
    if not explicit and not asgi_application_routes_locks():
        return []
    where = (
        f"LOCKS_WEBSOCKET_URL is {lock_settings.WEBSOCKET_URL!r}"
        if explicit
        else f"ASGI_APPLICATION ({getattr(settings, 'ASGI_APPLICATION', '')}) routes the "
        "locks websocket"
    )
    return [
        Error(
            f"{where} but CHANNEL_LAYERS has no 'default' layer: every websocket is refused "
            "and pages fall back to polling.",
            hint='Set CHANNEL_LAYERS = {"default": {"BACKEND": '
            '"channels.layers.InMemoryChannelLayer"}} for one server process, or '
            "channels_redis.core.RedisChannelLayer (pip install 'django-edit-locks[redis]') "
            'for several. See docs/install.md, "Live updates".',
            id="locks.E004",
        )
    ]


SUPPORTED_SQLITE = (3, 35)  # INSERT ... ON CONFLICT ... RETURNING


def check_database(app_configs=None, **kwargs) -> list:
    """locks.E005: the database that stores locks cannot run the lock SQL."""
    from django.db import connections, router

    from .models import EditLock

    alias = router.db_for_write(EditLock)
    connection = connections[alias]
    if connection.vendor == "postgresql":
        return []
    if connection.vendor == "sqlite":
        version = connection.Database.sqlite_version_info
        if tuple(version) >= SUPPORTED_SQLITE:
            return []
        found = f"SQLite {'.'.join(map(str, version))}"
    else:
        found = f"the '{connection.vendor}' backend"
    return [
        Error(
            f"Database '{alias}' ({found}) cannot store edit locks: taking a lock is one "
            "INSERT ... ON CONFLICT ... RETURNING statement, which it does not support.",
            hint="Use PostgreSQL or SQLite 3.35+ for the 'locks' app's tables (a database "
            "router may send only the locks app there).",
            id="locks.E005",
        )
    ]


def check_redis_layer(app_configs=None, **kwargs) -> list:
    """locks.W003: a channels-redis layer whose connections keep redis-py's 5 s timeout."""
    layer = (getattr(settings, "CHANNEL_LAYERS", None) or {}).get("default") or {}
    if not str(layer.get("BACKEND", "")).startswith("channels_redis."):
        return []
    try:
        import redis
    except ImportError:
        return []
    if int(redis.__version__.split(".")[0]) < 8:
        return []
    hosts = (layer.get("CONFIG") or {}).get("hosts") or ["redis://localhost:6379"]
    if all(isinstance(host, dict) and "socket_timeout" in host for host in hosts):
        return []
    return [
        Warning(
            f"redis-py {redis.__version__} gives channels-redis connections a 5 s socket "
            "timeout, which ends the layer's blocking reads: live updates stop arriving on "
            "a quiet site (channels_redis #422).",
            hint='Give each host as a dict with no timeout: "hosts": [{"address": '
            'REDIS_URL, "socket_timeout": None}].',
            id="locks.W003",
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
