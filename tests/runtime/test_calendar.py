"""Working-time arithmetic: weekends, holidays, split hours, local time zones."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.spec.base import Duration, parse_duration
from engine.spec.manifest import Calendar
from runtime import calendar as cal_mod
from runtime.calendar import (
    WorkingTime,
    add_duration,
    subtract_duration,
    working_seconds_between,
)

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


# The compiler refuses these (weekdays and hours need an item each); the runtime still
# refuses to count in them rather than loop.
NO_DAYS = Calendar.model_construct(weekdays=[], hours=["09:00-18:00"], holidays=[])
NO_HOURS = Calendar.model_construct(weekdays=["mon"], hours=[], holidays=[])


def test_calendar_without_working_time_is_refused_by_the_model() -> None:
    with pytest.raises(ValueError, match="at least 1 item"):
        Calendar(weekdays=[])
    with pytest.raises(ValueError, match="at least 1 item"):
        Calendar(hours=[])


def test_calendar_without_working_time_is_an_error() -> None:
    start = local(SH, 2026, 1, 5, 9, 0)
    with pytest.raises(ValueError, match="no working time"):
        add(start, "1 working hour", NO_DAYS)
    with pytest.raises(ValueError, match="no working time"):
        add(start, "1 working day", NO_HOURS)
    with pytest.raises(ValueError, match="no working time"):
        working_seconds_between(start, start + timedelta(days=1), NO_DAYS, SH)


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


# -- counting back (SLA reminders) ------------------------------------------------------

OFFICE = Calendar(hours=["09:00-18:00"])  # 9 working hours, Mon-Fri
HALF = Calendar(hours=["09:30-18:00"])  # 8.5 working hours


def sub(end: datetime, text: str, calendar: Calendar | None = OFFICE, tz: str = SH) -> datetime:
    return subtract_duration(end, parse_duration(text), calendar, tz)


def test_one_working_day_before_monday_is_friday_same_time() -> None:
    monday = local(SH, 2026, 1, 12, 10, 0)
    assert sub(monday, "1 working day") == local(SH, 2026, 1, 9, 10, 0)
    assert sub(monday, "2 working days") == local(SH, 2026, 1, 8, 10, 0)
    assert sub(monday, "1 working week") == local(SH, 2026, 1, 5, 10, 0)


def test_working_hours_count_back_across_the_weekend() -> None:
    monday = local(SH, 2026, 1, 12, 10, 0)
    # One hour on Monday morning, three on Friday afternoon.
    assert sub(monday, "4 working hours") == local(SH, 2026, 1, 9, 15, 0)
    assert sub(monday, "1 working hour") == local(SH, 2026, 1, 12, 9, 0)  # opening time
    assert sub(monday, "10 working hours") == local(SH, 2026, 1, 9, 9, 0)
    assert sub(monday, "11 working hours") == local(SH, 2026, 1, 8, 17, 0)


def test_counting_back_from_outside_working_time() -> None:
    saturday = local(SH, 2026, 1, 10, 12, 0)
    # The last working moment before Saturday noon is Friday 18:00.
    assert sub(saturday, "2 working hours") == local(SH, 2026, 1, 9, 16, 0)
    assert sub(saturday, "1 working day") == local(SH, 2026, 1, 8, 18, 0)
    # From exactly 09:00 (a working moment) one working day back is the day before, 09:00.
    assert sub(local(SH, 2026, 1, 13, 9, 0), "1 working day") == local(SH, 2026, 1, 12, 9, 0)
    # From exactly 09:00 hours are taken from the day before.
    assert sub(local(SH, 2026, 1, 13, 9, 0), "1 working hour") == local(SH, 2026, 1, 12, 17, 0)


def test_counting_back_skips_lunch_and_holidays() -> None:
    monday = (2026, 1, 5)
    assert sub(local(SH, *monday, 14, 0), "2 working hours", SPLIT) == local(SH, *monday, 11, 0)
    holiday = Calendar(hours=["09:00-18:00"], holidays=[date(2026, 1, 9)])  # a Friday
    monday_ten = local(SH, 2026, 1, 12, 10, 0)
    assert sub(monday_ten, "1 working day", holiday) == local(SH, 2026, 1, 8, 10, 0)
    assert sub(monday_ten, "4 working hours", holiday) == local(SH, 2026, 1, 8, 15, 0)
    table = subtract_duration(
        monday_ten, parse_duration("1 working day"), OFFICE, SH, {date(2026, 1, 9)}
    )
    assert table == local(SH, 2026, 1, 8, 10, 0)


def test_plain_durations_count_back_in_clock_time() -> None:
    monday = local(SH, 2026, 1, 12, 10, 0)
    assert sub(monday, "1 day") == monday - timedelta(days=1)
    assert sub(monday, "1 working day", None) == monday - timedelta(days=1)


@pytest.mark.parametrize("text", ["1 working hour", "30 working minutes", "8.5 working hours"])
@pytest.mark.parametrize(
    "start", [(2026, 1, 5, 9, 30), (2026, 1, 7, 12, 10), (2026, 1, 9, 17, 45), (2026, 1, 6, 18, 0)]
)
def test_counting_back_undoes_adding_on_half_hours(
    text: str, start: tuple[int, int, int, int, int]
) -> None:
    begin = local(SH, *start)
    end = add(begin, text, HALF)
    assert add(sub(end, text, HALF), text, HALF) == end
    assert working_seconds_between(sub(end, text, HALF), end, HALF, SH) == (
        parse_duration(text).seconds
    )


def test_half_hour_opening() -> None:
    monday = (2026, 1, 5)
    assert add(local(SH, *monday, 9, 0), "1 working hour", HALF) == local(SH, *monday, 10, 30)
    assert add(local(SH, *monday, 9, 0), "1 working day", HALF) == local(SH, 2026, 1, 6, 9, 30)
    tuesday = local(SH, 2026, 1, 6, 9, 30)
    assert sub(tuesday, "8.5 working hours", HALF) == local(SH, *monday, 9, 30)
    assert sub(tuesday, "1 working day", HALF) == local(SH, *monday, 9, 30)


# -- is this working time? ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "working"),
    [(9, 29, False), (9, 30, True), (12, 0, True), (17, 59, True), (18, 0, False)],
)
def test_working_at_the_edges_of_half_hours(hour: int, minute: int, working: bool) -> None:
    assert WorkingTime(HALF, SH).working_at(local(SH, 2026, 1, 5, hour, minute)) is working


def test_working_at_split_hours_weekends_and_holidays() -> None:
    split = WorkingTime(SPLIT, SH, frozenset({date(2026, 1, 7)}))
    assert split.working_at(local(SH, 2026, 1, 5, 11, 59)) is True
    assert split.working_at(local(SH, 2026, 1, 5, 12, 0)) is False
    assert split.working_at(local(SH, 2026, 1, 5, 13, 0)) is True
    assert split.working_at(local(SH, 2026, 1, 7, 10, 0)) is False  # the extra holiday
    assert split.working_at(local(SH, 2026, 1, 10, 10, 0)) is False  # Saturday
    assert WorkingTime(NO_DAYS, SH).working_at(local(SH, 2026, 1, 5, 10, 0)) is False


def test_a_day_ending_at_midnight() -> None:
    late = WorkingTime(Calendar(hours=["18:00-24:00"]), SH)
    assert late.working_at(local(SH, 2026, 1, 5, 23, 59)) is True
    assert late.working_at(local(SH, 2026, 1, 6, 0, 0)) is False  # 24:00 ends Monday's hours
    assert late.working_at(local(SH, 2026, 1, 6, 18, 0)) is True
    friday = local(SH, 2026, 1, 9, 23, 0)
    assert late.add(friday, parse_duration("2 working hours")) == local(SH, 2026, 1, 12, 19, 0)


# -- summer time where it changes (Europe/Berlin) -------------------------------------------

BERLIN = "Europe/Berlin"  # summer time from Sunday 2026-03-29, back on Sunday 2026-10-25


def test_berlin_working_hours_across_the_spring_change() -> None:
    friday = local(BERLIN, 2026, 3, 27, 17, 0)
    monday = local(BERLIN, 2026, 3, 30, 10, 0)
    assert add(friday, "2 working hours", OFFICE, BERLIN) == monday
    assert monday - friday == timedelta(hours=64)  # 65 wall hours, one of them skipped
    assert sub(monday, "2 working hours", OFFICE, BERLIN) == friday
    assert sub(monday, "1 working day", OFFICE, BERLIN) == local(BERLIN, 2026, 3, 27, 10, 0)
    assert working_seconds_between(friday, monday, OFFICE, BERLIN) == 2 * 3600


def test_berlin_days_keep_local_time_across_the_autumn_change() -> None:
    friday = local(BERLIN, 2026, 10, 23, 10, 0)
    monday = local(BERLIN, 2026, 10, 26, 10, 0)
    assert monday - friday == timedelta(hours=73)
    assert add(friday, "1 working day", OFFICE, BERLIN) == monday
    assert sub(monday, "1 working day", OFFICE, BERLIN) == friday
    always = Calendar(weekdays=["sun"], hours=["00:00-24:00"])
    sunday = (local(BERLIN, 2026, 10, 25, 0, 0), local(BERLIN, 2026, 10, 26, 0, 0))
    assert working_seconds_between(*sunday, always, BERLIN) == 25 * 3600
    spring = (local(BERLIN, 2026, 3, 29, 0, 0), local(BERLIN, 2026, 3, 30, 0, 0))
    assert working_seconds_between(*spring, always, BERLIN) == 23 * 3600


def test_berlin_working_at_in_the_repeated_and_the_skipped_hour() -> None:
    night = WorkingTime(Calendar(weekdays=["sun"], hours=["02:00-03:00"]), BERLIN)
    # 2026-10-25: 02:00-03:00 happens twice (CEST, then CET); both count.
    assert night.working_at(datetime(2026, 10, 25, 0, 30)) is True  # 02:30 CEST
    assert night.working_at(datetime(2026, 10, 25, 1, 30)) is True  # 02:30 CET
    assert night.working_at(datetime(2026, 10, 25, 2, 0)) is False  # 03:00 CET
    # 2026-03-29: 02:00-03:00 does not exist; 01:59 CET is followed by 03:00 CEST.
    assert night.working_at(datetime(2026, 3, 29, 0, 59)) is False
    assert night.working_at(datetime(2026, 3, 29, 1, 0)) is False


@pytest.fixture
def new_york_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run a test on a machine whose local time zone is America/New_York."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york_machine")
def test_the_machine_time_zone_is_never_read() -> None:
    assert time.tzname[0] == "EST"
    monday = local(BERLIN, 2026, 3, 30, 10, 0)
    assert sub(monday, "1 working day", OFFICE, BERLIN) == local(BERLIN, 2026, 3, 27, 10, 0)
    assert add(local(SH, 2026, 1, 9, 17, 0), "2 working hours") == local(SH, 2026, 1, 12, 10, 0)
    assert WorkingTime(OFFICE, SH).working_at(datetime(2026, 1, 5, 1, 0)) is True  # 09:00 SH
    assert WorkingTime(OFFICE, SH).working_at(datetime(2026, 1, 5, 0, 59)) is False
