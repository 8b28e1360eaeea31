"""The weighted pipeline forecast (F8): stage weight x amount x seasonal coefficient.

The database sums amounts per stage and close date; Python then weights those few
grouped rows, applies the seasonal coefficient of each close date and adds them into
day, week (from Monday) or month buckets. Snapshots of a forecast are kept in
`sf_forecast`, so its error against what was actually won can be tracked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, insert, select
from sqlalchemy.sql.elements import ColumnElement

from engine.spec import ForecastSpec, TableSpec
from runtime.metrics import StoreSql
from runtime.store import T_FORECAST, T_RECORD, Tx

Bucket = Literal["day", "week", "month"]
COEFFICIENT = "coefficient"


@dataclass(frozen=True)
class ForecastBucket:
    """One bucket of a forecast.

    `pipeline` is the plain sum of open amounts closing in the bucket, `weighted` the sum
    after stage weights, `expected` after seasonal coefficients too; `coefficient` is
    their ratio (expected / weighted), the bucket's effective seasonal coefficient.
    """

    start: datetime
    end: datetime
    expected: float
    weighted: float
    pipeline: float
    coefficient: float
    open_records: int


def bucket_start(day: date, bucket: Bucket) -> date:
    """Return the first day of the bucket holding `day` (weeks start on Monday)."""
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    if bucket == "month":
        return day.replace(day=1)
    return day


def bucket_end(start: date, bucket: Bucket) -> date:
    """Return the first day after the bucket that starts on `start`."""
    if bucket == "week":
        return start + timedelta(days=7)
    if bucket == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def _as_date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time())


class Seasonality:
    """Seasonal coefficients from a range table: a row applies to dates in [from, to].

    The first row covering a date wins; a date no row covers gets 1.0.
    """

    def __init__(self, table: TableSpec | None) -> None:
        self.ranges: list[tuple[date, date, float]] = []
        if table is None:
            return
        if not table.range or COEFFICIENT not in table.columns:
            raise ValueError("a seasonality table needs a date 'range' and a 'coefficient' column")
        first, last = table.range
        for row in table.rows:
            start, end = _as_date(row.get(first)), _as_date(row.get(last))
            value = row.get(COEFFICIENT)
            if start is None or end is None or not isinstance(value, (int, float, Decimal, str)):
                continue
            self.ranges.append((start, end, float(value)))

    def coefficient(self, day: date) -> float:
        """Return the coefficient of one date."""
        for start, end, value in self.ranges:
            if start <= day <= end:
                return value
        return 1.0


def _close_day(sql: StoreSql, field: str) -> ColumnElement[Any]:
    """Return the first ten characters (the ISO date) of a JSON date or datetime field."""
    return func.substr(sql.text(T_RECORD.c.data, field), 1, 10)


def _by_day(
    conn: Connection,
    workflows: Sequence[str],
    amount: str,
    close_date: str,
    status: str,
    first: date,
    after: date,
    stages: Iterable[str] | None = None,
    region: str | None = None,
) -> list[tuple[str | None, date, float, int]]:
    """Sum amounts of a workflow's records per (stage, close day) for days in [first, after)
    (with `region`: of the records whose `region` field is that)."""
    sql = StoreSql(conn)
    day = _close_day(sql, close_date)
    ordered = sql.ordered(day)
    total = func.sum(sql.number(T_RECORD.c.data, amount))
    conditions = [
        T_RECORD.c.workflow.in_(list(workflows)),
        T_RECORD.c.status == status,
        ordered >= first.isoformat(),
        ordered < after.isoformat(),
    ]
    if stages is not None:
        conditions.append(T_RECORD.c.stage.in_(list(stages)))
    if region is not None:
        conditions.append(sql.equals(T_RECORD.c.data, "region", region))
    query = (
        select(T_RECORD.c.stage, day.label("day"), total.label("amount"), func.count())
        .where(and_(*conditions))
        .group_by(T_RECORD.c.stage, day)
    )
    found = []
    for stage, text, value, count in conn.execute(query):
        parsed = _as_date(text)
        if parsed is not None:
            found.append((stage, parsed, float(value or 0.0), int(count)))
    return found


def compute_forecast(
    conn: Connection,
    spec: ForecastSpec,
    stage_weights: Mapping[str, float],
    seasonality: TableSpec | None,
    now: datetime,
    timezone: str = "UTC",
    workflows: Sequence[str] | None = None,
    region: str | None = None,
) -> list[ForecastBucket]:
    """Compute a forecast's buckets from the open records of its workflow (with
    `region`: only those whose `region` field is that region).

    An open record in a stage listed in `stage_weights` adds amount x weight x the
    seasonal coefficient of its close date, when that date lies within
    [today, today + horizon] (whole days). Every bucket from the one holding today to
    the one holding the horizon's last day is returned, empty ones with zeros (and the
    coefficient of their first day in range).
    """
    # "Today" is the business's date (its time zone), which close dates are written in.
    local = now.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    first = local.date()
    last = (local + timedelta(seconds=spec.horizon.seconds)).date()
    season = Seasonality(seasonality)
    rows = _by_day(
        conn,
        workflows or [spec.workflow],
        spec.amount,
        spec.close_date,
        "open",
        first,
        last + timedelta(days=1),
        stage_weights,
        region,
    )
    sums: dict[date, list[float]] = {}
    for stage, day, amount, count in rows:
        weight = float(stage_weights.get(stage or "", 0.0))
        into = sums.setdefault(bucket_start(day, spec.bucket), [0.0, 0.0, 0.0, 0.0])
        into[0] += amount * weight * season.coefficient(day)
        into[1] += amount * weight
        into[2] += amount
        into[3] += count
    buckets = []
    start = bucket_start(first, spec.bucket)
    while start <= last:
        end = bucket_end(start, spec.bucket)
        expected, weighted, pipeline, records = sums.get(start, [0.0, 0.0, 0.0, 0.0])
        coefficient = expected / weighted if weighted else season.coefficient(max(start, first))
        buckets.append(
            ForecastBucket(
                _midnight(start),
                _midnight(end),
                expected,
                weighted,
                pipeline,
                coefficient,
                int(records),
            )
        )
        start = end
    return buckets


def snapshot_forecast(tx: Tx, name: str, buckets: Iterable[ForecastBucket], now: datetime) -> int:
    """Keep a forecast as computed at `now` (one `sf_forecast` row per bucket)."""
    rows = [
        {
            "forecast": name,
            "computed_at": now,
            "bucket_start": b.start,
            "expected": b.expected,
            "coefficient": b.coefficient,
            "open_records": b.open_records,
        }
        for b in buckets
    ]
    if rows:
        tx.conn.execute(insert(T_FORECAST), rows)
    return len(rows)


def forecast_accuracy(
    conn: Connection, spec: ForecastSpec, now: datetime, workflows: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Compare past buckets' forecasts with what was actually won.

    For each bucket that has ended by `now`, the forecast is the latest snapshot taken
    at or before the bucket started; the actual is the summed amount of the workflow's
    records with status 'won' whose close date falls in the bucket. Gives per bucket:
    bucket_start, bucket_end, computed_at, expected, coefficient (the snapshot's seasonal
    coefficient), actual, error (expected - actual),
    abs_error and pct_error (abs_error / actual x 100; None when nothing was won).
    """
    f = T_FORECAST
    latest = (
        select(f.c.bucket_start, func.max(f.c.computed_at).label("at"))
        .where(
            f.c.forecast == spec.name,
            f.c.computed_at <= f.c.bucket_start,
            f.c.bucket_start <= now,
        )
        .group_by(f.c.bucket_start)
        .subquery()
    )
    query = (
        select(f.c.bucket_start, f.c.computed_at, f.c.expected, f.c.coefficient)
        .join(
            latest,
            and_(f.c.bucket_start == latest.c.bucket_start, f.c.computed_at == latest.c.at),
        )
        .where(f.c.forecast == spec.name)
        .order_by(f.c.bucket_start, f.c.id)
    )
    snapshots: dict[date, tuple[datetime, float, float | None]] = {}
    for start, computed_at, expected, coefficient in conn.execute(query):
        if _midnight(bucket_end(start.date(), spec.bucket)) <= now:
            factor = None if coefficient is None else float(coefficient)
            snapshots[start.date()] = (computed_at, float(expected), factor)
    if not snapshots:
        return []
    first = min(snapshots)
    after = bucket_end(max(snapshots), spec.bucket)
    covered = workflows or [spec.workflow]
    rows = _by_day(conn, covered, spec.amount, spec.close_date, "won", first, after)
    report = []
    for start in sorted(snapshots):
        computed_at, expected, coefficient = snapshots[start]
        end = bucket_end(start, spec.bucket)
        actual = sum(amount for _stage, day, amount, _n in rows if start <= day < end)
        error = expected - actual
        report.append(
            {
                "bucket_start": _midnight(start),
                "bucket_end": _midnight(bucket_end(start, spec.bucket)),
                "computed_at": computed_at,
                "expected": expected,
                "coefficient": coefficient,
                "actual": actual,
                "error": error,
                "abs_error": abs(error),
                "pct_error": abs(error) / abs(actual) * 100.0 if actual else None,
            }
        )
    return report
