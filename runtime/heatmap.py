"""The dwell heatmap (P5): per stage and week, or per stage and team, the dwell of stays.

Each cell aggregates in the database the stays of one stage that entered it in one week
(weeks start on Monday in the bundle's time zone) or whose owner belongs to one team:
stays, mean, median and p90 dwell in seconds (an open stay counts its time so far). A
cell is *over* when its median dwell exceeds the stage's SLA (`sla.within`), or when an
alert rule over the stage's average dwell (a `stage_history` metric: `avg` of
`dwell_hours` grouped by `stage`, P5) would hold for the cell's average.
`cell_stays` lists the stays behind one cell, a page at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, case, func, literal, select
from sqlalchemy.sql.elements import ColumnElement

from engine.bundle import Bundle, CompiledWorkflow
from engine.expr import EvaluationError
from runtime.clock import iso
from runtime.metrics import StoreSql, _aggregate, _Measure
from runtime.people import team_members
from runtime.queries import row_access
from runtime.rows import Reach
from runtime.store import T_RECORD, T_STAY

NO_TEAM = ""  # the column of stays whose owner is in no team (or nobody owns the record)
MAX_WEEKS = 53


@dataclass(frozen=True)
class Column:
    """A heatmap column: a week (`start`..`end`, naive UTC) or a team (`members`)."""

    key: str
    title: str
    start: datetime | None = None
    end: datetime | None = None
    members: tuple[str, ...] = ()
    days: tuple[str, str] | None = None  # a week's first and last day (local dates)


def _utc(day: date, zone: ZoneInfo) -> datetime:
    local = datetime.combine(day, time(), tzinfo=zone)
    return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def week_columns(since: date, until: date, timezone: str) -> list[Column]:
    """Return the weeks (Monday to Sunday in `timezone`) from the one holding `since` to
    the one holding `until`; ValueError past MAX_WEEKS."""
    zone = ZoneInfo(timezone)
    first = since - timedelta(days=since.weekday())
    weeks: list[Column] = []
    start = first
    while start <= until:
        if len(weeks) == MAX_WEEKS:
            raise ValueError(f"at most {MAX_WEEKS} weeks")
        year, week, _ = start.isocalendar()
        end = start + timedelta(days=7)
        days = (start.isoformat(), (end - timedelta(days=1)).isoformat())
        title = f"{year}-W{week:02d}"
        weeks.append(Column(start.isoformat(), title, _utc(start, zone), _utc(end, zone), (), days))
        start = end
    return weeks


def team_columns(bundle: Bundle) -> list[Column]:
    """Return a column per team of the bundle, and one for owners in no team."""
    teams = [
        Column(name, spec.title or name, members=tuple(team_members(bundle, name)))
        for name, spec in bundle.manifest.teams.items()
    ]
    return [*teams, Column(NO_TEAM, "No team")]


def _team_of(columns: Sequence[Column]) -> ColumnElement[Any]:
    """Return SQL naming a stay's team column (the first team its owner is in)."""
    whens = [(T_STAY.c.owner.in_(c.members), c.key) for c in columns if c.members]
    if not whens:
        return literal(NO_TEAM)
    return case(*whens, else_=literal(NO_TEAM))


def _week_of(columns: Sequence[Column]) -> ColumnElement[Any]:
    """Return SQL naming a stay's week column (by when it entered the stage)."""
    whens = [(T_STAY.c.entered_at < c.end, c.key) for c in columns]
    return case(*whens, else_=literal(None))


def _dwell(conn: Connection, now: datetime) -> ColumnElement[Any]:
    sql = StoreSql(conn)
    until = func.coalesce(T_STAY.c.left_at, literal(now, T_STAY.c.entered_at.type))
    return func.coalesce(T_STAY.c.dwell_seconds, sql.seconds(until, T_STAY.c.entered_at))


def _period(since: datetime | None, until: datetime | None) -> list[ColumnElement[bool]]:
    found = []
    if since is not None:
        found.append(T_STAY.c.entered_at >= since)
    if until is not None:
        found.append(T_STAY.c.entered_at < until)
    return found


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def dwell_heatmap(
    conn: Connection,
    bundle: Bundle,
    wf: CompiledWorkflow,
    now: datetime,
    columns: Sequence[Column],
    by: str,
    since: datetime,
    until: datetime,
) -> dict[str, Any]:
    """Return the heatmap of `wf` over stays that entered a stage in `[since, until)`:
    per stage (in workflow order) its SLA and one cell per column (`by` is "week" or
    "team"), each with stays, mean, median and p90 dwell seconds and whether it is over."""
    group = _week_of(columns) if by == "week" else _team_of(columns)
    dwell = _dwell(conn, now)
    where = [T_STAY.c.workflow == wf.name, *_period(since, until)]
    measures = [_Measure(m, dwell) for m in ("avg", "median", "p90")]
    found = _aggregate(conn, T_STAY, where, [("stage", T_STAY.c.stage), ("col", group)], measures)
    cells = {(k["stage"], k["col"]): (n, vals) for k, n, vals in found}
    limits = dwell_alerts(bundle, wf.name)
    stages = []
    for stage in wf.body.stages:
        sla = stage.sla.within.seconds if stage.sla and stage.sla.within else None
        row = []
        for column in columns:
            count, values = cells.get((stage.id, column.key), (0, [None, None, None]))
            mean, median, p90 = values
            reasons = _over(bundle, limits, stage.id, sla, mean, median, count)
            row.append(
                {
                    "column": column.key,
                    "stays": count,
                    "mean_seconds": _round(mean),
                    "median_seconds": _round(median),
                    "p90_seconds": _round(p90),
                    "over": bool(reasons),
                    "over_by": reasons,
                }
            )
        stages.append(
            {"stage": stage.id, "title": stage.title or stage.id, "sla_seconds": sla, "cells": row}
        )
    return {
        "workflow": wf.name,
        "entity": wf.entity,
        "by": by,
        "computed_at": iso(now),
        "columns": [
            {
                "key": c.key,
                "title": c.title,
                **({"from": iso(c.start), "to": iso(c.end)} if c.start and c.end else {}),
                **({"first_day": c.days[0], "last_day": c.days[1]} if c.days else {}),
            }
            for c in columns
        ],
        "stages": stages,
    }


def dwell_alerts(bundle: Bundle, workflow: str) -> list[Any]:
    """Return the alert rules over a workflow's average dwell per stage (P5)."""
    found = []
    for spec in bundle.alerts.values():
        metric = bundle.metrics.get(spec.metric or "")
        if (
            metric is not None
            and metric.source == "stage_history"
            and metric.workflow == workflow
            and metric.measure == "avg"
            and metric.of == "dwell_hours"
            and list(metric.group_by) == ["stage"]
            and not metric.where
            and metric.window is None
            and metric.calendar is None
        ):
            found.append((spec, metric.name))
    return found


def _over(
    bundle: Bundle,
    limits: Sequence[Any],
    stage: str,
    sla: float | None,
    mean: float | None,
    median: float | None,
    count: int,
) -> list[str]:
    """Return why a cell is over: the stage's SLA, alert rules that would hold for it."""
    reasons = []
    if sla is not None and median is not None and median > sla:
        reasons.append("sla")
    if mean is None:
        return reasons
    hours = mean / 3600.0
    for spec, metric in limits:
        values = {"stage": stage, "value": hours, metric: hours, "count": count}
        c: dict[str, Any] = {"now": None, "metric": _no_metric, **values}
        try:
            holds = bool(bundle.expr(spec, "when").fn({}, c))
        except (EvaluationError, LookupError):
            holds = False
        if holds:
            reasons.append(f"alert:{spec.name}")
    return reasons


@dataclass(frozen=True)
class CellStays:
    """One page of the stays behind a heatmap cell: `items`, how many the caller sees in
    all (`total`) and how many more the cell counts that their row access hides."""

    items: list[dict[str, Any]]
    total: int
    hidden: int


def _no_metric(*_: Any) -> None:
    raise EvaluationError("metric()", "metric lookups are not available to the heatmap")


def cell_stays(
    conn: Connection,
    wf: CompiledWorkflow,
    stage: str,
    now: datetime,
    since: datetime,
    until: datetime,
    *,
    owners: Sequence[str] | None = None,
    not_owners: Sequence[str] | None = None,
    rows: Mapping[str, Reach] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> CellStays:
    """Return one page of the stays behind a heatmap cell (longest dwell first), how many
    there are and how many the caller cannot see: stays of `stage` entered in
    `[since, until)`, owned by one of `owners` (or, with `not_owners`, by none of them:
    the "no team" column), of records the caller's row-level access (`rows`,
    runtime/rows.py) lets them see. The cell's median and p90 count every stay, so a page
    that lists fewer says how many are hidden (`hidden`)."""
    dwell = _dwell(conn, now)
    where = [T_STAY.c.workflow == wf.name, T_STAY.c.stage == stage, *_period(since, until)]
    if owners is not None:
        where.append(T_STAY.c.owner.in_(list(owners)))
    if not_owners is not None:
        where.append(T_STAY.c.owner.is_(None) | T_STAY.c.owner.not_in(list(not_owners)))
    joined = T_STAY.join(T_RECORD, T_RECORD.c.id == T_STAY.c.record_id)
    # One pass counts the cell's stays and those the caller sees (the rest are hidden).
    everything = func.count()
    seen = func.count(case((row_access(rows), 1))) if rows else everything
    cell, total = conn.execute(select(everything, seen).select_from(joined).where(*where)).one()
    hidden = int(cell) - int(total)
    if rows:
        where.append(row_access(rows))
    query = (
        select(
            T_STAY.c.record_id,
            T_STAY.c.entered_at,
            T_STAY.c.left_at,
            T_STAY.c.owner,
            dwell.label("dwell"),
            T_RECORD.c.stage.label("now_stage"),
            T_RECORD.c.status,
        )
        .select_from(joined)
        .where(*where)
        .order_by(dwell.desc(), T_STAY.c.id)
        .limit(limit)
        .offset(offset)
    )
    found = [
        {
            "record_id": r.record_id,
            "entity": wf.entity,
            "entered_at": iso(r.entered_at),
            "left_at": iso(r.left_at) if r.left_at else None,
            "owner": r.owner,
            "dwell_seconds": _round(float(r.dwell)) if r.dwell is not None else None,
            "stage_now": r.now_stage,
            "status": r.status,
        }
        for r in conn.execute(query).all()
    ]
    return CellStays(found, int(total), int(hidden))
