"""The one source of time for the lock code.

Lock times are the database's: the lock statements read its clock themselves
(`statement_timestamp()` on PostgreSQL), and reads that decide whether a lease is live select
the database's time alongside the row. So server processes whose clocks disagree still agree
on who holds what. Tests swap in a `FakeClock`, whose time the same statements take as a
parameter, and move it instead of sleeping.

`now()` is this server's own clock (or the fake one): for what is not a lock time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db.models import DateTimeField, Value
from django.db.models.expressions import Expression
from django.db.models.functions import Now
from django.utils import timezone

ZERO = timedelta(0)

# The database's current time in raw SQL, as Django's `Now()` reads it in ORM queries, and
# that time plus a parameter `%(name)s` (seconds on PostgreSQL, an SQLite date modifier).
# `%%` because the statements run with parameters.
_DATABASE_NOW = {
    "postgresql": (
        "statement_timestamp()",
        "(statement_timestamp() + make_interval(secs => %({name})s))",
    ),
    "sqlite": (
        "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')",
        "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now', %({name})s)",
    ),
}


class SystemClock:
    """Lock times from the database's clock."""

    def now(self) -> datetime:
        """This server's clock: for what is not a lock time (logs, report periods)."""
        return timezone.now()

    def expression(self) -> Expression:
        """The database's current time in an ORM query."""
        return Now()

    def sql(self, connection, name: str, offset: timedelta = ZERO) -> tuple[str, dict[str, Any]]:
        """The database's current time plus `offset` in raw SQL, and the parameter it needs
        (named `name`)."""
        try:
            plain, shifted = _DATABASE_NOW[connection.vendor]
        except KeyError:
            raise NotImplementedError(
                f"Edit locks cannot read the clock of the {connection.vendor!r} database."
            ) from None
        if not offset:
            return plain, {}
        seconds = offset.total_seconds()
        value = f"{seconds:+f} seconds" if connection.vendor == "sqlite" else seconds
        return shifted.format(name=name), {name: value}


class FakeClock:
    """A clock that only moves when told to; the statements take its time as a parameter."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or timezone.now()

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)

    def expression(self) -> Expression:
        return Value(self._now, output_field=DateTimeField())

    def sql(self, connection, name: str, offset: timedelta = ZERO) -> tuple[str, dict[str, Any]]:
        return f"%({name})s", {name: connection.ops.adapt_datetimefield_value(self._now + offset)}


_clock: SystemClock | FakeClock = SystemClock()


def now() -> datetime:
    """This server's time (or the fake clock's); lock times come from `expression`/`sql`."""
    return _clock.now()


def expression() -> Expression:
    """The lock clock's current time in an ORM query: the database's, or the fake one."""
    return _clock.expression()


def sql(connection, name: str, offset: timedelta = ZERO) -> tuple[str, dict[str, Any]]:
    """The lock clock's current time plus `offset` in raw SQL, and its parameters."""
    return _clock.sql(connection, name, offset)


@contextmanager
def use_clock(clock: SystemClock | FakeClock) -> Iterator[SystemClock | FakeClock]:
    """Make every lock operation inside the block read time from `clock`."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous
