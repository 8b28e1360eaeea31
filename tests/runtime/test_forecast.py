"""The weighted pipeline forecast (F8) and its accuracy, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Connection, insert, select

from engine.spec import ForecastSpec, TableSpec
from runtime.forecast import (
    ForecastBucket,
    Seasonality,
    bucket_end,
    bucket_start,
    compute_forecast,
    forecast_accuracy,
    snapshot_forecast,
)
from runtime.store import T_FORECAST, T_RECORD, Store

NOW = datetime(2026, 1, 21, 10, 0)  # a Wednesday
WEIGHTS = {"qualify": 0.2, "negotiate": 0.6, "contract": 0.9}
_ids = count(1)


def forecast(**fields: Any) -> ForecastSpec:
    """Build a forecast spec as a definition file would."""
    base = {
        "kind": "forecast",
        "version": 1,
        "name": "distributor_pipeline",
        "workflow": "signing_east",
        "amount": "amount",
        "close_date": "expected_close",
        "horizon": "3 weeks",
        "seasonality": "seasonal_coefficients",
    }
    return ForecastSpec.model_validate({**base, **fields})


SEASON = TableSpec.model_validate(
    {
        "range": ["starts", "ends"],
        "columns": {"starts": "date", "ends": "date", "coefficient": "decimal"},
        "rows": [{"starts": "2026-01-27", "ends": "2026-02-16", "coefficient": 1.23}],
    }
)


def deal(
    conn: Connection,
    stage: str | None,
    amount: float | None,
    close: str | None,
    *,
    status: str = "open",
    workflow: str = "signing_east",
) -> None:
    """Insert one distributor deal straight into sf_record."""
    data: dict[str, Any] = {}
    if amount is not None:
        data["amount"] = amount
    if close is not None:
        data["expected_close"] = close
    conn.execute(
        insert(T_RECORD),
        {
            "id": f"d{next(_ids)}",
            "entity": "distributor_deal",
            "workflow": workflow,
            "stage": stage,
            "status": status,
            "data": data,
            "schema_version": 1,
            "read_only": False,
            "row_version": 1,
            "created_at": datetime(2026, 1, 1),
            "updated_at": datetime(2026, 1, 1),
        },
    )


@pytest.fixture
def pipeline(store: Store) -> Store:
    """Open deals around the forecast's horizon, plus deals that must not count."""
    with store.begin(NOW) as tx:
        c = tx.conn
        deal(c, "negotiate", 1000, "2026-01-21")  # today: week of 01-19, 600
        deal(c, "qualify", 500, "2026-01-23")  # week of 01-19, 100
        deal(c, "contract", 2000, "2026-01-26")  # the day before the season: 1800
        deal(c, "negotiate", 1000, "2026-01-28")  # in season: 600 x 1.23
        deal(c, "contract", None, "2026-01-29")  # no amount: counted, adds nothing
        deal(c, "contract", 100, "2026-02-03T15:00:00")  # a datetime close: 90 x 1.23
        deal(c, "negotiate", 1000, "2026-02-11")  # the horizon's last day: 600 x 1.23
        deal(c, "negotiate", 1000, "2026-02-12")  # beyond the horizon
        deal(c, "negotiate", 1000, "2026-01-20")  # already past
        deal(c, "lead", 1000, "2026-01-28")  # a stage without weight
        deal(c, "negotiate", 1000, "2026-01-28", status="won")  # no longer open
        deal(c, "negotiate", 1000, "2026-01-28", workflow="signing_west")
        deal(c, "negotiate", 1000, None)  # no close date
    return store


def shape(buckets: list[ForecastBucket]) -> list[tuple[Any, ...]]:
    return [
        (
            b.start.date(),
            b.end.date(),
            b.expected,
            b.weighted,
            b.pipeline,
            b.coefficient,
            b.open_records,
        )
        for b in buckets
    ]


def test_weekly_buckets_with_weights_season_and_horizon(pipeline: Store) -> None:
    with pipeline.read() as conn:
        buckets = compute_forecast(conn, forecast(), WEIGHTS, SEASON, NOW)
    assert shape(buckets) == [
        (date(2026, 1, 19), date(2026, 1, 26), 700.0, 700.0, 1500.0, 1.0, 2),
        (
            date(2026, 1, 26),
            date(2026, 2, 2),
            pytest.approx(2538.0),
            pytest.approx(2400.0),
            3000.0,
            pytest.approx(2538 / 2400),
            3,
        ),
        (
            date(2026, 2, 2),
            date(2026, 2, 9),
            pytest.approx(110.7),
            pytest.approx(90.0),
            100.0,
            pytest.approx(1.23),
            1,
        ),
        (
            date(2026, 2, 9),
            date(2026, 2, 16),
            pytest.approx(738.0),
            pytest.approx(600.0),
            1000.0,
            pytest.approx(1.23),
            1,
        ),
    ]


def test_without_seasonality_every_coefficient_is_one(pipeline: Store) -> None:
    with pipeline.read() as conn:
        buckets = compute_forecast(conn, forecast(seasonality=None), WEIGHTS, None, NOW)
    assert [b.expected for b in buckets] == pytest.approx([700.0, 2400.0, 90.0, 600.0])
    assert {b.coefficient for b in buckets} == {1.0}


def test_monthly_and_daily_buckets(pipeline: Store) -> None:
    with pipeline.read() as conn:
        months = compute_forecast(conn, forecast(bucket="month"), WEIGHTS, SEASON, NOW)
        days = compute_forecast(
            conn, forecast(bucket="day", horizon="7 days"), WEIGHTS, SEASON, NOW
        )
    assert [(b.start, b.end) for b in months] == [
        (datetime(2026, 1, 1), datetime(2026, 2, 1)),
        (datetime(2026, 2, 1), datetime(2026, 3, 1)),
    ]
    assert [b.expected for b in months] == pytest.approx([3238.0, 848.7])
    assert [b.open_records for b in months] == [5, 2]
    assert [b.start.day for b in days] == [21, 22, 23, 24, 25, 26, 27, 28]
    assert [b.expected for b in days] == pytest.approx([600, 0, 100, 0, 0, 1800, 0, 738])
    # An empty bucket shows the coefficient of its day.
    assert [b.coefficient for b in days] == pytest.approx([1, 1, 1, 1, 1, 1, 1.23, 1.23])


def test_stage_weights_decide_which_stages_count(pipeline: Store) -> None:
    with pipeline.read() as conn:
        buckets = compute_forecast(conn, forecast(), {"negotiate": 0.5}, None, NOW)
    assert [b.expected for b in buckets] == pytest.approx([500.0, 500.0, 0.0, 500.0])
    assert [b.open_records for b in buckets] == [1, 1, 0, 1]


def test_bucket_arithmetic() -> None:
    assert bucket_start(date(2026, 1, 25), "week") == date(2026, 1, 19)  # Sunday -> Monday
    assert bucket_start(date(2026, 1, 19), "week") == date(2026, 1, 19)
    assert bucket_start(date(2026, 12, 31), "month") == date(2026, 12, 1)
    assert bucket_end(date(2026, 12, 1), "month") == date(2027, 1, 1)
    assert bucket_end(date(2026, 2, 1), "month") == date(2026, 3, 1)
    assert bucket_end(date(2026, 2, 28), "day") == date(2026, 3, 1)


def test_seasonality_table_rules() -> None:
    season = Seasonality(
        TableSpec.model_validate(
            {
                "range": ["starts", "ends"],
                "columns": {"starts": "date", "ends": "date", "coefficient": "decimal"},
                "rows": [
                    {"starts": "2026-01-01", "ends": "2026-01-10", "coefficient": 0.5},
                    {"starts": "2026-01-05", "ends": "2026-01-20", "coefficient": 2},
                ],
            }
        )
    )
    assert season.coefficient(date(2025, 12, 31)) == 1.0
    assert season.coefficient(date(2026, 1, 1)) == 0.5
    assert season.coefficient(date(2026, 1, 7)) == 0.5  # the first covering row wins
    assert season.coefficient(date(2026, 1, 20)) == 2.0
    assert season.coefficient(date(2026, 1, 21)) == 1.0
    with pytest.raises(ValueError, match="range"):
        Seasonality(TableSpec.model_validate({"columns": {"coefficient": "decimal"}}))


def test_snapshot_keeps_each_bucket(pipeline: Store) -> None:
    with pipeline.begin(NOW) as tx:
        buckets = compute_forecast(tx.conn, forecast(), WEIGHTS, SEASON, NOW)
        assert snapshot_forecast(tx, "distributor_pipeline", buckets, NOW) == 4
    with pipeline.read() as conn:
        rows = conn.execute(select(T_FORECAST).order_by(T_FORECAST.c.bucket_start)).all()
    assert [(r.forecast, r.computed_at, r.bucket_start) for r in rows] == [
        ("distributor_pipeline", NOW, b.start) for b in buckets
    ]
    assert [r.expected for r in rows] == pytest.approx([700.0, 2538.0, 110.7, 738.0])
    assert [r.coefficient for r in rows] == pytest.approx([1.0, 2538 / 2400, 1.23, 1.23])
    assert [r.open_records for r in rows] == [2, 3, 1, 1]


def week(start: date, expected: float) -> ForecastBucket:
    begin = datetime.combine(start, datetime.min.time())
    return ForecastBucket(begin, begin + timedelta(days=7), expected, expected, expected, 1.0, 1)


def test_accuracy_uses_the_last_snapshot_before_each_bucket(store: Store) -> None:
    snapshots = [
        (datetime(2026, 1, 10, 9), "distributor_pipeline", [(date(2026, 1, 12), 300.0)]),
        (
            datetime(2026, 1, 18, 9),
            "distributor_pipeline",
            [
                (date(2026, 1, 12), 111.0),  # taken after its bucket began: ignored
                (date(2026, 1, 19), 1000.0),
                (date(2026, 1, 26), 3000.0),
                (date(2026, 2, 2), 500.0),
            ],
        ),
        (
            datetime(2026, 1, 25, 9),
            "distributor_pipeline",
            [(date(2026, 1, 26), 1500.0), (date(2026, 2, 2), 700.0)],
        ),
        (datetime(2026, 1, 25, 10), "other_forecast", [(date(2026, 1, 26), 5.0)]),
        (
            datetime(2026, 1, 26, 0),  # exactly at the start still counts as before
            "distributor_pipeline",
            [(date(2026, 1, 26), 2000.0)],
        ),
        (
            datetime(2026, 1, 27, 9),
            "distributor_pipeline",
            [(date(2026, 1, 26), 9999.0), (date(2026, 2, 2), 9999.0)],
        ),
    ]
    for at, name, weeks in snapshots:
        with store.begin(at) as tx:
            snapshot_forecast(tx, name, [week(d, v) for d, v in weeks], at)
    with store.begin(NOW) as tx:
        c = tx.conn
        deal(c, "signed", 800, "2026-01-21", status="won")
        deal(c, "signed", 2000, "2026-01-26", status="won")
        deal(c, "signed", 500, "2026-01-30T18:00:00", status="won")
        deal(c, "signed", 100, "2026-02-01", status="won")  # Sunday: still week of 01-26
        deal(c, "signed", 999, "2026-01-22", status="lost")
        deal(c, "negotiate", 999, "2026-01-22")
        deal(c, "signed", 999, "2026-01-22", status="won", workflow="signing_west")
        deal(c, "signed", 999, "2026-02-02", status="won")  # next week (not yet over)
    with store.read() as conn:
        report = forecast_accuracy(conn, forecast(), datetime(2026, 2, 3, 12))
    assert [
        (r["bucket_start"].date(), r["computed_at"], r["expected"], r["actual"], r["error"])
        for r in report
    ] == [
        (date(2026, 1, 12), datetime(2026, 1, 10, 9), 300.0, 0.0, 300.0),
        (date(2026, 1, 19), datetime(2026, 1, 18, 9), 1000.0, 800.0, 200.0),
        (date(2026, 1, 26), datetime(2026, 1, 26), 2000.0, pytest.approx(2600.0), -600.0),
    ]
    assert [r["bucket_end"] for r in report] == [
        datetime(2026, 1, 19),
        datetime(2026, 1, 26),
        datetime(2026, 2, 2),
    ]
    assert [r["abs_error"] for r in report] == pytest.approx([300.0, 200.0, 600.0])
    assert report[0]["pct_error"] is None  # nothing won: no percentage
    assert report[1]["pct_error"] == pytest.approx(25.0)
    assert report[2]["pct_error"] == pytest.approx(600 / 2600 * 100)


def test_accuracy_without_snapshots_is_empty(pipeline: Store) -> None:
    with pipeline.read() as conn:
        assert forecast_accuracy(conn, forecast(), NOW) == []
