"""Time is an input (ARCHITECTURE.md decision 4): runtime code asks a clock, never the OS.

The convention (docs/runtime.md, "Time"): inside the runtime every datetime is naive and
means UTC. Every boundary converts: `utc()` turns an aware datetime (any offset) into
naive UTC and keeps a naive one (it already means UTC); `iso()` writes a datetime as
ISO 8601 text with its offset (`+00:00`), the form the store and the API use.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, overload


@overload
def utc(value: datetime) -> datetime: ...
@overload
def utc(value: None) -> None: ...
def utc(value: datetime | None) -> datetime | None:
    """Return `value` as a naive UTC datetime (aware: converted; naive: already UTC)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def iso(value: datetime) -> str:
    """Return a datetime as ISO 8601 text in UTC with its offset: 2026-01-05T09:00:00+00:00."""
    return utc(value).replace(tzinfo=UTC).isoformat()


class Clock(Protocol):
    """Something that tells the time (naive UTC datetimes throughout the runtime)."""

    def now(self) -> datetime:
        """Return the current time as a naive UTC datetime."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current UTC time (naive)."""
        return datetime.now(UTC).replace(tzinfo=None)


class FakeClock:
    """A clock tests and simulations move by hand: weeks pass in milliseconds.

    It may be started or set with an aware datetime (any offset); it keeps and returns
    naive UTC, as every clock does.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = utc(start) if start is not None else datetime(2026, 1, 5, 9, 0)

    def now(self) -> datetime:
        """Return the fake current time."""
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        """Move the clock forward by `delta` (or timedelta(**kwargs)); return the new time."""
        step = delta if delta is not None else timedelta(**kwargs)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards")
        self._now += step
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to `when` (not earlier than now; aware or naive UTC)."""
        target = utc(when)
        if target < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = target
        return self._now
