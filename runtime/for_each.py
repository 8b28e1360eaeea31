"""Per-item schedules (`for_each`): the actions once per group of a metric, row, or user.

Each item runs under its own savepoint: an item whose actions (or `where`) fail is undone
on its own, leaves a `schedule_item_failed` event, and the other items still run. The
run's `schedule_ran` event counts the items (`items`: total, ran, filtered, failed).
Outbox keys of an item derive from the schedule, the run's due time and the item, so a
retried run does not send twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from engine.expr import EvaluationError
from engine.spec import ScheduleSpec
from engine.spec.signals import MetricSnapshot
from runtime import failures
from runtime.actions import Operations, run_actions
from runtime.clock import iso
from runtime.metrics import compute_metric
from runtime.people import candidate_base, users_with_role
from runtime.schedules import error_text, next_run
from runtime.snapshots import group_key
from runtime.store import T_SCHEDULE
from runtime.unit import Unit

log = logging.getLogger("sopflow.tick")
COUNTS = ("count", "count_distinct")


def items(unit: Unit, spec: ScheduleSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield each item of a schedule's `for_each`: its key and the names it binds."""
    source = spec.for_each
    assert source is not None
    bundle = unit.bundle
    if source.metric is not None:
        metric = bundle.metrics[source.metric]
        for row in compute_metric(unit.tx.conn, metric, unit.now, bundle=bundle):
            values = [row.groups.get(g) for g in metric.group_by]
            group = values[0] if len(values) == 1 else dict(row.groups)
            value = row.value
            if metric.measure in COUNTS and value is not None:
                value = int(value)  # a count reads 3, not 3.0, in a template
            yield group_key(values), {"group": group, "value": value}
    elif source.table is not None:
        table = bundle.tables[source.table]
        for i, cells in enumerate(table.rows):
            key = group_key([cells.get(k) for k in table.key]) if table.key else str(i)
            yield key, {"row": dict(cells)}
    else:
        assert source.users is not None
        for user in users_with_role(bundle, source.users.role):
            yield user, {"user": candidate_base(bundle, user)}


def run_items(
    ops: Operations, unit: Unit, spec: ScheduleSpec, due: datetime, variables: Mapping[str, Any]
) -> dict[str, int]:
    """Run a schedule's actions once per item; return how many items ran, were filtered
    out by `where`, and failed."""
    assert spec.for_each is not None
    where = unit.bundle.expr(spec.for_each, "where") if spec.for_each.where else None
    conn = unit.tx.conn
    counts = {"total": 0, "ran": 0, "filtered": 0, "failed": 0}
    for key, bound in list(items(unit, spec)):
        counts["total"] += 1
        names = {**variables, **bound}
        before = (len(unit.created), len(unit.tx.events), set(unit.failures))
        unit.effect_scope, unit.effect_seq = f"schedule:{spec.name}:{iso(due)}:{key}", 0
        try:
            if where is not None and not _keeps(unit, spec, where, names, key):
                counts["filtered"] += 1
                continue
            with conn.begin_nested():
                run_actions(ops, unit, spec.actions, None, f"schedule {spec.name} {key}", names)
            counts["ran"] += 1
        except Exception as exc:
            log.warning("schedule %s failed for item %s: %s", spec.name, key, exc)
            counts["failed"] += 1
            del unit.created[before[0] :], unit.tx.events[before[1] :]
            unit.failures = before[2]
            unit.tx.event(
                "schedule_item_failed",
                None,
                None,
                schedule=spec.name,
                due=iso(due),
                item=key,
                error=error_text(exc),
            )
        finally:
            unit.effect_scope = None
    return counts


def _keeps(unit: Unit, spec: ScheduleSpec, where: Any, names: Mapping[str, Any], key: str) -> bool:
    """Tell whether the item passes `where`; a failure is recorded, then raised."""
    try:
        return bool(where.fn({}, unit.context(None, **names)))
    except EvaluationError as exc:
        rule = f"schedule {spec.name}"
        failures.record(unit, None, "action", rule, exc, field="for_each.where", item=key)
        raise


def claim(conn: Connection, name: str, cadence: MetricSnapshot, unit: Unit) -> datetime | None:
    """Claim the due run of a cadence kept in sf_schedule under `name` (None: not due).

    The first call only plans the first run. A run that fell due while nothing ticked
    is claimed once, late (run_late); the next is planned from now.
    """
    now, timezone = unit.now, unit.bundle.manifest.timezone
    row = conn.execute(select(T_SCHEDULE).where(T_SCHEDULE.c.name == name)).first()
    if row is None:
        first = next_run(cadence, now, timezone)
        conn.execute(insert(T_SCHEDULE), {"name": name, "next_due_at": first})
        return None
    if row.next_due_at is None or row.next_due_at > now:
        return None
    following = next_run(cadence, now, timezone)
    claimed = conn.execute(
        update(T_SCHEDULE)
        .where(T_SCHEDULE.c.name == name, T_SCHEDULE.c.next_due_at == row.next_due_at)
        .values(next_due_at=following, last_run_at=now, runs=row.runs + 1)
    ).rowcount
    due: datetime | None = row.next_due_at if claimed == 1 else None
    return due
