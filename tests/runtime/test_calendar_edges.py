"""Working time at its edges (issue 15): half hours (and a half-hour time zone), merged
ranges, reversed spans with holidays, zero durations, the day cap, DST days, and every
test again on a machine whose own time zone is not UTC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from engine.spec.base import Duration, parse_duration
from engine.spec.manifest import Calendar
from runtime import calendar as cal_mod
from runtime.calendar import (
    WorkingTime,
    add_duration,
    local_date,
    subtract_duration,
    table_holidays,
    working_seconds_between,
    working_time,
)

KOLKATA = "Asia/Kolkata"  # UTC+05:30, no summer time
NEW_YORK = "America/New_York"  # summer time 2026-03-08 .. 2026-11-01
HALVES = Calendar(hours=["09:30-13:00", "13:30-18:00"])  # 8 working hours, Mon-Fri
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


@pytest.fixture(autouse=True, params=["UTC", NEW_YORK, "Asia/Tokyo"])
def machine_zone(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run every test with the machine's own time zone in UTC, behind it (New York) and
    ahead of it (Tokyo): the calendar must never read it (a naive `astimezone` would)."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield str(request.param)
    monkeypatch.undo()
    time.tzset()


def local(tz: str, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """Return a local wall time in `tz` as naive UTC."""
    wall = datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(tz))
    return wall.astimezone(UTC).replace(tzinfo=None)


def working(text: str) -> Duration:
    return parse_duration(text)


# -- half hours in a half-hour time zone -------------------------------------------------


def test_half_hour_ranges_in_a_half_hour_zone_in_naive_utc() -> None:
    kol = WorkingTime(HALVES, KOLKATA)
    monday = datetime(2026, 1, 5, 7, 0)  # 12:30 in Kolkata
    # 30 minutes before lunch, 30 after it (13:30-14:00 is 08:00-08:30 UTC).
    assert kol.add(monday, working("1 working hour")) == datetime(2026, 1, 5, 8, 30)
    assert kol.subtract(datetime(2026, 1, 5, 8, 30), working("1 working hour")) == monday
    # 03:59 UTC is 09:29 there: counting starts at 09:30 (04:00 UTC).
    assert kol.add(datetime(2026, 1, 5, 3, 59), working("30 working minutes")) == datetime(
        2026, 1, 5, 4, 30
    )
    assert kol.working_at(datetime(2026, 1, 5, 3, 59)) is False
    assert kol.working_at(datetime(2026, 1, 5, 4, 0)) is True
    assert kol.working_at(datetime(2026, 1, 5, 7, 29)) is True  # 12:59
    assert kol.working_at(datetime(2026, 1, 5, 7, 30)) is False  # 13:00, lunch
    assert kol.plan.hours == ((570, 780), (810, 1080))
    assert kol.plan.day_seconds == 8 * 3600
    assert kol.length(working("1.5 working days")) == 12 * 3600.0
    # A whole day of 8 hours: Monday 09:30 to Monday 18:00 local.
    assert working_seconds_between(
        datetime(2026, 1, 5, 4, 0), datetime(2026, 1, 5, 12, 30), HALVES, KOLKATA
    ) == (8 * 3600)
    # Friday 17:30 + 1 working hour: 30 minutes Friday, 30 Monday from 09:30.
    assert kol.add(local(KOLKATA, 2026, 1, 9, 17, 30), working("1 working hour")) == local(
        KOLKATA, 2026, 1, 12, 10, 0
    )


# -- merging ranges ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "merged"),
    [
        (["13:00-18:00", "09:00-12:00", "11:00-14:00"], ((540, 1080),)),  # overlapping
        (["09:00-18:00", "10:00-12:00"], ((540, 1080),)),  # one inside another
        (["09:00-12:00", "09:00-12:00"], ((540, 720),)),  # the same twice
        (["09:00-12:00", "12:00-13:00"], ((540, 780),)),  # touching
        (["14:00-15:00", "09:00-10:00"], ((540, 600), (840, 900))),  # apart, out of order
    ],
)
def test_overlapping_ranges_merge(hours: list[str], merged: tuple[tuple[int, int], ...]) -> None:
    wt = WorkingTime(Calendar(hours=hours), "UTC")
    assert wt.plan.hours == merged
    assert wt.plan.day_seconds == sum(b - a for a, b in merged) * 60
    assert wt.length(working("1 working day")) == wt.plan.day_seconds


def test_merged_ranges_count_each_hour_once() -> None:
    monday_nine = datetime(2026, 1, 5, 9, 0)
    overlapping = Calendar(hours=["09:00-12:00", "11:00-14:00"])
    assert add_duration(monday_nine, working("5 working hours"), overlapping, "UTC") == datetime(
        2026, 1, 5, 14, 0
    )
    assert add_duration(monday_nine, working("6 working hours"), overlapping, "UTC") == datetime(
        2026, 1, 6, 10, 0
    )
    assert working_seconds_between(monday_nine, datetime(2026, 1, 6, 0, 0), overlapping, "UTC") == (
        5 * 3600
    )
    assert WorkingTime(overlapping, "UTC").working_at(datetime(2026, 1, 5, 13, 59)) is True


@pytest.mark.parametrize(
    "hours",
    [
        "9-18",
        "09:60-18:00",
        "09:00-18:60",
        "24:00-24:00",
        "09:00-24:01",
        "18:00-09:00",
        "09:00-09:00",
    ],
)
def test_ranges_the_model_was_bypassed_for_are_refused(hours: str) -> None:
    bad = Calendar.model_construct(weekdays=["mon"], hours=[hours], holidays=[])
    with pytest.raises(ValueError) as caught:
        WorkingTime(bad, "UTC")
    assert str(caught.value) == f"'{hours}' is not a time range like '09:00-18:00'"


def test_single_digit_hours_and_spaces_are_read() -> None:
    loose = Calendar.model_construct(weekdays=["mon"], hours=[" 9:05 - 17:55 "], holidays=[])
    assert WorkingTime(loose, "UTC").plan.hours == ((545, 1075),)


# -- reversed spans, holidays ------------------------------------------------------------


def test_reversed_spans_with_holidays_are_negative() -> None:
    office = Calendar(hours=["09:00-17:00"], holidays=[date(2026, 1, 6)])
    monday_ten = datetime(2026, 1, 5, 10, 0)
    thursday_eleven = datetime(2026, 1, 8, 11, 0)
    # Monday 7 h, Tuesday a holiday, Wednesday 8 h, Thursday 2 h.
    assert working_seconds_between(monday_ten, thursday_eleven, office, "UTC") == 17 * 3600
    assert working_seconds_between(thursday_eleven, monday_ten, office, "UTC") == -17 * 3600
    extra = [date(2026, 1, 7)]
    assert working_seconds_between(thursday_eleven, monday_ten, office, "UTC", extra) == (-9 * 3600)
    wt = WorkingTime(office, "UTC", frozenset(extra))
    assert wt.seconds_between(thursday_eleven, monday_ten) == -9 * 3600
    assert wt.seconds_between(monday_ten, monday_ten) == 0.0
    assert working_seconds_between(monday_ten, monday_ten, office, "UTC") == 0.0


def test_a_span_inside_one_day_and_outside_working_time() -> None:
    office = Calendar(hours=["09:00-17:00"])
    assert (
        working_seconds_between(
            datetime(2026, 1, 5, 17, 30), datetime(2026, 1, 5, 23, 0), office, "UTC"
        )
        == 0.0
    )
    assert (
        working_seconds_between(
            datetime(2026, 1, 5, 16, 30), datetime(2026, 1, 6, 9, 15), office, "UTC"
        )
        == 45 * 60.0
    )


# -- zero and odd durations --------------------------------------------------------------

SATURDAY = datetime(2026, 1, 10, 12, 0)
ZERO = Duration(seconds=0, working=True, text="")
BACK = Duration(seconds=-3600, working=True, text="")


def test_a_zero_duration_moves_nothing_even_outside_working_time() -> None:
    office = WorkingTime(Calendar(), "UTC")
    assert office.add(SATURDAY, ZERO) == SATURDAY
    assert office.subtract(SATURDAY, ZERO) == SATURDAY
    assert office.length(ZERO) == 0.0
    assert add_duration(SATURDAY, ZERO, Calendar(), "UTC") == SATURDAY
    assert subtract_duration(SATURDAY, ZERO, Calendar(), "UTC") == SATURDAY


def test_a_negative_duration_counts_in_clock_time() -> None:
    office = WorkingTime(Calendar(), "UTC")
    assert office.add(SATURDAY, BACK) == SATURDAY - timedelta(hours=1)
    assert office.subtract(SATURDAY, BACK) == SATURDAY + timedelta(hours=1)
    assert add_duration(SATURDAY, BACK, Calendar(), "UTC") == SATURDAY - timedelta(hours=1)
    assert subtract_duration(SATURDAY, BACK, Calendar(), "UTC") == SATURDAY + timedelta(hours=1)


def test_clock_durations_ignore_the_calendar_in_every_entry_point() -> None:
    office = WorkingTime(Calendar(), "UTC")
    day = parse_duration("1 day")
    assert office.add(SATURDAY, day) == SATURDAY + timedelta(days=1)
    assert office.subtract(SATURDAY, day) == SATURDAY - timedelta(days=1)
    assert office.length(day) == 86400.0
    assert add_duration(SATURDAY, day, Calendar(), "UTC") == SATURDAY + timedelta(days=1)
    assert subtract_duration(SATURDAY, day, Calendar(), "UTC") == SATURDAY - timedelta(days=1)


def test_an_unreadable_text_falls_back_to_seconds() -> None:
    office = WorkingTime(Calendar(), "UTC")
    friday_five = datetime(2026, 1, 9, 17, 0)
    hours = Duration(seconds=7200, working=True, text="garbage")
    days = Duration(seconds=86400, working=True, text="garbage")
    assert office.add(friday_five, hours) == datetime(2026, 1, 12, 10, 0)
    assert office.add(friday_five, days) == datetime(2026, 1, 12, 17, 0)
    assert office.subtract(datetime(2026, 1, 12, 10, 0), hours) == friday_five
    assert office.subtract(datetime(2026, 1, 12, 17, 0), days) == friday_five
    assert office.length(hours) == 7200.0
    assert office.length(days) == 9 * 3600.0


def test_weeks_days_and_hours_together_on_a_three_day_week() -> None:
    short = WorkingTime(Calendar(weekdays=["mon", "wed", "fri"], hours=["10:00-14:00"]), "UTC")
    monday = datetime(2026, 1, 5, 11, 0)
    assert short.length(working("1 working week")) == 3 * 4 * 3600.0
    assert short.length(working("1 working week 1 working day 30m")) == (16 * 3600 + 1800.0)
    assert short.add(monday, working("1 working week")) == datetime(2026, 1, 12, 11, 0)
    assert short.add(monday, working("2 working days 2h")) == datetime(2026, 1, 9, 13, 0)
    assert short.add(monday, working("0.5 working days")) == datetime(2026, 1, 5, 13, 0)
    assert short.subtract(datetime(2026, 1, 9, 13, 0), working("2 working days 2h")) == monday
    assert short.subtract(datetime(2026, 1, 12, 11, 0), working("1 working week")) == monday


def test_days_from_the_end_of_working_time_start_at_the_next_period() -> None:
    office = WorkingTime(Calendar(hours=["09:00-18:00"]), "UTC")
    monday_six = datetime(2026, 1, 5, 18, 0)  # closing time is not working time
    assert office.add(monday_six, working("1 working day")) == datetime(2026, 1, 7, 9, 0)
    assert office.add(monday_six, working("1 working hour")) == datetime(2026, 1, 6, 10, 0)
    # Counting back from opening time starts from that very moment.
    tuesday_nine = datetime(2026, 1, 6, 9, 0)
    assert office.subtract(tuesday_nine, working("1 working day")) == datetime(2026, 1, 5, 9, 0)
    assert office.subtract(tuesday_nine, working("9 working hours")) == datetime(2026, 1, 5, 9, 0)
    # From 18:00 one working day back is the day before at 18:00.
    assert office.subtract(monday_six, working("1 working day")) == datetime(2026, 1, 2, 18, 0)


# -- the day cap -------------------------------------------------------------------------


@pytest.fixture
def cap(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(cal_mod, "MAX_DAYS", 20)
    return 20


FIRST = date(2026, 1, 5)


def closed(days: range) -> Calendar:
    """Every day works 09:00-17:00 except `days` (offsets from FIRST)."""
    return Calendar(
        weekdays=EVERY_DAY,
        hours=["09:00-17:00"],
        holidays=[FIRST + timedelta(days=d) for d in days],
    )


@pytest.mark.usefixtures("cap")
def test_working_time_found_on_the_last_day_of_the_cap() -> None:
    start = datetime(2026, 1, 5, 9, 0)
    assert add_duration(start, working("1 working hour"), closed(range(20)), "UTC") == datetime(
        2026, 1, 25, 10, 0
    )
    with pytest.raises(ValueError) as caught:
        add_duration(start, working("1 working hour"), closed(range(21)), "UTC")
    assert str(caught.value) == ("the calendar has no working time within 20 days after 2026-01-05")
    # Working days are looked for from the day after: offsets 1..20 closed, 21 works.
    assert add_duration(start, working("1 working day"), closed(range(1, 21)), "UTC") == (
        datetime(2026, 1, 26, 9, 0)
    )
    with pytest.raises(ValueError) as caught:
        add_duration(start, working("1 working day"), closed(range(1, 22)), "UTC")
    assert str(caught.value) == ("the calendar has no working time within 20 days after 2026-01-06")


@pytest.mark.usefixtures("cap")
def test_working_time_found_back_on_the_last_day_of_the_cap() -> None:
    end = datetime(2026, 1, 25, 17, 0)  # offset 20
    assert subtract_duration(end, working("1 working hour"), closed(range(1, 21)), "UTC") == (
        datetime(2026, 1, 5, 16, 0)
    )
    with pytest.raises(ValueError) as caught:
        subtract_duration(end, working("1 working hour"), closed(range(21)), "UTC")
    assert str(caught.value) == (
        "the calendar has no working time within 20 days before 2026-01-25"
    )


@pytest.mark.usefixtures("cap")
def test_spans_longer_than_the_cap_are_refused() -> None:
    office = Calendar(weekdays=EVERY_DAY, hours=["09:00-17:00"])
    start = datetime(2026, 1, 5, 0, 0)
    assert working_seconds_between(start, start + timedelta(days=20), office, "UTC") == (
        20 * 8 * 3600
    )
    with pytest.raises(ValueError) as caught:
        working_seconds_between(start, start + timedelta(days=21), office, "UTC")
    assert str(caught.value) == "cannot count working time over more than 20 days"


# -- DST ----------------------------------------------------------------------------------


def test_a_range_inside_the_skipped_hour_does_not_exist_that_day() -> None:
    night = Calendar(weekdays=["sun"], hours=["02:00-03:00"])
    saturday = local(NEW_YORK, 2026, 3, 7, 12)
    # 2026-03-08 has no 02:00-03:00: the next working period is a week later.
    assert add_duration(saturday, working("1 working day"), night, NEW_YORK) == local(
        NEW_YORK, 2026, 3, 22, 2
    )
    assert add_duration(saturday, working("30 working minutes"), night, NEW_YORK) == local(
        NEW_YORK, 2026, 3, 15, 2, 30
    )
    week = (local(NEW_YORK, 2026, 3, 7, 0), local(NEW_YORK, 2026, 3, 16, 0))
    assert working_seconds_between(*week, night, NEW_YORK) == 3600.0


def test_new_york_days_and_hours_across_both_changes() -> None:
    always = Calendar(weekdays=EVERY_DAY, hours=["00:00-24:00"])
    spring = (local(NEW_YORK, 2026, 3, 8, 0), local(NEW_YORK, 2026, 3, 9, 0))
    autumn = (local(NEW_YORK, 2026, 11, 1, 0), local(NEW_YORK, 2026, 11, 2, 0))
    assert working_seconds_between(*spring, always, NEW_YORK) == 23 * 3600
    assert working_seconds_between(*autumn, always, NEW_YORK) == 25 * 3600
    assert spring[0] == datetime(2026, 3, 8, 5, 0) and autumn[1] == datetime(2026, 11, 2, 5, 0)
    # A working day keeps the local time, whatever the day's length.
    assert add_duration(spring[0], working("1 working day"), always, NEW_YORK) == spring[1]
    assert subtract_duration(autumn[1], working("1 working day"), always, NEW_YORK) == autumn[0]
    # Working hours are real hours.
    assert add_duration(spring[0], working("24 working hours"), always, NEW_YORK) == datetime(
        2026, 3, 9, 5, 0
    )
    office = Calendar(hours=["09:00-17:00"])
    friday = local(NEW_YORK, 2026, 3, 6, 16)  # 21:00 UTC
    assert add_duration(friday, working("2 working hours"), office, NEW_YORK) == datetime(
        2026, 3, 9, 14, 0
    )  # Monday 10:00 EDT
    assert (
        subtract_duration(datetime(2026, 3, 9, 14, 0), working("2 working hours"), office, NEW_YORK)
        == friday
    )


def test_working_at_reads_the_business_zone_not_the_machine() -> None:
    office = WorkingTime(Calendar(hours=["09:00-17:00"]), NEW_YORK)
    assert office.working_at(datetime(2026, 1, 5, 14, 0)) is True  # 09:00 EST
    assert office.working_at(datetime(2026, 1, 5, 13, 59)) is False
    assert office.working_at(datetime(2026, 1, 5, 22, 0)) is False  # 17:00 EST
    assert office.working_at(datetime(2026, 7, 6, 13, 0)) is True  # 09:00 EDT
    assert office.working_at(datetime(2026, 1, 10, 15, 0)) is False  # Saturday


@pytest.mark.parametrize(
    ("wall", "expected"),
    [
        ((9, 29, 59, 999999), False),
        ((9, 30, 0, 0), True),
        ((9, 30, 0, 500000), True),
        ((12, 59, 59, 0), True),
        ((13, 0, 0, 1), False),
        ((13, 29, 30, 0), False),
        ((17, 59, 0, 1), True),
        ((17, 59, 59, 999999), True),
        ((18, 0, 0, 0), False),
    ],
)
def test_working_at_seconds_and_microseconds(
    wall: tuple[int, int, int, int], expected: bool
) -> None:
    hour, minute, second, micro = wall
    at = datetime(2026, 1, 5, hour, minute, second, micro) - timedelta(hours=5, minutes=30)
    assert WorkingTime(HALVES, KOLKATA).working_at(at) is expected


# -- time zones, bundles, holiday tables -------------------------------------------------


def test_an_unknown_or_malformed_zone_is_a_clear_error() -> None:
    for tz in ("Mars/Olympus", "", "../etc"):
        with pytest.raises(ValueError) as caught:
            WorkingTime(Calendar(), tz)
        assert str(caught.value) == f"'{tz}' is not an IANA time zone like 'Asia/Shanghai'"


def fake_bundle(**tables: list[dict[str, Any]]) -> Any:
    """What `table_holidays`, `working_time` and `local_date` read of a bundle."""
    calendars = {
        "office": Calendar(hours=["09:00-17:00"], holidays_table="closures"),
        "plain": Calendar(hours=["09:00-17:00"], holidays=[date(2026, 1, 7)]),
    }
    manifest = SimpleNamespace(calendars=calendars, timezone=KOLKATA)
    return SimpleNamespace(
        manifest=manifest,
        tables={name: SimpleNamespace(rows=rows) for name, rows in tables.items()},
    )


def test_table_holidays_keep_dates_only() -> None:
    rows = [
        {"date": date(2026, 1, 6)},
        {"date": datetime(2026, 1, 7, 0, 0)},
        {"date": "2026-01-08"},
        {"date": None},
        {"why": "no date"},
    ]
    bundle = fake_bundle(closures=rows)
    assert table_holidays(bundle, bundle.manifest.calendars["office"]) == {date(2026, 1, 6)}
    assert table_holidays(bundle, bundle.manifest.calendars["plain"]) == frozenset()
    assert table_holidays(fake_bundle(), bundle.manifest.calendars["office"]) == frozenset()


def test_working_time_of_a_bundle() -> None:
    bundle = fake_bundle(closures=[{"date": date(2026, 1, 6)}])
    office = working_time(bundle, "office")
    assert office is not None
    assert working_time(bundle, "office") is office  # kept
    assert (office.tz, office.holidays) == (KOLKATA, frozenset({date(2026, 1, 6)}))
    plain = working_time(bundle, "plain")
    assert plain is not None and plain.holidays == frozenset()
    assert plain.plan.holidays == frozenset({date(2026, 1, 7)})
    assert working_time(bundle, None) is None
    assert working_time(bundle, "nope") is None
    other = fake_bundle(closures=[])
    again = working_time(other, "office")
    assert again is not None and again is not office and again.holidays == frozenset()
    # Monday 09:00 in Kolkata is 03:30 UTC; Tuesday is a holiday from the table.
    assert office.add(datetime(2026, 1, 5, 3, 30), working("9 working hours")) == datetime(
        2026, 1, 7, 4, 30
    )


def test_local_date_of_a_bundle() -> None:
    bundle = fake_bundle()
    assert local_date(bundle, datetime(2026, 1, 5, 18, 29)) == date(2026, 1, 5)
    assert local_date(bundle, datetime(2026, 1, 5, 18, 30)) == date(2026, 1, 6)


def test_one_working_second_is_working_time_too() -> None:
    office = WorkingTime(Calendar(), "UTC")
    second = working("1 working second")
    monday_nine = datetime(2026, 1, 12, 9, 0)
    assert office.add(SATURDAY, second) == monday_nine + timedelta(seconds=1)
    assert add_duration(SATURDAY, second, Calendar(), "UTC") == monday_nine + timedelta(seconds=1)
    friday_six = datetime(2026, 1, 9, 18, 0)
    assert office.subtract(SATURDAY, second) == friday_six - timedelta(seconds=1)
    assert subtract_duration(SATURDAY, second, Calendar(), "UTC") == (
        friday_six - timedelta(seconds=1)
    )
    monday_ten = datetime(2026, 1, 12, 10, 0)
    assert office.add(monday_ten, working("1 working day 1s")) == datetime(2026, 1, 13, 10, 0, 1)


def test_counting_back_from_lunch_takes_the_morning() -> None:
    kol = WorkingTime(HALVES, KOLKATA)
    lunch = local(KOLKATA, 2026, 1, 5, 13, 15)
    assert kol.subtract(lunch, working("1 working hour")) == local(KOLKATA, 2026, 1, 5, 12, 0)
    assert kol.subtract(lunch, working("4 working hours")) == local(KOLKATA, 2026, 1, 2, 17, 30)


def test_a_business_day_that_is_already_tomorrow_on_the_machine() -> None:
    # 16:00 UTC on Monday is 11:00 in New York (and already Tuesday 01:00 in Tokyo).
    office = Calendar(hours=["09:00-17:00"])
    monday = datetime(2026, 1, 5, 16, 0)
    assert add_duration(monday, working("2 working hours"), office, NEW_YORK) == datetime(
        2026, 1, 5, 18, 0
    )
    assert working_seconds_between(monday, datetime(2026, 1, 5, 20, 0), office, NEW_YORK) == (
        4 * 3600.0
    )
    assert subtract_duration(
        datetime(2026, 1, 5, 20, 0), working("1 working hour"), office, NEW_YORK
    ) == datetime(2026, 1, 5, 19, 0)


def test_minutes_up_to_59_and_the_no_working_time_message() -> None:
    edge = Calendar.model_construct(weekdays=["mon"], hours=["09:59-17:59"], holidays=[])
    assert WorkingTime(edge, "UTC").plan.hours == ((599, 1079),)
    none = Calendar.model_construct(weekdays=[], hours=["09:00-17:00"], holidays=[])
    with pytest.raises(ValueError) as caught:
        WorkingTime(none, "UTC").add(SATURDAY, working("1 working hour"))
    assert str(caught.value) == (
        "the calendar has no working time (it needs at least one weekday and one hours range)"
    )


def test_evening_hours_in_utc_on_a_machine_behind_it() -> None:
    # 20:00 UTC on Monday is already Tuesday 05:00 in Tokyo, still 15:00 in New York.
    evenings = Calendar(hours=["18:00-24:00"])
    monday = datetime(2026, 1, 5, 20, 0)
    assert add_duration(monday, working("2 working hours"), evenings, "UTC") == datetime(
        2026, 1, 5, 22, 0
    )
    assert working_seconds_between(monday, datetime(2026, 1, 6, 19, 0), evenings, "UTC") == (
        5 * 3600.0
    )
    assert subtract_duration(
        datetime(2026, 1, 6, 19, 0), working("2 working hours"), evenings, "UTC"
    ) == datetime(2026, 1, 5, 23, 0)
