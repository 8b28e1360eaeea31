"""Working-time arithmetic: weekends, holidays, split hours, local time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.spec.base import Duration, parse_duration
from engine.spec.manifest import Calendar
from runtime import calendar as cal_mod
from runtime.calendar import add_duration, working_seconds_between

SH = "Asia/Shanghai"
SPLIT = Calendar(hours=["09:00-12:00", "13:00-18:00"])  # 8 working hours, Mon-Fri


def local(tz: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """Return a local wall time in `tz` as naive UTC."""
    wall = datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))
    return wall.astimezone(UTC).replace(tzinfo=None)


def add(start: datetime, text: str, calendar: Calendar | None = SPLIT, tz: str = SH) -> datetime:
    return add_duration(start, parse_duration(text), calendar, tz)


def test_plain_duration_ignores_the_calendar() -> None:
    start = local(SH, 2026, 1, 9, 17, 0)  # a Friday
    assert add(start, "72h") == start + timedelta(hours=72)
    assert add(start, "2 working days", None) == start + timedelta(days=2)


def test_working_hours_skip_the_weekend() -> None:
    # Friday 17:00 -> one hour on Friday, one on Monday morning.
    assert add(local(SH, 2026, 1, 9, 17, 0), "2 working hours") == local(SH, 2026, 1, 12, 10, 0)


def test_working_days_skip_the_weekend_at_the_same_local_time() -> None:
    assert add(local(SH, 2026, 1, 9, 10, 30), "2 working days") == local(SH, 2026, 1, 13, 10, 30)


def test_working_days_skip_a_holiday() -> None:
    holiday = Calendar(hours=["09:00-18:00"], holidays=[date(2026, 1, 9)])
    start = local(SH, 2026, 1, 8, 10, 0)  # Thursday; Friday is a holiday
    assert add(start, "1 working day", holiday) == local(SH, 2026, 1, 12, 10, 0)
    assert add(start, "10 working hours", holiday) == local(SH, 2026, 1, 12, 11, 0)


def test_extra_holidays_argument_counts_too() -> None:
    start = local(SH, 2026, 1, 8, 10, 0)
    got = add_duration(start, parse_duration("1 working day"), SPLIT, SH, {date(2026, 1, 9)})
    assert got == local(SH, 2026, 1, 12, 10, 0)


def test_split_hours_skip_the_lunch_break() -> None:
    monday = (2026, 1, 5)
    assert add(local(SH, *monday, 11, 0), "2 working hours") == local(SH, *monday, 14, 0)
    assert add(local(SH, *monday, 9, 0), "8 working hours") == local(SH, *monday, 18, 0)
    assert add(local(SH, *monday, 9, 0), "9 working hours") == local(SH, 2026, 1, 6, 10, 0)
    assert add(local(SH, *monday, 11, 30), "1h30m working") == local(SH, *monday, 14, 0)


def test_start_outside_working_hours_counts_from_the_next_period() -> None:
    assert add(local(SH, 2026, 1, 5, 7, 0), "1 working hour") == local(SH, 2026, 1, 5, 10, 0)
    assert add(local(SH, 2026, 1, 5, 12, 30), "30 working minutes") == local(SH, 2026, 1, 5, 13, 30)
    # Monday 20:00 -> counting starts Tuesday 09:00 -> one working day is Wednesday 09:00.
    assert add(local(SH, 2026, 1, 5, 20, 0), "1 working day") == local(SH, 2026, 1, 7, 9, 0)
    # Saturday -> Monday 09:00 -> Tuesday 09:00.
    assert add(local(SH, 2026, 1, 10, 15, 0), "1 working day") == local(SH, 2026, 1, 13, 9, 0)
    # Lunch -> 13:00 -> next working day 13:00.
    assert add(local(SH, 2026, 1, 5, 12, 15), "1 working day") == local(SH, 2026, 1, 6, 13, 0)


def test_hours_weeks_and_fractions_of_days() -> None:
    monday_nine = local(SH, 2026, 1, 5, 9, 0)
    # 24 working hours are three 8-hour days, not one working day.
    assert add(monday_nine, "24 working hours") == local(SH, 2026, 1, 7, 18, 0)
    # A working week is as many working days as the calendar has weekdays (5).
    assert add(monday_nine, "1 working week") == local(SH, 2026, 1, 12, 9, 0)
    # Half a working day is half of its 8 hours.
    assert add(monday_nine, "1.5 working days") == local(SH, 2026, 1, 6, 14, 0)
    assert add(monday_nine, "1 working day 2h") == local(SH, 2026, 1, 6, 11, 0)


def test_duration_without_readable_text_falls_back_to_seconds() -> None:
    start = local(SH, 2026, 1, 9, 10, 0)
    days = Duration(seconds=2 * 86400, working=True, text="")
    hours = Duration(seconds=3 * 3600, working=True, text="")
    assert add_duration(start, days, SPLIT, SH) == local(SH, 2026, 1, 13, 10, 0)
    assert add_duration(start, hours, SPLIT, SH) == local(SH, 2026, 1, 9, 14, 0)


def test_days_keep_local_time_across_a_dst_change() -> None:
    ny = "America/New_York"  # DST starts Sunday 2026-03-08
    start = local(ny, 2026, 3, 6, 10, 0)
    got = add(start, "1 working day", Calendar(), ny)
    assert got == local(ny, 2026, 3, 9, 10, 0)
    assert got - start == timedelta(days=3) - timedelta(hours=1)


def test_calendar_without_working_time_is_an_error() -> None:
    start = local(SH, 2026, 1, 5, 9, 0)
    with pytest.raises(ValueError, match="no working time"):
        add(start, "1 working hour", Calendar(weekdays=[]))
    with pytest.raises(ValueError, match="no working time"):
        add(start, "1 working day", Calendar(hours=[]))
    with pytest.raises(ValueError, match="no working time"):
        working_seconds_between(start, start + timedelta(days=1), Calendar(weekdays=[]), SH)


def test_a_year_of_holidays_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cal_mod, "MAX_DAYS", 20)
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(10)]
    only_mondays = Calendar(weekdays=["mon"], holidays=mondays)
    with pytest.raises(ValueError, match="no working time within 20 days"):
        add(local(SH, 2026, 1, 5, 9, 0), "1 working hour", only_mondays)
    with pytest.raises(ValueError, match="no working time within 20 days"):
        add(local(SH, 2026, 1, 5, 9, 0), "1 working day", only_mondays)


def test_unknown_time_zone_is_an_error() -> None:
    with pytest.raises(ValueError, match="not an IANA time zone"):
        add(datetime(2026, 1, 5), "1 working hour", SPLIT, "Mars/Olympus")


def test_working_seconds_between() -> None:
    friday = local(SH, 2026, 1, 9, 17, 0)
    monday = local(SH, 2026, 1, 12, 10, 0)
    assert working_seconds_between(friday, monday, SPLIT, SH) == 2 * 3600
    assert working_seconds_between(monday, friday, SPLIT, SH) == -2 * 3600
    lunch = (local(SH, 2026, 1, 5, 11, 0), local(SH, 2026, 1, 5, 14, 0))
    assert working_seconds_between(*lunch, SPLIT, SH) == 2 * 3600
    assert working_seconds_between(friday, monday, None, SH) == (monday - friday).total_seconds()
    week = (local(SH, 2026, 1, 5, 0, 0), local(SH, 2026, 1, 12, 0, 0))
    assert working_seconds_between(*week, SPLIT, SH) == 5 * 8 * 3600
    holiday = [date(2026, 1, 7)]
    assert working_seconds_between(*week, SPLIT, SH, holiday) == 4 * 8 * 3600


@pytest.mark.parametrize("hours", ["1 working hour", "5 working hours", "19 working hours"])
@pytest.mark.parametrize(
    "start", [(2026, 1, 5, 8, 0), (2026, 1, 7, 12, 10), (2026, 1, 9, 17, 45), (2026, 1, 10, 3, 0)]
)
def test_adding_then_measuring_gives_the_duration_back(
    hours: str, start: tuple[int, int, int, int, int]
) -> None:
    begin = local(SH, *start)
    end = add(begin, hours)
    assert working_seconds_between(begin, end, SPLIT, SH) == parse_duration(hours).seconds
