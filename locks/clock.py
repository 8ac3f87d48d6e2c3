"""The one source of time for the lock code, so tests move time instead of sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.utils import timezone


class SystemClock:
    def now(self) -> datetime:
        return timezone.now()


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or timezone.now()

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


_clock: SystemClock | FakeClock = SystemClock()


def now() -> datetime:
    return _clock.now()


@contextmanager
def use_clock(clock: SystemClock | FakeClock) -> Iterator[SystemClock | FakeClock]:
    """Make every lock operation inside the block read time from `clock`."""
    global _clock
    previous, _clock = _clock, clock
    try:
        yield clock
    finally:
        _clock = previous
