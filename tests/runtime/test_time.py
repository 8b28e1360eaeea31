"""Time zones: datetimes with an offset are kept as UTC, written with `+00:00`, and
cron schedules are read in the bundle's time zone (docs/runtime.md, "Time").

Every expected instant below is written twice on purpose: as it is given (with its
offset) and as the UTC the runtime keeps, so a wrong conversion cannot hide.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update

from engine.spec import ScheduleSpec
from engine.spec.base import read_dates
from runtime import queries
from runtime.clock import FakeClock, iso, utc
from runtime.core import Runtime
from runtime.errors import Invalid
from runtime.schedules import next_run, schedule_runs
from runtime.store import T_RECORD, Store
from tests.runtime.helpers import make_runtime
from tests.runtime.time_bundle import time_bundle

PLUS1 = timezone(timedelta(hours=1))
PLUS8 = timezone(timedelta(hours=8))
REP = "li.wei"


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    return make_runtime(store, tmp_path, time_bundle(tmp_path))


def cron(expression: str) -> ScheduleSpec:
    return ScheduleSpec.model_validate(
        {
            "kind": "schedule",
            "version": 1,
            "name": "s",
            "cron": expression,
            "actions": [{"notify": {"to": "role:manager", "template": "x"}}],
        }
    )


# -- the clock and the helpers ----------------------------------------------------------
def test_utc_converts_aware_times_and_keeps_naive_ones() -> None:
    assert utc(datetime(2026, 1, 5, 10, 0, tzinfo=PLUS1)) == datetime(2026, 1, 5, 9, 0)
    assert utc(datetime(2026, 1, 5, 9, 0)) == datetime(2026, 1, 5, 9, 0)
    assert iso(datetime(2026, 1, 5, 9, 0)) == "2026-01-05T09:00:00+00:00"
    assert iso(datetime(2026, 1, 5, 17, 30, tzinfo=PLUS8)) == "2026-01-05T09:30:00+00:00"


def test_a_fake_clock_started_or_set_with_an_offset_keeps_utc() -> None:
    clock = FakeClock(datetime(2026, 3, 1, 8, 0, tzinfo=PLUS8))
    assert clock.now() == datetime(2026, 3, 1, 0, 0)
    assert clock.set(datetime(2026, 3, 1, 2, 0, tzinfo=PLUS1)) == datetime(2026, 3, 1, 1, 0)
    with pytest.raises(ValueError, match="does not go backwards"):
        clock.set(datetime(2026, 3, 1, 1, 59, tzinfo=PLUS1))  # 00:59 UTC: a minute back
    assert clock.set(datetime(2026, 3, 1, 1, 0, tzinfo=UTC)) == datetime(2026, 3, 1, 1, 0)


# -- record data -------------------------------------------------------------------------
def test_a_datetime_with_an_offset_is_stored_as_utc_and_written_with_its_offset(
    rt: Runtime, store: Store
) -> None:
    view = rt.create(
        "shipment",
        {
            "ref": "A-1",
            "promised_at": "2026-01-07T10:00:00+01:00",
            "delivered_at": datetime(2026, 1, 7, 20, 30, tzinfo=PLUS8),
        },
        actor=REP,
    )
    assert view.data["promised_at"] == datetime(2026, 1, 7, 9, 0)
    assert view.data["delivered_at"] == datetime(2026, 1, 7, 12, 30)
    # The YAML default "2026-01-05T17:00:00+08:00" is 09:00 UTC.
    assert view.data["window_end"] == datetime(2026, 1, 5, 9, 0)
    # Computed fields see UTC on both sides: no offset-naive/aware clash.
    assert view.data["hours_late"] == 3.5
    assert view.data["days_left"] == 2.0
    assert view.data["late"] is True
    assert view.data["promised_day"] == date(2026, 1, 7)
    with store.read() as conn:
        stored = conn.execute(select(T_RECORD.c.data).where(T_RECORD.c.id == view.id)).scalar()
    stored = stored if isinstance(stored, dict) else __import__("json").loads(stored)
    assert stored["promised_at"] == "2026-01-07T09:00:00+00:00"
    shown = rt.get(view.id).to_dict()
    assert shown["data"]["delivered_at"] == "2026-01-07T12:30:00+00:00"
    assert shown["created_at"] == "2026-01-05T09:00:00+00:00"


def test_the_day_of_a_datetime_is_its_utc_day(rt: Runtime) -> None:
    # 2026-01-08 01:00 in Shanghai is still 2026-01-07 in UTC.
    view = rt.create(
        "shipment", {"ref": "A-2", "promised_at": "2026-01-08T01:00:00+08:00"}, actor=REP
    )
    assert view.data["promised_day"] == date(2026, 1, 7)


def test_datetime_bounds_compare_instants_whatever_the_offsets(rt: Runtime) -> None:
    """min is 2026-01-01T00:00:00+08:00 = 2025-12-31T16:00 UTC; max 2026-12-31T23:59:59Z."""
    low = rt.create("shipment", {"ref": "lo", "promised_at": "2025-12-31T16:00:00Z"}, actor=REP)
    assert low.data["promised_at"] == datetime(2025, 12, 31, 16, 0)
    with pytest.raises(Invalid) as caught:
        rt.create("shipment", {"ref": "x", "promised_at": "2026-01-01T00:59:59+09:00"}, actor=REP)
    [problem] = caught.value.problems
    assert (problem.field, problem.message) == (
        "promised_at",
        "promised_at: Input should be greater than or equal to 2025-12-31T16:00:00+00:00",
    )
    high = "2027-01-01T00:59:59+01:00"  # 2026-12-31T23:59:59Z exactly: allowed
    assert rt.create("shipment", {"ref": "hi", "promised_at": high}, actor=REP).data[
        "promised_at"
    ] == datetime(2026, 12, 31, 23, 59, 59)
    with pytest.raises(Invalid) as caught:
        rt.create("shipment", {"ref": "x", "promised_at": "2027-01-01T00:00:00Z"}, actor=REP)
    assert [p.message for p in caught.value.problems] == [
        "promised_at: Input should be less than or equal to 2026-12-31T23:59:59+00:00"
    ]


def test_a_command_at_an_aware_time_runs_at_that_instant(rt: Runtime) -> None:
    rt.clock.set(datetime(2026, 1, 6, 10, 0, tzinfo=PLUS1))  # type: ignore[attr-defined]
    view = rt.create("shipment", {"ref": "A-3", "promised_at": "2026-01-07T00:00:00Z"}, actor=REP)
    assert view.created_at == datetime(2026, 1, 6, 9, 0)
    with rt.unit(REP, datetime(2026, 1, 6, 18, 0, tzinfo=PLUS8)) as unit:
        assert unit.now == datetime(2026, 1, 6, 10, 0)


def test_updating_a_datetime_with_another_offset_keeps_utc(rt: Runtime) -> None:
    view = rt.create("shipment", {"ref": "A-4", "promised_at": "2026-01-07T09:00:00"}, actor=REP)
    changed = rt.update(view.id, {"delivered_at": "2026-01-07T09:00:00-05:00"}, actor=REP)
    assert changed.data["delivered_at"] == datetime(2026, 1, 7, 14, 0)
    assert changed.data["hours_late"] == 5.0


# -- ticks and schedules -----------------------------------------------------------------
def test_a_tick_at_an_aware_time_never_crashes(rt: Runtime) -> None:
    first = rt.tick(datetime(2026, 1, 5, 17, 0, tzinfo=PLUS8))
    assert first.now == datetime(2026, 1, 5, 9, 0)
    later = rt.tick(datetime(2026, 1, 5, 9, 2, tzinfo=UTC))  # metric alerts compare times
    assert later.now == datetime(2026, 1, 5, 9, 2)


def test_cron_runs_at_the_bundles_local_time() -> None:
    """`0 9 * * mon` in Asia/Shanghai (UTC+8, no DST) is Monday 01:00 UTC."""
    spec = cron("0 9 * * mon")
    monday = datetime(2026, 1, 5, 0, 59)  # Monday 08:59 in Shanghai
    assert next_run(spec, monday, "Asia/Shanghai") == datetime(2026, 1, 5, 1, 0)
    assert next_run(spec, datetime(2026, 1, 5, 1, 0), "Asia/Shanghai") == datetime(
        2026, 1, 12, 1, 0
    )
    assert next_run(spec, monday, "UTC") == datetime(2026, 1, 5, 9, 0)


def test_cron_keeps_local_time_across_daylight_saving_time() -> None:
    """Europe/Berlin moves from UTC+1 to UTC+2 on Sunday 2026-03-29 at 02:00 local."""
    daily = cron("0 9 * * *")
    berlin = "Europe/Berlin"
    assert next_run(daily, datetime(2026, 3, 28, 8, 0), berlin) == datetime(2026, 3, 29, 7, 0)
    assert next_run(daily, datetime(2026, 3, 27, 9, 0), berlin) == datetime(2026, 3, 28, 8, 0)
    assert next_run(daily, datetime(2026, 3, 29, 7, 0), berlin) == datetime(2026, 3, 30, 7, 0)
    # Back in October (2026-10-25 03:00 local -> 02:00): 09:00 local is 08:00 UTC again.
    assert next_run(daily, datetime(2026, 10, 24, 7, 0), berlin) == datetime(2026, 10, 25, 8, 0)
    # An aware `after` is the same instant as its naive UTC.
    aware = datetime(2026, 3, 28, 9, 0, tzinfo=PLUS1)
    assert next_run(daily, aware, berlin) == datetime(2026, 3, 29, 7, 0)


def test_a_cron_schedule_fires_at_its_local_time_through_tick(rt: Runtime) -> None:
    """The bundle is in Asia/Shanghai: `0 9 * * *` runs at 01:00 UTC, a shipment each day."""
    clock = rt.clock
    assert rt.tick().schedules == []  # 2026-01-05 09:00 UTC: first sight
    clock.set(datetime(2026, 1, 6, 0, 59, 59))  # type: ignore[attr-defined]
    assert "morning_shipment" not in rt.tick().schedules
    clock.set(datetime(2026, 1, 6, 9, 0, 0, tzinfo=PLUS8))  # type: ignore[attr-defined]
    report = rt.tick()
    assert "morning_shipment" in report.schedules and report.late_schedules == 0
    with rt.store.read() as conn:
        [state] = [s for s in schedule_runs(conn, rt.bundle) if s["name"] == "morning_shipment"]
    assert state["next_run"] == "2026-01-07T01:00:00+00:00"
    assert state["timezone"] == "Asia/Shanghai"
    assert state["last_runs"] == [
        {
            "due": "2026-01-06T01:00:00+00:00",
            "started_at": "2026-01-06T01:00:00+00:00",
            "finished_at": "2026-01-06T01:00:00+00:00",
            "outcome": "ok",
            "error": None,
            "late": False,
            "late_by_seconds": None,
            "items": None,
        }
    ]


def test_a_failed_run_is_recorded_and_does_not_stop_the_tick(rt: Runtime, store: Store) -> None:
    """far_shipment's record is past the field's max: the run fails, alone, and says why."""
    rt.tick()  # first sight: far_shipment due in 24 hours
    rt.clock.advance(hours=24)  # type: ignore[attr-defined]
    report = rt.tick()
    assert "far_shipment" not in report.schedules and report.failed == 1
    with store.read() as conn:
        states = {s["name"]: s for s in schedule_runs(conn, rt.bundle)}
        shipments = conn.execute(select(T_RECORD.c.id).where(T_RECORD.c.entity == "shipment"))
        # Only morning_shipment's record (it ran late at 09:00): far_shipment's was undone.
        assert len(shipments.all()) == 1
    far = states["far_shipment"]
    [run] = far["last_runs"]
    assert (run["outcome"], run["late"], run["due"]) == (
        "failed",
        False,
        "2026-01-06T09:00:00+00:00",
    )
    assert run["error"] == (
        "invalid shipment: promised_at: Input should be less than or equal to "
        "2026-12-31T23:59:59+00:00"
    )
    assert far["next_run"] == "2026-01-07T09:00:00+00:00" and far["runs"] == 1


def test_late_schedule_runs_are_counted_and_say_by_how_much(rt: Runtime, store: Store) -> None:
    """Down for 3 days: morning_shipment (run_late) runs once late, far_shipment
    (mark_late) is recorded as missed; the tick counts both as late."""
    rt.tick()
    rt.clock.advance(days=3)  # type: ignore[attr-defined]
    report = rt.tick()  # 2026-01-08 09:00 UTC
    assert report.schedules == ["forecast_recompute", "morning_shipment"]
    assert report.late_schedules == 2 and report.late == 0
    with store.read() as conn:
        states = {s["name"]: s for s in schedule_runs(conn, rt.bundle)}
    [morning] = states["morning_shipment"]["last_runs"]
    assert (morning["outcome"], morning["late"], morning["due"]) == (
        "ok",
        True,
        "2026-01-06T01:00:00+00:00",
    )
    assert morning["late_by_seconds"] == 2 * 86400 + 8 * 3600
    [far] = states["far_shipment"]["last_runs"]
    assert (far["outcome"], far["started_at"], far["late_by_seconds"]) == (
        "missed",
        None,
        2 * 86400,
    )
    assert states["far_shipment"]["missed"] == 1


def test_a_run_just_within_the_grace_is_not_late(rt: Runtime) -> None:
    """The grace is 5 minutes: a run 5 minutes after its due time is on time, 5:01 late."""
    rt.tick()  # 2026-01-05 09:00 UTC: morning due 01-06 01:00, far due 01-06 09:00
    rt.clock.set(datetime(2026, 1, 6, 1, 5))  # type: ignore[attr-defined]
    report = rt.tick()
    assert (report.schedules, report.late_schedules) == (["morning_shipment"], 0)
    rt.clock.set(datetime(2026, 1, 6, 9, 5))  # type: ignore[attr-defined]
    report = rt.tick()  # far_shipment fails, on time
    assert (report.failed, report.late_schedules) == (1, 0)
    rt.clock.set(datetime(2026, 1, 7, 1, 5, 1))  # type: ignore[attr-defined]
    report = rt.tick()
    assert (report.schedules, report.late_schedules) == (["morning_shipment"], 1)


def test_naive_datetimes_stored_before_still_read_and_match_filters(
    rt: Runtime, store: Store
) -> None:
    """Data written before the convention holds naive text (UTC): it reads the same, and
    a filter on the instant finds it next to data written with `+00:00`."""
    old = rt.create("shipment", {"ref": "old", "promised_at": "2026-01-07T09:00:00"}, actor=REP)
    new = rt.create("shipment", {"ref": "new", "promised_at": "2026-01-07T10:00+01:00"}, actor=REP)
    with store.begin(rt.clock.now()) as tx:
        row = tx.conn.execute(select(T_RECORD.c.data).where(T_RECORD.c.id == old.id)).scalar()
        data = row if isinstance(row, dict) else json.loads(row)
        data["promised_at"] = "2026-01-07T09:00:00"  # as the old code wrote it
        tx.conn.execute(update(T_RECORD).where(T_RECORD.c.id == old.id).values(data=data))
    assert rt.get(old.id).data["promised_at"] == datetime(2026, 1, 7, 9, 0)
    instant = datetime(2026, 1, 7, 17, 0, tzinfo=PLUS8)
    query = queries.RecordQuery(
        ("shipment",),
        fields=[queries.FieldFilter("promised_at", "datetime", (instant,))],
    )
    with store.read() as conn:
        page = queries.list_records(conn, rt.bundle, query)
    assert sorted(v.id for v in page.items) == sorted([old.id, new.id])


def test_yaml_datetimes_with_offsets_are_read_as_utc() -> None:
    """Field defaults and bounds and datetime table cells, as text or as YAML wrote them."""
    assert read_dates("datetime", "2026-01-05T17:00:00+08:00") == datetime(2026, 1, 5, 9, 0)
    assert read_dates(
        "datetime", datetime(2026, 1, 5, 4, 0, tzinfo=timezone(timedelta(hours=-5)))
    ) == (datetime(2026, 1, 5, 9, 0))
    assert read_dates("datetime", ["2026-01-05T09:00:00Z", "2026-01-05T09:00:00"]) == [
        datetime(2026, 1, 5, 9, 0),
        datetime(2026, 1, 5, 9, 0),
    ]
    assert read_dates("date", "2026-01-05") == date(2026, 1, 5)
