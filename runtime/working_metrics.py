"""Metrics of durations in working time (a metric's `calendar`): measured in Python.

SQL cannot count working hours, so a metric with a `calendar` selects its rows' group
values and the start and end of each duration (a stay's `entered_at` and `left_at`, an
alert's `fired_at` and `acked_at`) with the same filters as any metric, counts each
duration's working time of the calendar (runtime/calendar.py), and aggregates the
values here with the same definitions as the SQL measures: NULL values are left out,
median and p90 interpolate linearly like `percentile_cont`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, FromClause, select
from sqlalchemy.sql.elements import ColumnElement

from runtime.calendar import WorkingTime
from runtime.store import py_time

_QUANTILES = {"median": 0.5, "p90": 0.9}


def working_spans(
    conn: Connection,
    table: FromClause,
    filters: Sequence[ColumnElement[bool]],
    groups: Sequence[tuple[str, ColumnElement[Any]]],
    span: tuple[ColumnElement[Any], ColumnElement[Any], bool],
    now: datetime,
    working: WorkingTime,
    scale: float,
) -> list[tuple[dict[str, Any], list[float | None]]]:
    """Return per group its rows' working durations divided by `scale` (None: no span).

    `span` is (start, end, open ends now): a span without an end ends `now` when the
    third item says so (a stay still open), else it has no value (an alert nobody
    acknowledged); one without a start has no value. Groups are sorted like SQL metric
    groups (NULL last).
    """
    start, end, open_ends_now = span
    columns = [expr.label(f"g{i}") for i, (_, expr) in enumerate(groups)]
    query = select(*columns, start.label("span_start"), end.label("span_end"))
    found: dict[str, tuple[dict[str, Any], list[float | None]]] = {}
    for row in conn.execute(query.select_from(table).where(*filters)).mappings():
        keys = {name: row[f"g{i}"] for i, (name, _) in enumerate(groups)}
        began = py_time(row["span_start"]) if row["span_start"] is not None else None
        ended = py_time(row["span_end"]) if row["span_end"] is not None else None
        if ended is None and open_ends_now:
            ended = now
        value = None
        if began is not None and ended is not None:
            value = working.seconds_between(began, ended) / scale
        ident = json.dumps(keys, sort_keys=True, default=str)
        found.setdefault(ident, (keys, []))[1].append(value)
    return sorted(found.values(), key=lambda item: tuple(group_order(v) for v in item[0].values()))


def aggregate(measure: str, values: Sequence[float | None]) -> float | None:
    """Aggregate values as SQL would (NULLs left out; an empty sum or mean is None)."""
    present = sorted(v for v in values if v is not None)
    if measure == "count":
        return float(len(present))
    if measure == "count_distinct":
        return float(len(set(present)))
    if not present:
        return None
    if measure == "sum":
        return math.fsum(present)
    if measure == "avg":
        return math.fsum(present) / len(present)
    if measure == "min":
        return present[0]
    if measure == "max":
        return present[-1]
    pos = _QUANTILES[measure] * (len(present) - 1)
    lo = int(pos)
    frac = pos - lo
    if lo + 1 >= len(present):
        return present[lo]
    return present[lo] * (1 - frac) + present[lo + 1] * frac


def group_order(value: Any) -> tuple[int, str, Any]:
    """Sort key for group values: NULL last, then by type, then by value."""
    if value is None:
        return (1, "", "")
    if isinstance(value, (list, dict)):
        return (0, "json", json.dumps(value, sort_keys=True))
    return (0, type(value).__name__, value)
