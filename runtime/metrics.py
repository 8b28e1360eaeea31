"""Metrics: aggregates the store computes in SQL (P5 dwell, P13 regional margin, P14 KPIs).

A metric never loads its rows into Python: filters, windows, groups and every measure
(median and p90 included) run in the database, on SQLite and PostgreSQL alike, and only
one row per group comes back.

Sources and their columns:

- `records`: `sf_record` rows of the metric's entity. Core columns (id, entity, stage,
  workflow, status, owner, queue, created_at, updated_at, stage_entered_at,
  schema_version, created_by) are read directly; any other name is a field of the
  record's JSON `data`.
- `stage_history`: `sf_stage_history` rows of the metric's workflow, one per stay of a
  record in a stage. `dwell_hours` is the stay's dwell in hours; a stay still open
  counts the time so far (`now - entered_at`), so a record stuck in a stage raises its
  average at once (P5: "average dwell in proposal demo exceeds 72 hours") instead of
  only when it finally leaves.
- `alerts`: `sf_alert` rows. `response_hours` is `acked_at - fired_at` in hours (NULL
  while unacknowledged, so it only averages answered alerts); `owner` is the owner of
  the record the alert is about (NULL for metric alerts, which have no record).

Medians and p90 interpolate linearly between the two nearest rows, like PostgreSQL's
`percentile_cont`; SQLite, which has no percentile function, gets the same numbers
from window functions (row_number/count per group) and sums at most two weighted rows
per group.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    Connection,
    Float,
    FromClause,
    Integer,
    and_,
    case,
    cast,
    false,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql.elements import ColumnElement

from engine.bundle import Bundle
from engine.spec import MetricSpec
from engine.spec.signals import MetricWindow
from runtime.calendar import WorkingTime, working_time
from runtime.clock import iso, utc
from runtime.store import T_ALERT, T_RECORD, T_STAY
from runtime.working_metrics import aggregate, group_order, working_spans

Kind = Literal["text", "time", "number"]
_QUANTILES = {"median": 0.5, "p90": 0.9}
_NUMERIC = ("sum", "avg", "min", "max", "median", "p90")
# The duration a metric's `calendar` counts in working time, per source: its column,
# the span's start and end, whether an open span ends now, and its unit in seconds.
_SPANS: dict[str, tuple[str, Any, Any, bool, float]] = {
    "stage_history": ("dwell_hours", T_STAY.c.entered_at, T_STAY.c.left_at, True, 3600.0),
    "alerts": ("response_hours", T_ALERT.c.fired_at, T_ALERT.c.acked_at, False, 3600.0),
}


@dataclass(frozen=True)
class MetricRow:
    """One group of a metric: its group values (column -> value), the value, its row count."""

    groups: dict[str, Any]
    value: float | None
    count: int


@dataclass(frozen=True)
class _Column:
    """A column a metric may use: its SQL and what kind of values it holds."""

    expr: ColumnElement[Any]
    kind: Kind


class StoreSql:
    """Dialect-specific SQL for JSON fields and time differences (SQLite or PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self.postgres = conn.dialect.name == "postgresql"

    def _pg(self, data: ColumnElement[Any], field: str) -> Any:
        return type_coerce(data, postgresql.JSON)[field]

    @staticmethod
    def _path(field: str) -> str:
        return f'$."{field}"'

    def text(self, data: ColumnElement[Any], field: str) -> ColumnElement[Any]:
        """Return a JSON field as SQL text (strings, ISO dates); NULL when absent."""
        if self.postgres:
            return self._pg(data, field).astext  # type: ignore[no-any-return]
        return func.json_extract(data, self._path(field))

    def number(self, data: ColumnElement[Any], field: str) -> ColumnElement[Any]:
        """Return a JSON field as a float; NULL when absent or not a JSON number."""
        if self.postgres:
            is_number = func.json_typeof(self._pg(data, field)) == "number"
            return case((is_number, cast(self._pg(data, field).astext, Float)), else_=null())
        path = self._path(field)
        is_number = func.json_type(data, path).in_(["integer", "real"])
        return case((is_number, cast(func.json_extract(data, path), Float)), else_=null())

    def value(self, data: ColumnElement[Any], field: str) -> ColumnElement[Any]:
        """Return a JSON field as its JSON value (groupable; read back as Python values).

        JSON null and an absent field are both SQL NULL, so they make one group.
        """
        if self.postgres:
            as_jsonb = cast(self._pg(data, field), postgresql.JSONB)
            return func.nullif(as_jsonb, cast(literal("null"), postgresql.JSONB))
        path = self._path(field)
        kind = func.json_type(data, path)
        quoted = case(
            (kind.in_(["true", "false"]), kind),
            else_=func.json_quote(func.json_extract(data, path)),
        )
        return type_coerce(func.nullif(quoted, "null"), JSON)

    def equals(self, data: ColumnElement[Any], field: str, value: Any) -> ColumnElement[bool]:
        """Compare a JSON field with one Python value (typed by the value)."""
        if value is None:
            return self.text(data, field).is_(None)
        if isinstance(value, bool):
            if self.postgres:
                return self.text(data, field) == ("true" if value else "false")
            return func.json_type(data, self._path(field)) == ("true" if value else "false")
        if isinstance(value, (int, float)):
            return self.number(data, field) == float(value)
        if isinstance(value, datetime):
            # Stored with its offset (runtime/clock.py iso); older data naive (UTC).
            return self.text(data, field).in_([iso(value), utc(value).isoformat()])
        if isinstance(value, date):
            return self.text(data, field) == value.isoformat()
        return self.text(data, field) == str(value)

    def ordered(self, expr: ColumnElement[Any]) -> ColumnElement[Any]:
        """Compare text bytewise, so ISO dates order by time whatever the collation."""
        return expr.collate("C") if self.postgres else expr

    def seconds(self, later: ColumnElement[Any], earlier: ColumnElement[Any]) -> Any:
        """Return `later - earlier` in seconds (floating point)."""
        if self.postgres:
            return func.extract("epoch", later - earlier)
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def _columns(sql: StoreSql, source: str, now: datetime) -> tuple[FromClause, dict[str, _Column]]:
    """Return a source's table and the columns it offers besides JSON fields."""
    if source == "records":
        t = T_RECORD
        text: tuple[str, ...] = (
            "id",
            "entity",
            "stage",
            "workflow",
            "status",
            "owner",
            "queue",
            "created_by",
        )
        cols = {n: _Column(t.c[n], "text") for n in text}
        for name in ("created_at", "updated_at", "stage_entered_at"):
            cols[name] = _Column(t.c[name], "time")
        cols["schema_version"] = _Column(t.c.schema_version, "number")
        return t, cols
    if source == "stage_history":
        t = T_STAY
        text = (
            "record_id",
            "entity",
            "workflow",
            "stage",
            "from_stage",
            "to_stage",
            "actor",
            "left_by",
            "owner",
            "region",
            "outcome",
            "evidence_kind",
        )
        cols = {n: _Column(t.c[n], "text") for n in text}
        cols["entered_at"] = _Column(t.c.entered_at, "time")
        cols["created_at"] = cols["entered_at"]
        cols["left_at"] = _Column(t.c.left_at, "time")
        until = func.coalesce(t.c.left_at, literal(now, t.c.entered_at.type))
        dwell = func.coalesce(t.c.dwell_seconds, sql.seconds(until, t.c.entered_at))
        cols["dwell_seconds"] = _Column(dwell, "number")
        cols["dwell_hours"] = _Column(dwell / 3600.0, "number")
        status = (
            select(T_RECORD.c.status)
            .where(T_RECORD.c.id == t.c.record_id)
            .correlate(t)
            .scalar_subquery()
        )
        cols["record_status"] = _Column(status, "text")
        return t, cols
    if source == "alerts":
        t = T_ALERT
        text = ("rule", "dedup_key", "record_id", "state", "severity", "acked_by", "feedback")
        cols = {n: _Column(t.c[n], "text") for n in text}
        for name in ("started_at", "fired_at", "resolved_at", "acked_at"):
            cols[name] = _Column(t.c[name], "time")
        cols["created_at"] = cols["started_at"]
        response = sql.seconds(t.c.acked_at, t.c.fired_at) / 3600.0
        cols["response_hours"] = _Column(response, "number")
        owner = (
            select(T_RECORD.c.owner)
            .where(T_RECORD.c.id == t.c.record_id)
            .correlate(t)
            .scalar_subquery()
        )
        cols["owner"] = _Column(owner, "text")
        return t, cols
    raise ValueError(f"unknown metric source '{source}'")


class _Resolver:
    """Turns a metric's column names into SQL for one source."""

    def __init__(self, conn: Connection, source: str, now: datetime) -> None:
        self.sql = StoreSql(conn)
        self.source = source
        self.table, self.columns = _columns(self.sql, source, now)

    def _json(self, name: str) -> bool:
        if name in self.columns:
            return False
        if self.source != "records":
            known = ", ".join(sorted(self.columns))
            raise ValueError(f"{self.source} has no column '{name}' (columns: {known})")
        return True

    def data(self) -> ColumnElement[Any]:
        """Return the records' JSON data column."""
        return T_RECORD.c.data

    def group(self, name: str) -> ColumnElement[Any]:
        """Return SQL grouping by a column (JSON fields keep their JSON type)."""
        if self._json(name):
            return self.sql.value(self.data(), name)
        return self.columns[name].expr

    def number(self, name: str, measure: str) -> ColumnElement[Any]:
        """Return SQL for a column measured as a number."""
        if self._json(name):
            return self.sql.number(self.data(), name)
        column = self.columns[name]
        if column.kind != "number":
            raise ValueError(f"'{measure}' needs a number column; '{name}' is {column.kind}")
        return cast(column.expr, Float)

    def condition(self, name: str, wanted: Any) -> ColumnElement[bool]:
        """Return `column = value`, or `column IN (...)` for a list (None matches NULL)."""
        values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        present = [v for v in values if v is not None]
        parts: list[ColumnElement[bool]] = []
        if len(present) != len(values):
            parts.append(self._is_null(name))
        if self._json(name):
            parts.extend(self.sql.equals(self.data(), name, v) for v in present)
        elif present:
            expr = self.columns[name].expr
            parts.append(expr == present[0] if len(present) == 1 else expr.in_(present))
        if not parts:
            return false()
        return parts[0] if len(parts) == 1 else or_(*parts)

    def _is_null(self, name: str) -> ColumnElement[bool]:
        if self._json(name):
            return self.sql.text(self.data(), name).is_(None)
        return self.columns[name].expr.is_(None)

    def window(self, window: MetricWindow, now: datetime) -> ColumnElement[bool]:
        """Return `lo < on <= hi`: the span of `last` ending `offset` before now."""
        end = now - timedelta(seconds=window.offset.seconds if window.offset else 0.0)
        start = end - timedelta(seconds=window.last.seconds)
        if self._json(window.on):
            on = self.sql.ordered(self.sql.text(self.data(), window.on))
            # Datetimes are stored as `...+00:00` (older data naive, a prefix of it: at the
            # same instant it sorts first, so both bounds still hold for it).
            return and_(on > iso(start), on <= iso(end))
        column = self.columns[window.on]
        if column.kind != "time":
            raise ValueError(f"window column '{window.on}' must be a date or datetime")
        return and_(column.expr > start, column.expr <= end)


@dataclass(frozen=True)
class _Measure:
    """One aggregate to compute: its kind and the SQL it aggregates (None: rows)."""

    measure: str
    expr: ColumnElement[Any] | None


def _aggregate(
    conn: Connection,
    table: FromClause,
    filters: Sequence[ColumnElement[bool]],
    groups: Sequence[tuple[str, ColumnElement[Any]]],
    measures: Sequence[_Measure],
) -> list[tuple[dict[str, Any], int, list[float | None]]]:
    """Aggregate rows in SQL: one result (groups, row count, values) per group.

    The rows are first selected with their group values and measured columns (each
    distinct expression once), then aggregated in an outer query; on SQLite, percentile
    measures also number their rows per group (window functions) so the outer query
    picks the one or two rows around the quantile and interpolates between them.
    """
    postgres = conn.dialect.name == "postgresql"
    # A median and a p90 of the same dwell share one column (and on SQLite one numbering).
    source = _sources(measures)
    base: list[ColumnElement[Any]] = [e.label(f"g{i}") for i, (_, e) in enumerate(groups)]
    for i, m in enumerate(measures):
        if m.expr is not None and source[i] == i:
            base.append(m.expr.label(f"m{i}"))
    if not base:
        base.append(literal(1).label("one"))
    picked = select(*base).select_from(table).where(*filters).subquery("picked")
    partition = [picked.c[f"g{i}"] for i in range(len(groups))] or None
    inner: list[ColumnElement[Any]] = list(picked.c)
    numbered: set[int] = set()
    for i, m in enumerate(measures):
        j = source[i]
        if m.expr is None or m.measure not in _QUANTILES or postgres or j in numbered:
            continue
        numbered.add(j)
        x = picked.c[f"m{j}"]
        order = x.asc().nulls_last()
        inner.append(func.row_number().over(partition_by=partition, order_by=order).label(f"r{j}"))
        inner.append(func.count(x).over(partition_by=partition).label(f"n{j}"))
    rows = select(*inner).subquery("rows")
    outer: list[ColumnElement[Any]] = [rows.c[f"g{i}"] for i in range(len(groups))]
    outer.append(func.count().label("n_rows"))
    outer.extend(
        _outer(rows, source[i], m, postgres).label(f"v{i}") for i, m in enumerate(measures)
    )
    query = select(*outer).select_from(rows)
    if groups:
        query = query.group_by(*(rows.c[f"g{i}"] for i in range(len(groups))))
    found = []
    for row in conn.execute(query).mappings():
        values = [_float(row[f"v{i}"]) for i in range(len(measures))]
        keys = {name: row[f"g{i}"] for i, (name, _) in enumerate(groups)}
        found.append((keys, int(row["n_rows"] or 0), values))
    found.sort(key=lambda item: tuple(group_order(v) for v in item[0].values()))
    return found


def _sources(measures: Sequence[_Measure]) -> list[int]:
    """Return, per measure, the index of the first measure with the same expression."""
    found: list[int] = []
    for i, m in enumerate(measures):
        found.append(next((j for j in range(i) if _same(measures[j].expr, m.expr)), i))
    return found


def _same(a: ColumnElement[Any] | None, b: ColumnElement[Any] | None) -> bool:
    return a is not None and b is not None and (a is b or a.compare(b))


def _outer(rows: Any, i: int, m: _Measure, postgres: bool) -> ColumnElement[Any]:
    """Return the outer aggregate of a measure over the selected rows; `i` names the
    columns holding its values (`m{i}`, and on SQLite `r{i}`, `n{i}`)."""
    if m.expr is None:
        return func.count()
    x = rows.c[f"m{i}"]
    if m.measure == "count":
        return func.count(x)
    if m.measure == "count_distinct":
        return func.count(x.distinct())
    if m.measure in ("sum", "avg", "min", "max"):
        return getattr(func, m.measure)(x)  # type: ignore[no-any-return]
    q = _QUANTILES[m.measure]
    if postgres:
        return func.percentile_cont(q).within_group(x.asc())
    # percentile_cont: position q * (n - 1) between rows lo and lo + 1 (0-based).
    pos = literal(q, Float) * (rows.c[f"n{i}"] - 1)
    lo = cast(pos, Integer)
    frac = pos - lo
    rank = rows.c[f"r{i}"]
    return func.sum(
        case((rank == lo + 1, x * (1 - frac)), (rank == lo + 2, x * frac), else_=null())
    )


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def compute_metric(
    conn: Connection,
    spec: MetricSpec,
    now: datetime,
    *,
    group: Mapping[str, Any] | None = None,
    bundle: Bundle | None = None,
) -> list[MetricRow]:
    """Compute a metric in SQL: one row per group (one row in all when ungrouped).

    `where` keeps rows whose column equals the value (any of a list's values; None
    means NULL). `window` keeps rows whose `on` column lies in
    `(now - offset - last, now - offset]`; a JSON date field compares as ISO text, so a
    bare date counts as its midnight; a window's `last` is clock time.
    `group` (column -> value) restricts the result to one group, as a
    `metric('name', value)` lookup does. An ungrouped metric over no rows still gives
    one row: count 0, value 0 for `count`, else None. Rows come sorted by group values.

    A metric with a `calendar` measures its duration column (`dwell_hours`,
    `response_hours`) in working time of that calendar of `bundle`, in Python
    (runtime/working_metrics.py); ValueError when `bundle` is not given.
    """
    resolver = _Resolver(conn, spec.source, now)
    filters = _filters(resolver, spec)
    if spec.window is not None:
        filters.append(resolver.window(spec.window, now))
    for name, value in (group or {}).items():
        filters.append(resolver.condition(name, value))
    groups = [(name, resolver.group(name)) for name in spec.group_by]
    if spec.calendar is not None:
        working = working_time(bundle, spec.calendar) if bundle is not None else None
        span = _SPANS.get(spec.source)
        if working is None or span is None or spec.of != span[0]:
            raise ValueError(
                f"metric '{spec.name}' cannot count working time of calendar '{spec.calendar}'"
            )
        _, start, end, open_now, scale = span
        spans = working_spans(
            conn, resolver.table, filters, groups, (start, end, open_now), now, working, scale
        )
        if not spans and not groups:
            spans = [({}, [])]
        return [MetricRow(keys, aggregate(spec.measure, vals), len(vals)) for keys, vals in spans]
    found = _aggregate(conn, resolver.table, filters, groups, [_measure(resolver, spec)])
    return [MetricRow(keys, values[0], count) for keys, count, values in found]


def _filters(resolver: _Resolver, spec: MetricSpec) -> list[ColumnElement[bool]]:
    filters: list[ColumnElement[bool]] = []
    if spec.source == "records":
        filters.append(T_RECORD.c.entity == spec.entity)
    elif spec.source == "stage_history":
        filters.append(T_STAY.c.workflow == spec.workflow)
    filters.extend(resolver.condition(name, value) for name, value in spec.where.items())
    return filters


def _measure(resolver: _Resolver, spec: MetricSpec) -> _Measure:
    if spec.of is None:
        return _Measure(spec.measure, None)
    if spec.measure in _NUMERIC:
        return _Measure(spec.measure, resolver.number(spec.of, spec.measure))
    return _Measure(spec.measure, resolver.group(spec.of))


def stage_dwell(
    conn: Connection, workflow: str, now: datetime, working: WorkingTime | None = None
) -> list[dict[str, Any]]:
    """Return dwell per stage of a workflow (the P5 heatmap), in one query.

    Each stage gives `stays` (rows), `open` (stays not yet left), and `avg_hours`,
    `median_hours`, `p90_hours`; open stays count their time so far. Sorted by stage.
    With `working`, the hours are working hours of that calendar, counted in Python
    over the stays (runtime/working_metrics.py).
    """
    resolver = _Resolver(conn, "stage_history", now)
    dwell = resolver.number("dwell_hours", "avg")
    still_open = case((T_STAY.c.left_at.is_(None), 1), else_=null())
    where = [T_STAY.c.workflow == workflow]
    by_stage = [("stage", T_STAY.c.stage)]
    measures = [_Measure("count", still_open)]
    if working is None:
        measures += [_Measure(m, dwell) for m in _HOURLY]
    found = _aggregate(conn, resolver.table, where, by_stage, measures)
    if working is not None:
        _, start, end, _, scale = _SPANS["stage_history"]
        spans = working_spans(
            conn, resolver.table, where, by_stage, (start, end, True), now, working, scale
        )
        hours = {keys["stage"]: vals for keys, vals in spans}
        found = [
            (keys, count, [values[0], *(aggregate(m, hours[keys["stage"]]) for m in _HOURLY)])
            for keys, count, values in found
        ]
    return [
        {
            "stage": keys["stage"],
            "stays": count,
            "open": int(values[0] or 0),
            "avg_hours": values[1],
            "median_hours": values[2],
            "p90_hours": values[3],
        }
        for keys, count, values in found
    ]


_HOURLY = ("avg", "median", "p90")


def _key(value: Any) -> Any:
    """Make a group value hashable and comparable across SQL and expression values."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return tuple(_key(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str)
    return value


group_key = _key  # public name: callers match metric groups with expression values


class MetricCache:
    """Answers `metric('name', group...)` lookups, computing each metric once.

    Make one per transaction: the first use of a metric computes all its groups in one
    query; later lookups (any group) answer from memory.
    """

    def __init__(
        self,
        conn: Connection,
        metrics: Mapping[str, MetricSpec],
        now: datetime,
        bundle: Bundle | None = None,
    ) -> None:
        self.conn = conn
        self.metrics = metrics
        self.now = now
        self.bundle = bundle  # for metrics counting working time of its calendars
        self._rows: dict[str, list[MetricRow]] = {}
        self._values: dict[str, dict[tuple[Any, ...], float | None]] = {}

    def _spec(self, name: str) -> MetricSpec:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(f"unknown metric '{name}'") from None

    def rows(self, name: str) -> list[MetricRow]:
        """Return every group of a metric (e.g. for a metric alert), computed once."""
        found = self._rows.get(name)
        if found is None:
            spec = self._spec(name)
            found = compute_metric(self.conn, spec, self.now, bundle=self.bundle)
            self._rows[name] = found
        return found

    def value(self, name: str, *groups: Any) -> float | None:
        """Return the metric's value for one group (None when the group has no rows).

        The group values come in the order of the metric's `group_by`.
        """
        spec = self._spec(name)
        if len(groups) != len(spec.group_by):
            raise ValueError(
                f"metric '{name}' takes {len(spec.group_by)} group value(s) "
                f"({', '.join(spec.group_by) or 'none'}), got {len(groups)}"
            )
        table = self._values.get(name)
        if table is None:
            table = self._values[name] = _index(self.rows(name), spec.group_by)
        return table.get(tuple(_key(g) for g in groups))


def _index(rows: Iterable[MetricRow], group_by: Sequence[str]) -> dict[tuple[Any, ...], Any]:
    return {tuple(_key(row.groups[g]) for g in group_by): row.value for row in rows}


__all__ = ["MetricCache", "MetricRow", "StoreSql", "compute_metric", "stage_dwell"]
