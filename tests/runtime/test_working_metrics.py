"""Metrics with a `calendar`: dwell and response times in working hours, on both stores."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Connection, insert

from engine.spec import MetricSpec
from runtime.calendar import working_time
from runtime.metrics import MetricCache, MetricRow, compute_metric, stage_dwell
from runtime.reports import metric_report
from runtime.store import T_ALERT, T_STAY, Store
from runtime.working_metrics import aggregate
from tests.runtime.helpers import default_bundle

# The default bundle works in Asia/Shanghai (UTC+8); its `office` calendar has
# 09:00-12:00 and 13:00-18:00 on weekdays, and holidays on 2026-02-17 and 02-18.
NOW = datetime(2026, 3, 31, 12, 0)  # Tuesday 20:00 in Shanghai
_ids = count(1)


def sh(month: int, day: int, hour: int) -> datetime:
    """Return a 2026 wall time in Shanghai as naive UTC."""
    return datetime(2026, month, day, hour) - timedelta(hours=8)


def metric(**fields: Any) -> MetricSpec:
    base = {"kind": "metric", "version": 1, "name": "m", "source": "stage_history"}
    return MetricSpec.model_validate({**base, "workflow": "pharmacy_visit", **fields})


def add_stay(conn: Connection, stage: str, entered: datetime, left: datetime | None) -> None:
    conn.execute(
        insert(T_STAY),
        {
            "record_id": f"s{next(_ids)}",
            "entity": "opportunity",
            "workflow": "pharmacy_visit",
            "stage": stage,
            "entered_at": entered,
            "left_at": left,
            "dwell_seconds": None if left is None else (left - entered).total_seconds(),
            "evidence_ids": [],
        },
    )


@pytest.fixture
def stays(store: Store) -> Store:
    with store.begin(NOW) as tx:
        c = tx.conn
        add_stay(c, "proposal_demo", sh(3, 30, 10), sh(3, 30, 15))  # Monday: 4 h (lunch)
        add_stay(c, "proposal_demo", sh(3, 27, 17), sh(3, 30, 10))  # Fri-Mon: 2 h
        add_stay(c, "proposal_demo", sh(3, 28, 10), sh(3, 28, 18))  # Saturday: 0 h
        add_stay(c, "proposal_demo", sh(3, 31, 17), None)  # open: 17-18 so far, 1 h
        add_stay(c, "quote", sh(3, 30, 9), sh(3, 31, 9))  # a whole working day: 8 h
        add_stay(c, "quote", sh(2, 16, 17), sh(2, 19, 10))  # over two holidays: 2 h
    return store


def run(store: Store, spec: MetricSpec) -> list[MetricRow]:
    with store.read() as conn:
        return compute_metric(conn, spec, NOW, bundle=default_bundle())


def values(rows: list[MetricRow]) -> dict[Any, tuple[Any, int]]:
    return {r.groups.get("stage"): (r.value, r.count) for r in rows}


@pytest.mark.parametrize(
    ("measure", "demo", "quote"),
    [
        ("avg", 1.75, 5.0),
        ("sum", 7.0, 10.0),
        ("min", 0.0, 2.0),
        ("max", 4.0, 8.0),
        ("median", 1.5, 5.0),  # 0, 1, 2, 4 -> halfway between 1 and 2
        ("p90", 3.4, 7.4),  # 2 + 0.7 * (4 - 2); 2 + 0.9 * 6
        ("count", 4.0, 2.0),
    ],
)
def test_dwell_hours_in_working_time(stays: Store, measure: str, demo: float, quote: float) -> None:
    spec = metric(measure=measure, of="dwell_hours", calendar="office", group_by=["stage"])
    assert values(run(stays, spec)) == {
        "proposal_demo": (pytest.approx(demo), 4),
        "quote": (pytest.approx(quote), 2),
    }


def test_without_a_calendar_the_same_stays_count_clock_hours(stays: Store) -> None:
    spec = metric(measure="max", of="dwell_hours", group_by=["stage"])
    assert values(run(stays, spec))["proposal_demo"] == (pytest.approx(65.0), 4)


def test_where_window_and_empty_results_in_working_time(stays: Store) -> None:
    quote = metric(measure="avg", of="dwell_hours", calendar="office", where={"stage": "quote"})
    assert [(r.groups, r.value, r.count) for r in run(stays, quote)] == [({}, 5.0, 2)]
    recent = metric(
        measure="sum",
        of="dwell_hours",
        calendar="office",
        window={"last": "3 days", "on": "entered_at"},
    )
    [row] = run(stays, recent)  # entered since Saturday 20:00 local: 4 + 1 + 8 hours
    assert (row.value, row.count) == (pytest.approx(13.0), 3)
    nothing = metric(measure="avg", of="dwell_hours", calendar="office", where={"stage": "x"})
    assert [(r.value, r.count) for r in run(stays, nothing)] == [(None, 0)]
    counted = metric(measure="count", of="dwell_hours", calendar="office", where={"stage": "x"})
    assert [(r.value, r.count) for r in run(stays, counted)] == [(0.0, 0)]
    grouped = metric(
        measure="avg", of="dwell_hours", calendar="office", where={"stage": "x"}, group_by=["stage"]
    )
    assert run(stays, grouped) == []


def test_the_metric_cache_counts_in_working_time(stays: Store) -> None:
    spec = metric(measure="avg", of="dwell_hours", calendar="office", group_by=["stage"])
    with stays.read() as conn:
        cache = MetricCache(conn, {"demo_dwell": spec}, NOW, default_bundle())
        assert cache.value("demo_dwell", "proposal_demo") == pytest.approx(1.75)
        assert cache.value("demo_dwell", "quote") == pytest.approx(5.0)


def test_a_calendar_metric_needs_the_bundle(stays: Store) -> None:
    spec = metric(measure="avg", of="dwell_hours", calendar="office")
    with stays.read() as conn, pytest.raises(ValueError, match="calendar 'office'"):
        compute_metric(conn, spec, NOW)


def test_stage_dwell_in_working_hours(stays: Store) -> None:
    office = working_time(default_bundle(), "office")
    with stays.read() as conn:
        rows = {r["stage"]: r for r in stage_dwell(conn, "pharmacy_visit", NOW, office)}
    demo = rows["proposal_demo"]
    assert (demo["stays"], demo["open"]) == (4, 1)
    assert demo["avg_hours"] == pytest.approx(1.75)
    assert demo["median_hours"] == pytest.approx(1.5)
    assert demo["p90_hours"] == pytest.approx(3.4)
    assert rows["quote"]["median_hours"] == pytest.approx(5.0)


def test_alert_response_hours_in_working_time(store: Store) -> None:
    with store.begin(NOW) as tx:
        for fired, acked in [
            (sh(3, 27, 17), sh(3, 30, 9)),  # Friday 17:00 -> Monday 09:00: 1 h
            (sh(3, 30, 11), sh(3, 30, 14)),  # across lunch: 2 h
            (sh(3, 30, 11), None),  # not acknowledged: no value
        ]:
            tx.conn.execute(
                insert(T_ALERT),
                {
                    "rule": "slow_demo",
                    "dedup_key": f"k{next(_ids)}",
                    "state": "firing",
                    "started_at": fired,
                    "fired_at": fired,
                    "acked_at": acked,
                    "values": {},
                    "labels": {},
                },
            )
    spec = MetricSpec.model_validate(
        {
            "kind": "metric",
            "version": 1,
            "name": "response",
            "source": "alerts",
            "measure": "avg",
            "of": "response_hours",
            "calendar": "office",
        }
    )
    [row] = run(store, spec)
    assert (row.value, row.count) == (pytest.approx(1.5), 3)


@pytest.mark.parametrize(
    ("measure", "expected"),
    [
        ("median", 2.0),  # 1, 1, 3, 4: halfway between 1 and 3
        ("p90", 3.7),  # position 2.7: 3 + 0.7 * (4 - 3)
        ("count", 4.0),  # NULL left out
        ("count_distinct", 3.0),
        ("avg", 2.25),
        ("sum", 9.0),
        ("min", 1.0),
        ("max", 4.0),
    ],
)
def test_python_aggregates_follow_the_sql_definitions(measure: str, expected: float) -> None:
    assert aggregate(measure, [4.0, None, 1.0, 3.0, 1.0]) == pytest.approx(expected)


def test_python_aggregates_of_nothing() -> None:
    assert [aggregate(m, [None]) for m in ("count", "avg", "median", "sum")] == [
        0.0,
        None,
        None,
        None,
    ]
    assert aggregate("p90", [5.0]) == 5.0


def test_metric_report_counts_in_working_time(stays: Store) -> None:
    spec = metric(measure="max", of="dwell_hours", calendar="office", group_by=["stage"])
    with stays.read() as conn:
        report = metric_report(conn, spec, NOW, bundle=default_bundle())
    assert (report["value"], report["count"]) == (8.0, 6)
    assert [(g["stage"], g["value"], g["count"]) for g in report["groups"]] == [
        ("proposal_demo", 4.0, 4),
        ("quote", 8.0, 2),
    ]
