"""This server's clock against the database's: measured by the doctor, and once at start.

Lock times are the database's (see `locks.clock`), so a skewed server still agrees with the
others on who holds what; but its logs, the contention report's periods and anything else
timed by the server are off. A server more than `SKEW_LIMIT` seconds off says so in its log
at its first request (AppConfig.ready is too early to reach the database).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

from django.core.signals import request_started
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.utils.dateparse import parse_datetime

from . import clock

logger = logging.getLogger("locks.clock")

SKEW_LIMIT = 2.0
"""Seconds between this server's clock and the database's before a warning."""

_DATABASE_NOW = {
    "postgresql": "SELECT CURRENT_TIMESTAMP",
    "sqlite": "SELECT STRFTIME('%Y-%m-%d %H:%M:%f', 'now')",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "oracle": "SELECT SYS_EXTRACT_UTC(SYSTIMESTAMP) FROM DUAL",
}


def database_now(alias: str = DEFAULT_DB_ALIAS) -> datetime:
    """The database server's current time (UTC), to compare with this server's clock."""
    connection = connections[alias]
    with connection.cursor() as cursor:
        cursor.execute(_DATABASE_NOW.get(connection.vendor, "SELECT CURRENT_TIMESTAMP"))
        value = cursor.fetchone()[0]
    value = value if isinstance(value, datetime) else parse_datetime(str(value))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def measure() -> float:
    """Seconds this server's clock is ahead of the database's (negative: behind)."""
    from .models import EditLock

    alias = router.db_for_write(EditLock) or DEFAULT_DB_ALIAS
    started = time.perf_counter()
    before = clock.now()
    db_now = database_now(alias)
    # The database read its clock about halfway through the round trip.
    ours = before + timedelta(seconds=(time.perf_counter() - started) / 2)
    return (ours - db_now).total_seconds()


def describe(skew: float) -> str:
    side = "ahead of" if skew > 0 else "behind"
    return f"this server's clock is {abs(skew):.2f} s {side} the database's"


def check_at_first_request(**kwargs) -> None:
    """request_started receiver: measure once, warn if off, then stop listening."""
    request_started.disconnect(check_at_first_request, dispatch_uid=_UID)
    try:
        skew = measure()
    except Exception:  # never fail a request over this: try again at the next one
        logger.debug("Could not read the database's clock; checking at the next request.")
        arm()
        return
    if abs(skew) > SKEW_LIMIT:
        logger.warning(
            "%s. Lock times are the database's, so locks still hold across servers; "
            "synchronise this server's clock (NTP) so its logs and reports agree.",
            describe(skew),
        )


_UID = "locks.skew.check_at_first_request"


def arm() -> None:
    """Check the clocks at the next request (AppConfig.ready arms it once per process)."""
    request_started.connect(check_at_first_request, dispatch_uid=_UID)
