"""Time is an input (ARCHITECTURE.md decision 4): runtime code asks a clock, never the OS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


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
    """A clock tests and simulations move by hand: weeks pass in milliseconds."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0)

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
        """Jump to `when` (not earlier than now)."""
        if when < self._now:
            raise ValueError("a clock does not go backwards")
        self._now = when
        return self._now
