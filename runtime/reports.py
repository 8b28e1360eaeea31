"""Reads for the console: alert pages, funnel, dwell with SLA breaches, forecast, metric values.

What runtime/metrics.py and runtime/forecast.py already compute is reused (stage dwell,
metric values, forecast buckets and accuracy); this module adds the grouped SQL they do
not offer. Every report aggregates in the database: only one row per stage, group or
snapshot comes back, never the records themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from engine.bundle import Bundle, CompiledWorkflow
from engine.spec import ForecastSpec, MetricSpec
from engine.spec.base import Duration
from runtime.alerts import as_dict
from runtime.calendar import WorkingTime
from runtime.clock import iso
from runtime.data import to_json
from runtime.forecast import compute_forecast, forecast_accuracy
from runtime.metrics import StoreSql, compute_metric, stage_dwell
from runtime.queries import row_access
from runtime.rows import Reach
from runtime.store import T_ALERT, T_EVENT, T_FORECAST, T_RECORD, T_STAY, Store

MAX_SNAPSHOTS = 50
T = TypeVar("T")


def read(store: Store, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run one report `fn(conn, *args, **kwargs)` on a read connection of `store`."""
    with store.read() as conn:
        return fn(conn, *args, **kwargs)


# -- alerts ---------------------------------------------------------------------------
def alert_page(
    conn: Connection,
    *,
    state: str | Sequence[str] | None = None,
    rule: str | None = None,
    record_id: str | None = None,
    severity: str | None = None,
    limit: int = 50,
    offset: int = 0,
    exclude_rules: Sequence[str] = (),
    exclude_entities: Sequence[str] = (),
    rows: Mapping[str, Reach] | None = None,
    by_record: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of alerts (newest first) matching the filters, and how many match;
    alerts of `exclude_rules`, alerts about records of `exclude_entities`, and alerts about
    records the caller's row-level access (`rows`, runtime/rows.py) leaves out (what the
    caller may not see: a metric alert of `by_record` names its record in a value), are
    left out. `state` may be several states (any of them)."""
    conditions: list[ColumnElement[bool]] = []
    if state is not None and not isinstance(state, str):
        conditions.append(T_ALERT.c.state.in_(list(state)))
        state = None
    if rows:
        unseen = select(T_RECORD.c.id).where(
            T_RECORD.c.id == T_ALERT.c.record_id, ~row_access(rows)
        )
        conditions.append(~unseen.exists())
        # A metric alert whose group is a record (`by_record`: rule -> the value naming
        # it): shown only when that record is one the caller sees.
        sql = StoreSql(conn)
        for rule_name, value_key in sorted((by_record or {}).items()):
            named = sql.text(T_ALERT.c["values"], value_key)
            seen = select(T_RECORD.c.id).where(T_RECORD.c.id == named, row_access(rows))
            conditions.append(or_(T_ALERT.c.rule != rule_name, seen.exists()))
    if exclude_rules:
        conditions.append(T_ALERT.c.rule.not_in(list(exclude_rules)))
    if exclude_entities:
        hidden = select(T_RECORD.c.id).where(
            T_RECORD.c.id == T_ALERT.c.record_id, T_RECORD.c.entity.in_(list(exclude_entities))
        )
        conditions.append(~hidden.exists())
    for column, wanted in (
        (T_ALERT.c.state, state),
        (T_ALERT.c.rule, rule),
        (T_ALERT.c.record_id, record_id),
        (T_ALERT.c.severity, severity),
    ):
        if wanted is not None:
            conditions.append(column == wanted)
    total = conn.execute(select(func.count()).select_from(T_ALERT).where(*conditions)).scalar_one()
    query = (
        select(T_ALERT)
        .where(*conditions)
        .order_by(T_ALERT.c.started_at.desc(), T_ALERT.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [as_dict(r) for r in conn.execute(query).all()], int(total)


def alert_by_id(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    """Return one alert, or None when there is no such alert."""
    row = conn.execute(select(T_ALERT).where(T_ALERT.c.id == alert_id)).first()
    return None if row is None else as_dict(row)


def record_entity(conn: Connection, record_id: str | None) -> str | None:
    """Return the entity of a record (None: no record)."""
    if record_id is None:
        return None
    found = conn.execute(select(T_RECORD.c.entity).where(T_RECORD.c.id == record_id)).scalar()
    return None if found is None else str(found)


# -- funnel ---------------------------------------------------------------------------
def _cohort(
    workflow: str, since: datetime | None, until: datetime | None
) -> ColumnElement[bool] | None:
    """Return `record_id IN (records that entered the workflow in [since, until))`."""
    if since is None and until is None:
        return None
    first = func.min(T_STAY.c.entered_at)
    having = [first >= since] if since is not None else []
    if until is not None:
        having.append(first < until)
    entered = (
        select(T_STAY.c.record_id)
        .where(T_STAY.c.workflow == workflow)
        .group_by(T_STAY.c.record_id)
        .having(and_(*having))
    )
    return T_STAY.c.record_id.in_(entered)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def funnel(
    conn: Connection,
    wf: CompiledWorkflow,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    owners: Sequence[str] | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Return a workflow's funnel: per stage (in order) the records that reached it, the
    records in it now and the conversion from the previous stage (the previous one without
    `only_when`: a conditional stage is not every record's way); per exit the records
    that left through it and their share of all that entered.

    With `since`/`until` only the cohort of records that entered the workflow (their
    first stay in it began) in `[since, until)` is counted. A record counts once per
    stage however often it came back to it.

    `owners` (a rep, a team's members) and `region` keep the stays owned by one of
    them and in that region (as the record was when it entered the stage): a stage
    counts the records that reached it so, an exit those whose last stay was so, and
    "in it now" the open records whose current stay is so.
    """
    name = wf.name
    cohort = _cohort(name, since, until)
    scoped = [T_STAY.c.workflow == name, *([cohort] if cohort is not None else [])]
    if owners is not None:
        scoped.append(T_STAY.c.owner.in_(list(owners)))
    if region is not None:
        scoped.append(T_STAY.c.region == region)
    filtered = owners is not None or region is not None
    reached_rows = conn.execute(
        select(T_STAY.c.stage, func.count(T_STAY.c.record_id.distinct()))
        .where(*scoped)
        .group_by(T_STAY.c.stage)
    ).all()
    reached = {stage: int(n) for stage, n in reached_rows}
    entered = int(
        conn.execute(select(func.count(T_STAY.c.record_id.distinct())).where(*scoped)).scalar_one()
    )
    exit_ids = [e.id for e in wf.body.exits]
    exit_rows = conn.execute(
        select(T_STAY.c.to_stage, func.count(T_STAY.c.record_id.distinct()))
        .where(*scoped, T_STAY.c.to_stage.in_(exit_ids))
        .group_by(T_STAY.c.to_stage)
    ).all()
    exited = {stage: int(n) for stage, n in exit_rows}
    now_query = (
        select(T_RECORD.c.stage, func.count())
        .where(T_RECORD.c.workflow == name, T_RECORD.c.status == "open")
        .group_by(T_RECORD.c.stage)
    )
    if filtered:  # the current stay (open, in the record's stage) is the filtered one
        # A join from the (few) filtered open stays, not a subquery per open record.
        now_query = (
            select(T_RECORD.c.stage, func.count(T_RECORD.c.id.distinct()))
            .select_from(T_STAY.join(T_RECORD, T_RECORD.c.id == T_STAY.c.record_id))
            .where(
                *scoped,
                T_STAY.c.left_at.is_(None),
                T_STAY.c.stage == T_RECORD.c.stage,
                T_RECORD.c.workflow == name,
                T_RECORD.c.status == "open",
            )
            .group_by(T_RECORD.c.stage)
        )
    elif cohort is not None:
        members = select(T_STAY.c.record_id).where(*scoped)
        now_query = now_query.where(T_RECORD.c.id.in_(members))
    current = {stage: int(n) for stage, n in conn.execute(now_query).all()}
    stages: list[dict[str, Any]] = []
    previous: int | None = None
    for stage in wf.body.stages:
        count = reached.get(stage.id, 0)
        stages.append(
            {
                "stage": stage.id,
                "title": stage.title or stage.id,
                "reached": count,
                "current": current.get(stage.id, 0),
                "conversion": None if previous is None else _ratio(count, previous),
            }
        )
        if stage.only_when is None:
            previous = count  # a conditional stage is not every record's way (skipped)
    exits = [
        {
            "exit": e.id,
            "title": e.title or e.id,
            "outcome": e.outcome,
            "records": exited.get(e.id, 0),
            "share": _ratio(exited.get(e.id, 0), entered),
        }
        for e in wf.body.exits
    ]
    return {"workflow": name, "entered": entered, "stages": stages, "exits": exits}


# -- dwell ----------------------------------------------------------------------------
def sla_breaches(conn: Connection, workflow: str) -> dict[str, int]:
    """Return per stage how many stays of a workflow breached their SLA.

    A breach is the `sla_breached` event the runtime writes when a stay's SLA timer
    fires while the record is still in the stage (runtime/ticking.py); it is matched
    with the stay it happened in (same record and stage, within the stay's span).
    A breach strictly inside a stay's span is that stay's whatever stage it names: a
    stage renamed since (`renamed_from`) renames the stays, never the audit log
    (docs/decisions.md 56), so its earlier breaches name the old id.
    """
    stage_of = StoreSql(conn).text(T_EVENT.c.detail, "stage")
    inside = and_(
        T_EVENT.c.at > T_STAY.c.entered_at,
        or_(T_STAY.c.left_at.is_(None), T_EVENT.c.at < T_STAY.c.left_at),
    )
    query = (
        select(T_STAY.c.stage, func.count(T_STAY.c.id.distinct()))
        .join(T_EVENT, T_EVENT.c.record_id == T_STAY.c.record_id)
        .where(
            T_STAY.c.workflow == workflow,
            T_EVENT.c.kind == "sla_breached",
            or_(stage_of == T_STAY.c.stage, inside),
            T_EVENT.c.at >= T_STAY.c.entered_at,
            or_(T_STAY.c.left_at.is_(None), T_EVENT.c.at <= T_STAY.c.left_at),
        )
        .group_by(T_STAY.c.stage)
    )
    return {stage: int(n) for stage, n in conn.execute(query).all()}


def _limit(within: Duration | None, working: WorkingTime | None) -> float | None:
    """Return an SLA limit in seconds: working seconds when dwell counts working time."""
    if within is None:
        return None
    return working.length(within) if working is not None else within.seconds


def _seconds(hours: float | None) -> float | None:
    return None if hours is None else round(hours * 3600.0, 3)


def dwell(
    conn: Connection, wf: CompiledWorkflow, now: datetime, working: WorkingTime | None = None
) -> list[dict[str, Any]]:
    """Return per stage (in workflow order) stays, open stays, mean, median and p90 dwell
    in seconds (open stays count their time so far; with `working`, working seconds of
    that calendar), the SLA limit (a working limit in working seconds when `working`
    is given) and its breaches."""
    found = {row["stage"]: row for row in stage_dwell(conn, wf.name, now, working)}
    breaches = sla_breaches(conn, wf.name)
    out = []
    for stage in wf.body.stages:
        row = found.get(stage.id, {})
        sla = stage.sla
        out.append(
            {
                "stage": stage.id,
                "title": stage.title or stage.id,
                "stays": int(row.get("stays", 0)),
                "open": int(row.get("open", 0)),
                "mean_seconds": _seconds(row.get("avg_hours")),
                "median_seconds": _seconds(row.get("median_hours")),
                "p90_seconds": _seconds(row.get("p90_hours")),
                "sla_seconds": _limit(sla.within if sla else None, working),
                "sla_breaches": breaches.get(stage.id, 0),
            }
        )
    return out


# -- forecast -------------------------------------------------------------------------
def forecast_snapshots(
    conn: Connection, name: str, limit: int = MAX_SNAPSHOTS
) -> list[dict[str, Any]]:
    """Return the kept snapshots of a forecast, newest first: when, total, buckets."""
    f = T_FORECAST
    query = (
        select(
            f.c.computed_at,
            func.sum(f.c.expected),
            func.count(),
            func.min(f.c.bucket_start),
            func.max(f.c.bucket_start),
        )
        .where(f.c.forecast == name)
        .group_by(f.c.computed_at)
        .order_by(f.c.computed_at.desc())
        .limit(limit)
    )
    return [
        {
            "computed_at": iso(at),
            "expected": round(float(total or 0.0), 2),
            "buckets": int(n),
            "first_bucket": iso(first) if first else None,
            "last_bucket": iso(last) if last else None,
        }
        for at, total, n, first, last in conn.execute(query).all()
    ]


def forecast_report(
    conn: Connection,
    bundle: Bundle,
    spec: ForecastSpec,
    now: datetime,
    region: str | None = None,
) -> dict[str, Any]:
    """Return a forecast computed now (F8), its kept snapshots and their accuracy.

    With `region` the buckets count only deals whose `region` field is that region; the
    snapshots and their accuracy are the whole forecast's (snapshots are not per region).
    """
    weights = bundle.forecast_weights(spec)  # F8: a template's every workflow too
    covered = bundle.forecast_workflows(spec)
    table = bundle.tables.get(spec.seasonality or "")
    zone = bundle.manifest.timezone
    buckets = compute_forecast(conn, spec, weights, table, now, zone, covered, region)
    accuracy = forecast_accuracy(conn, spec, now, covered)
    judged = [a["pct_error"] for a in accuracy if a["pct_error"] is not None]
    return {
        "name": spec.name,
        "title": spec.title or spec.name,
        "workflow": spec.workflow,
        "workflows": covered,  # F8: every workflow of a template
        "bucket": spec.bucket,
        "region": region,
        "computed_at": iso(now),
        "stage_weights": weights,
        "expected": round(sum(b.expected for b in buckets), 2),
        "weighted": round(sum(b.weighted for b in buckets), 2),
        "pipeline": round(sum(b.pipeline for b in buckets), 2),
        "open_records": sum(b.open_records for b in buckets),
        "buckets": [
            {
                "start": iso(b.start),
                "end": iso(b.end),
                "expected": round(b.expected, 2),
                "weighted": round(b.weighted, 2),
                "pipeline": round(b.pipeline, 2),
                "coefficient": round(b.coefficient, 4),
                "open_records": b.open_records,
            }
            for b in buckets
        ],
        "snapshots": forecast_snapshots(conn, spec.name),
        "accuracy": [to_json(a) for a in accuracy],
        "mean_abs_pct_error": round(sum(judged) / len(judged), 2) if judged else None,
    }


# -- metrics --------------------------------------------------------------------------
def metric_report(
    conn: Connection,
    spec: MetricSpec,
    now: datetime,
    group_by: list[str] | None = None,
    bundle: Bundle | None = None,
) -> dict[str, Any]:
    """Return a metric's overall value and, when grouped, its value per group.

    `group_by` picks some of the metric's own `group_by` columns (None: all of them;
    an empty list: no groups). `bundle` gives the calendar a metric may count in.
    """
    columns = list(spec.group_by) if group_by is None else group_by
    overall_spec = spec.model_copy(update={"group_by": []})
    [overall] = compute_metric(conn, overall_spec, now, bundle=bundle)
    groups = []
    if columns:
        regrouped = spec.model_copy(update={"group_by": columns})
        groups = [
            {**to_json(row.groups), "value": row.value, "count": row.count}
            for row in compute_metric(conn, regrouped, now, bundle=bundle)
        ]
    return {
        "name": spec.name,
        "title": spec.title or spec.name,
        "unit": spec.unit,
        "kpi": spec.kpi,
        "source": spec.source,
        "measure": spec.measure,
        "of": spec.of,
        "group_by": columns,
        "computed_at": iso(now),
        "value": overall.value,
        "count": overall.count,
        "groups": groups,
    }


__all__ = [
    "alert_by_id",
    "alert_page",
    "dwell",
    "forecast_report",
    "forecast_snapshots",
    "funnel",
    "metric_report",
    "read",
    "sla_breaches",
]
