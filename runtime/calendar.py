"""Working-time arithmetic for SLAs: add a duration counting only working hours and days.

Times come in and go out as naive UTC; the calendar is read in the business time zone
(the bundle's `timezone`), so '09:00-18:00' means nine to six where the business is.

A working duration is read from its text (`Duration.text`):

- day parts (`2 working days`) count working days: the same local time of day, skipping
  non-working weekdays and holidays; from a start outside working time, counting begins
  at the next working period;
- week parts count as many working days as the calendar has working weekdays per week;
- hour, minute and second parts (`4 working hours`, `1h30m`) consume working hours;
- a fraction of a day (`1.5 working days`) is that fraction of a working day's hours.

A Duration whose text cannot be read falls back to its seconds: a whole number of days
counts working days, anything else working hours.

Subtracting (`subtract_duration`, for SLA reminders) mirrors adding: from a deadline
outside working time, counting starts at the last working moment before it; hour parts
are taken back through working hours, day parts go back whole working days to the same
local time. Holidays are the calendar's `holidays` plus the `date` column of its
`holidays_table` (`working_time` reads both for a bundle's calendar).
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.bundle import Bundle
from engine.spec.base import Duration, duration_parts
from engine.spec.manifest import Calendar

MAX_DAYS = 3660
_DAY = 86400
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_WEEK = 7 * _DAY

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class _Plan:
    """A calendar made ready for arithmetic."""

    zone: ZoneInfo
    weekdays: frozenset[int]
    hours: tuple[tuple[int, int], ...]  # (start, end) minutes since local midnight
    holidays: frozenset[date]

    @property
    def day_seconds(self) -> int:
        """Return the working seconds of one working day."""
        return sum(end - start for start, end in self.hours) * 60

    def working_day(self, day: date) -> bool:
        """Tell whether `day` has working hours."""
        return day.weekday() in self.weekdays and day not in self.holidays

    def intervals(self, day: date) -> list[Interval]:
        """Return the working intervals of local `day` as naive UTC (start, end) pairs."""
        if not self.working_day(day):
            return []
        spans = []
        for start, end in self.hours:
            begin, finish = self.at(day, start), self.at(day, end)
            if finish > begin:  # an interval lost in a DST gap
                spans.append((begin, finish))
        return spans

    def at(self, day: date, minutes: int) -> datetime:
        """Return local `day` at `minutes` past midnight (24:00 allowed) as naive UTC."""
        # Aware + timedelta is wall-clock arithmetic; the offset is that of the wall time.
        local = datetime.combine(day, time(0), tzinfo=self.zone) + timedelta(minutes=minutes)
        return local.astimezone(UTC).replace(tzinfo=None)

    def local_date(self, when: datetime) -> date:
        """Return the local date of naive-UTC `when`."""
        return when.replace(tzinfo=UTC).astimezone(self.zone).date()


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{tz}' is not an IANA time zone like 'Asia/Shanghai'") from None


def _parse_hours(ranges: Collection[str]) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    for item in ranges:
        match = _HOURS.match(item)
        if not match:
            raise ValueError(f"'{item}' is not a time range like '09:00-18:00'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or start >= 24 * 60 or end > 24 * 60 or start >= end:
            raise ValueError(f"'{item}' is not a time range like '09:00-18:00'")
        spans.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _plan(calendar: Calendar, tz: str, holidays: Collection[date]) -> _Plan:
    weekdays = frozenset(_WEEKDAYS[d] for d in calendar.weekdays)
    return _Plan(
        _zone(tz),
        weekdays,
        _parse_hours(calendar.hours),
        frozenset(calendar.holidays) | frozenset(holidays),
    )


def _timed(plan: _Plan) -> _Plan:
    """Return `plan`, or raise ValueError when it has no working time to count."""
    if not plan.weekdays or not plan.hours:
        raise ValueError(
            "the calendar has no working time (it needs at least one weekday and one hours range)"
        )
    return plan


def _days_from(first: date) -> Iterator[date]:
    for offset in range(MAX_DAYS + 1):
        yield first + timedelta(days=offset)
    raise ValueError(
        f"the calendar has no working time within {MAX_DAYS} days after {first.isoformat()}"
    )


def _days_back(first: date) -> Iterator[date]:
    for offset in range(MAX_DAYS + 1):
        yield first - timedelta(days=offset)
    raise ValueError(
        f"the calendar has no working time within {MAX_DAYS} days before {first.isoformat()}"
    )


def _consume(plan: _Plan, start: datetime, seconds: float) -> datetime:
    """Move forward from `start` through `seconds` of working time."""
    remaining = seconds
    for day in _days_from(plan.local_date(start)):
        for begin, end in plan.intervals(day):
            if end <= start:
                continue
            origin = max(begin, start)
            available = (end - origin).total_seconds()
            if remaining <= available:
                return origin + timedelta(seconds=remaining)
            remaining -= available
    raise AssertionError("unreachable")  # pragma: no cover, no mutate - _days_from raises


def _consume_back(plan: _Plan, end: datetime, seconds: float) -> datetime:
    """Move back from `end` through `seconds` of working time (0: the last working moment)."""
    remaining = seconds
    for day in _days_back(plan.local_date(end)):
        for begin, finish in reversed(plan.intervals(day)):
            if begin > end:
                continue
            origin = min(finish, end)
            available = (origin - begin).total_seconds()
            if remaining <= available:
                return origin - timedelta(seconds=remaining)
            remaining -= available
    raise AssertionError("unreachable")  # pragma: no cover, no mutate - _days_back raises


def _shift_days(plan: _Plan, at: datetime, days: int) -> datetime:
    """Move naive-UTC `at` by `days` working days (negative: back), keeping its local time."""
    local = at.replace(tzinfo=UTC).astimezone(plan.zone)
    step = 1 if days > 0 else -1
    walk = _days_from if days > 0 else _days_back
    counted = 0
    day = local.date()
    for day in walk(local.date() + timedelta(days=step)):
        if plan.working_day(day):
            counted += 1
            if counted == abs(days):
                break
    wall = datetime.combine(day, local.time(), tzinfo=plan.zone)
    return wall.astimezone(UTC).replace(tzinfo=None)


def _split(duration: Duration, plan: _Plan) -> tuple[int, float]:
    """Split a working duration into (whole working days, working seconds)."""
    try:
        parts = duration_parts(duration.text)
    except ValueError:
        parts = []
    if parts:
        days = sum(amount for amount, unit in parts if unit == _DAY)
        days += sum(amount * len(plan.weekdays) for amount, unit in parts if unit == _WEEK)
        seconds = sum(amount * unit for amount, unit in parts if unit < _DAY)
        whole = math.floor(days)
        return whole, seconds + (days - whole) * plan.day_seconds
    if duration.seconds % _DAY == 0:
        return int(duration.seconds // _DAY), 0.0
    return 0, duration.seconds


@dataclass(frozen=True)
class WorkingTime:
    """A calendar read in a time zone with all its holidays: working-time arithmetic."""

    calendar: Calendar
    tz: str
    holidays: frozenset[date] = frozenset()
    plan: _Plan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "plan", _plan(self.calendar, self.tz, self.holidays))

    def add(self, start: datetime, duration: Duration) -> datetime:
        """Return naive-UTC `start` plus `duration` (working time if the duration says so)."""
        if not duration.working or duration.seconds <= 0:
            return start + timedelta(seconds=duration.seconds)
        plan = _timed(self.plan)
        days, seconds = _split(duration, plan)
        at = _consume(plan, start, 0.0)  # the next moment of working time
        if days:
            at = _shift_days(plan, at, days)
        if seconds > 0:
            at = _consume(plan, at, seconds)
        return at

    def subtract(self, end: datetime, duration: Duration) -> datetime:
        """Return naive-UTC `end` minus `duration` (working time if the duration says so)."""
        if not duration.working or duration.seconds <= 0:
            return end - timedelta(seconds=duration.seconds)
        plan = _timed(self.plan)
        days, seconds = _split(duration, plan)
        at = _consume_back(plan, end, seconds)
        if days:
            at = _shift_days(plan, at, -days)
        return at

    def length(self, duration: Duration) -> float:
        """Return the working seconds a working duration stands for (else its seconds).

        `2 working days` is two working days' hours (16 hours of 09:00-12:00, 13:00-18:00).
        """
        if not duration.working:
            return duration.seconds
        days, seconds = _split(duration, self.plan)
        return days * self.plan.day_seconds + seconds

    def working_at(self, when: datetime) -> bool:
        """Tell whether naive-UTC `when` is working time (an hours range's end is not).

        The local wall time is compared with the ranges, so a repeated hour at the end
        of summer time counts (or not) both times, like any other hour.
        """
        local = when.replace(tzinfo=UTC).astimezone(self.plan.zone)
        if not self.plan.working_day(local.date()):
            return False
        minute = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
        return any(start <= minute < end for start, end in self.plan.hours)

    def seconds_between(self, a: datetime, b: datetime) -> float:
        """Return the working seconds from naive-UTC `a` to `b` (negative if `b` is earlier)."""
        if b < a:
            return -self.seconds_between(b, a)
        plan = _timed(self.plan)
        first, last = plan.local_date(a), plan.local_date(b)
        if (last - first).days > MAX_DAYS:
            raise ValueError(f"cannot count working time over more than {MAX_DAYS} days")
        total = 0.0
        day = first
        while day <= last:
            for begin, end in plan.intervals(day):
                overlap = (min(end, b) - max(begin, a)).total_seconds()
                total += max(0.0, overlap)
            day += timedelta(days=1)
        return total


def table_holidays(bundle: Bundle, calendar: Calendar) -> frozenset[date]:
    """Return the dates in the `date` column of a calendar's `holidays_table` (if any)."""
    table = bundle.tables.get(calendar.holidays_table or "")
    if table is None:
        return frozenset()
    days = (row.get("date") for row in table.rows)
    return frozenset(d for d in days if isinstance(d, date) and not isinstance(d, datetime))


_BUNDLE_CALENDARS: dict[tuple[int, str], tuple[Bundle, WorkingTime]] = {}


def working_time(bundle: Bundle, name: str | None) -> WorkingTime | None:
    """Return a bundle's calendar `name` in its time zone with every holiday (None: no such)."""
    calendar = bundle.manifest.calendars.get(name or "")
    if calendar is None:
        return None
    key = (id(bundle), name or "")
    found = _BUNDLE_CALENDARS.get(key)
    if found is not None and found[0] is bundle:
        return found[1]
    made = WorkingTime(calendar, bundle.manifest.timezone, table_holidays(bundle, calendar))
    if len(_BUNDLE_CALENDARS) > 256:
        _BUNDLE_CALENDARS.clear()
    _BUNDLE_CALENDARS[key] = (bundle, made)
    return made


def local_date(bundle: Bundle, when: datetime) -> date:
    """Return the date in the bundle's time zone at naive-UTC `when`."""
    return when.replace(tzinfo=UTC).astimezone(_zone(bundle.manifest.timezone)).date()


def add_duration(
    start: datetime,
    duration: Duration,
    calendar: Calendar | None,
    tz: str,
    holidays: Collection[date] = (),
) -> datetime:
    """Return naive-UTC `start` plus `duration`, in working time if the duration says so.

    `holidays` adds dates to the calendar's own (e.g. from its `holidays_table`).
    Raises ValueError for a calendar without working time or an unknown time zone.
    """
    if not duration.working or calendar is None or duration.seconds <= 0:
        return start + timedelta(seconds=duration.seconds)
    return WorkingTime(calendar, tz, frozenset(holidays)).add(start, duration)


def subtract_duration(
    end: datetime,
    duration: Duration,
    calendar: Calendar | None,
    tz: str,
    holidays: Collection[date] = (),
) -> datetime:
    """Return naive-UTC `end` minus `duration`, in working time if the duration says so."""
    if not duration.working or calendar is None or duration.seconds <= 0:
        return end - timedelta(seconds=duration.seconds)
    return WorkingTime(calendar, tz, frozenset(holidays)).subtract(end, duration)


def working_seconds_between(
    a: datetime,
    b: datetime,
    calendar: Calendar | None,
    tz: str,
    holidays: Collection[date] = (),
) -> float:
    """Return the working seconds from naive-UTC `a` to `b` (negative if `b` is earlier).

    Without a calendar every second counts. Spans longer than MAX_DAYS raise ValueError.
    """
    if calendar is None:
        return (b - a).total_seconds()
    return WorkingTime(calendar, tz, frozenset(holidays)).seconds_between(a, b)
