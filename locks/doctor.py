"""Can locks and live updates work here? Checks a deployer runs after deploying.

Each check returns one `Finding`: what was found, and the fix when it is not right. Nothing
here changes data; the channel-layer check sends one message to itself on a new channel.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.utils.module_loading import import_string

from . import skew
from .conf import lock_settings
from .live import AUTO, ROUTE, locks_routes
from .models import EditLock, LockEvent

OK, WARNING, FAILED, SKIPPED = "ok", "warning", "failed", "skipped"
CHANNEL_LAYER_TIMEOUT = 5.0
"""Seconds the channel-layer round trip may take before it counts as failed."""
CLOCK_SKEW_LIMIT = skew.SKEW_LIMIT
"""Seconds between this server's clock and the database's before the doctor warns."""


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok, warning, failed or skipped
    detail: str
    fix: str = ""
    ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_checks() -> list[Finding]:
    """Every check, in order; a check that raises is reported as failed, never skipped.
    Without a database, the checks that read it are skipped."""
    findings = []
    for name, check in CHECKS:
        if name in _NEED_DATABASE and findings and findings[0].status == FAILED:
            findings.append(Finding(name, SKIPPED, "not checked: the database check failed"))
            continue
        started = time.perf_counter()
        try:
            finding = check()
        except Exception as exc:  # the doctor reports what broke instead of crashing
            finding = Finding(name, FAILED, f"{type(exc).__name__}: {exc}", _FIXES[name])
        if finding.ms is None:
            finding = Finding(**{**finding.as_dict(), "ms": _ms(started)})
        findings.append(finding)
    return findings


def healthy(findings: list[Finding]) -> bool:
    """True when nothing failed: warnings and skipped checks alone keep a deploy going."""
    return all(f.status != FAILED for f in findings)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


# ---------------------------------------------------------------- database and lock tables


def check_database() -> Finding:
    from django.db.migrations.executor import MigrationExecutor

    alias = router.db_for_write(EditLock) or DEFAULT_DB_ALIAS
    connection = connections[alias]
    connection.ensure_connection()
    tables = set(connection.introspection.table_names())
    missing = [m._meta.db_table for m in (EditLock, LockEvent) if m._meta.db_table not in tables]
    executor = MigrationExecutor(connection)
    pending = [
        f"{migration.app_label}.{migration.name}"
        for migration, _backwards in executor.migration_plan(executor.loader.graph.leaf_nodes())
    ]
    where = f"{connection.vendor} database {connection.settings_dict.get('NAME')!s}"
    if missing or pending:
        what = f"missing tables {', '.join(missing)}" if missing else ""
        if pending:
            shown = ", ".join(pending[:5]) + (" …" if len(pending) > 5 else "")
            what += ("; " if what else "") + f"{len(pending)} unapplied migration(s): {shown}"
        return Finding("database", FAILED, f"{where}: {what}", _FIXES["database"])
    EditLock.objects.exists()  # the lock table answers a query
    return Finding("database", OK, f"{where}: lock tables present, all migrations applied")


# ---------------------------------------------------------------- channel layer


def check_channel_layer() -> Finding:
    from asgiref.sync import async_to_sync
    from channels import DEFAULT_CHANNEL_LAYER
    from channels.layers import channel_layers

    if DEFAULT_CHANNEL_LAYER not in channel_layers.configs:
        return Finding(
            "channel layer", FAILED, "CHANNEL_LAYERS has no default layer", _FIXES["channel layer"]
        )
    # A layer of its own, as configured: the process's shared one keeps its connections.
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    backend = f"{type(layer).__module__}.{type(layer).__qualname__}"
    started = time.perf_counter()
    try:
        async_to_sync(_round_trip)(layer)
    except TimeoutError:
        return Finding(
            "channel layer",
            FAILED,
            f"{backend}: no answer within {CHANNEL_LAYER_TIMEOUT:g} s",
            _FIXES["channel layer"],
            _ms(started),
        )
    except Exception as exc:
        return Finding(
            "channel layer",
            FAILED,
            f"{backend}: {type(exc).__name__}: {exc}",
            _FIXES["channel layer"],
            _ms(started),
        )
    elapsed = _ms(started)
    detail = f"{backend}: a message went through a group and back"
    if "InMemoryChannelLayer" in backend:
        detail += (
            "; in-memory, so events stay inside each process (fine for one process; set "
            "REDIS_URL for several)"
        )
    return Finding("channel layer", OK, detail, ms=elapsed)


async def _round_trip(layer) -> None:
    """Send a message through a group to a new channel and read it back, as events travel."""
    group = f"locks-doctor-{secrets.token_hex(6)}"
    nonce = secrets.token_hex(8)
    try:
        async with asyncio.timeout(CHANNEL_LAYER_TIMEOUT):
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
            try:
                await layer.group_send(group, {"type": "locks.doctor", "nonce": nonce})
                message = await layer.receive(channel)
            finally:
                await layer.group_discard(group, channel)
        if message.get("nonce") != nonce:
            raise RuntimeError(f"read back a different message: {message!r}")
    finally:
        close = getattr(layer, "close_pools", None)
        if close is not None:  # channels-redis: close this layer's connections
            await close()


# ---------------------------------------------------------------- websocket route


def check_websocket_route() -> Finding:
    wanted = lock_settings.WEBSOCKET_URL
    if wanted == AUTO:  # pages get the route's own address when this server serves it
        wanted = ROUTE
    path = getattr(settings, "ASGI_APPLICATION", None)
    if not path:
        return Finding(
            "websocket route", FAILED, "ASGI_APPLICATION is not set", _FIXES["websocket route"]
        )
    application = import_string(path)
    routes = locks_routes(application)
    if not routes:
        return Finding(
            "websocket route",
            FAILED,
            f"{path} routes no websocket to locks.consumers.LockConsumer",
            _FIXES["websocket route"],
        )
    if not wanted:
        return Finding(
            "websocket route",
            OK,
            f"{path} routes /{routes[0]} to the lock consumer; live updates are off "
            "(LOCKS_WEBSOCKET_URL is empty): pages poll",
        )
    expected = urlsplit(wanted).path.lstrip("/")
    if expected not in routes:
        return Finding(
            "websocket route",
            WARNING,
            f"{path} routes /{routes[0]} to the lock consumer, but pages connect to "
            f"{wanted} (LOCKS_WEBSOCKET_URL)",
            "Unless a proxy maps one onto the other, make LOCKS_WEBSOCKET_URL and the route "
            "(locks/routing.py) the same path.",
        )
    return Finding("websocket route", OK, f"{path} routes /{expected} to the lock consumer")


# ---------------------------------------------------------------- clocks


def check_clock() -> Finding:
    skew_s = skew.measure()
    detail = skew.describe(skew_s)
    if abs(skew_s) > CLOCK_SKEW_LIMIT:
        return Finding("clock", WARNING, detail, _FIXES["clock"])
    return Finding("clock", OK, detail)


# ---------------------------------------------------------------- stale locks


def check_stale_locks() -> Finding:
    stale = list(
        EditLock.objects.stale().with_clock().values_list("expires_at", "activity_at", "clock_now")
    )
    if not stale:
        return Finding("stale locks", OK, "no lapsed lock is waiting to be swept")
    now = stale[0][2]  # the database's time: the one lock times are measured in
    lapsed = [min(e, a + lock_settings.idle_timeout) if e else a for e, a, _ in stale]
    oldest = (now - min(lapsed)).total_seconds()
    detail = f"{len(stale)} lapsed lock(s) not yet swept, the oldest {oldest:.0f} s ago"
    if oldest > 120:  # the sweeper takes well under a second, cron a minute
        return Finding("stale locks", WARNING, detail, _FIXES["stale locks"])
    return Finding("stale locks", OK, detail + " (the sweeper or cron will free them)")


# ---------------------------------------------------------------- settings


def check_settings() -> Finding:
    from django.core import checks

    problems = [p for p in checks.run_checks(tags=["locks"]) if p.level >= checks.WARNING and p.id]
    if not problems:
        return Finding("settings", OK, "lock settings pass their system checks (tag locks)")
    errors = [p for p in problems if p.level >= checks.ERROR]
    detail = "; ".join(f"{p.id}: {p.msg}" for p in problems)
    fix = " ".join(p.hint for p in problems if p.hint)
    return Finding("settings", FAILED if errors else WARNING, detail, fix)


# ---------------------------------------------------------------- the list


_FIXES = {
    "database": "Check DATABASE_URL, then run `python manage.py migrate`.",
    "channel layer": (
        "Start Redis or correct REDIS_URL (CHANNEL_LAYERS); until then saves work but pages "
        "get no live updates and fall back to polling."
    ),
    "websocket route": (
        "Point ASGI_APPLICATION at an application built with locks.asgi.with_websockets "
        "(or whose websocket router includes locks.routing.websocket_urlpatterns); see "
        'docs/install.md, "Live updates".'
    ),
    "clock": (
        "Synchronise this server's clock (NTP, e.g. chrony or systemd-timesyncd) with the "
        "database server's."
    ),
    "stale locks": (
        "Nothing seems to sweep: run `python manage.py release_stale_locks` from cron every minute."
    ),
    "settings": "Run `python manage.py check` and follow its hints.",
}

_NEED_DATABASE = {"clock", "stale locks"}

CHECKS: list[tuple[str, Callable[[], Finding]]] = [
    ("database", check_database),
    ("channel layer", check_channel_layer),
    ("websocket route", check_websocket_route),
    ("clock", check_clock),
    ("stale locks", check_stale_locks),
    ("settings", check_settings),
]
