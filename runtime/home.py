"""What needs a person now (the console's home): their open records by stage with the
time left until each stage's SLA, the queues they see by entity, their team's overdue
records, and the median response time of alerts per rule (F9).

A stage's SLA deadline is its `sla_breach` timer (runtime/stages.py start_sla: fixed or
per record, clock or working time), so the deadline shown is the one the runtime
enforces. A timer of the current stay is one due at or after the stay began: timers of
earlier stays in the same stage were fired (kept) or dropped on leaving. Every read is
one aggregate or limited query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, union
from sqlalchemy.sql.elements import ColumnElement

from engine.bundle import Bundle
from runtime.calendar import WorkingTime, working_time
from runtime.metrics import StoreSql, _aggregate, _Measure
from runtime.queries import row_access
from runtime.rows import Reach
from runtime.store import T_ALERT, T_ASSIGNMENT, T_RECORD, T_TIMER

MAX_MINE = 200


@dataclass(frozen=True)
class Countdown:
    """Time left until a stage's SLA deadline (negative: overdue), and how it is counted."""

    due: datetime
    seconds: float
    working: bool  # counted in working time of the SLA's calendar


def _deadline() -> Any:
    """Return the SLA deadline of a record's current stay (a correlated subquery)."""
    t, r = T_TIMER.c, T_RECORD.c
    return (
        select(func.max(t.due_at))
        .where(
            t.record_id == r.id,
            t.kind == "sla_breach",
            t.ref == r.stage,
            t.due_at >= r.stage_entered_at,
        )
        .scalar_subquery()
    )


def _open_of(
    users: Iterable[str], entities: Iterable[str] | None = None
) -> list[ColumnElement[bool]]:
    r = T_RECORD.c
    found = [r.owner.in_(sorted(users)), r.status == "open", r.stage.is_not(None)]
    if entities is not None:
        found.append(r.entity.in_(sorted(entities)))
    return found


def stage_counts(conn: Connection, user: str, entities: Iterable[str]) -> list[dict[str, Any]]:
    """Return per entity, workflow and stage how many open records `user` owns."""
    r = T_RECORD.c
    query = (
        select(r.entity, r.workflow, r.stage, func.count())
        .where(*_open_of([user], entities))
        .group_by(r.entity, r.workflow, r.stage)
        .order_by(r.entity, r.workflow, r.stage)
    )
    return [
        {"entity": e, "workflow": w, "stage": s, "records": int(n)}
        for e, w, s, n in conn.execute(query).all()
    ]


def my_records(
    conn: Connection, user: str, entities: Iterable[str], limit: int = 50
) -> list[dict[str, Any]]:
    """Return `user`'s open records in a stage, the nearest SLA deadline first (those
    without a deadline last, longest in their stage first), at most `limit`."""
    r = T_RECORD.c
    due = _deadline().label("sla_due")
    query = (
        select(r.id, r.entity, r.workflow, r.stage, r.stage_entered_at, due)
        .where(*_open_of([user], entities))
        .order_by(due.is_(None), due, r.stage_entered_at, r.id)
        .limit(min(limit, MAX_MINE))
    )
    return [dict(row._mapping) for row in conn.execute(query).all()]


def overdue_count(
    conn: Connection, users: Iterable[str], entities: Iterable[str], now: datetime
) -> int:
    """Count the open records `users` own whose current stage's SLA deadline has passed
    (at the deadline itself the SLA is breached: the breach timer falls due then)."""
    due = _deadline()
    where = [*_open_of(users, entities), due <= now]
    query = select(func.count()).select_from(T_RECORD).where(*where)
    return int(conn.execute(query).scalar_one())


def sla_working(bundle: Bundle, workflow: str | None, stage: str | None) -> WorkingTime | None:
    """Return the calendar a stage's SLA counts working time in (None: clock time)."""
    wf = bundle.workflows.get(workflow or "")
    spec = next((s for s in wf.body.stages if s.id == stage), None) if wf else None
    sla = spec.sla if spec is not None else None
    if sla is None or sla.within is None or not sla.within.working:
        return None  # a per-record limit (within_expr) is clock time (stages.sla_limit)
    return working_time(bundle, sla.calendar)


def countdown(
    bundle: Bundle, workflow: str | None, stage: str | None, due: datetime | None, now: datetime
) -> Countdown | None:
    """Return the time left until `due` (the stage's SLA deadline) at `now` (None: no SLA)."""
    if due is None:
        return None
    working = sla_working(bundle, workflow, stage)
    if working is not None:
        return Countdown(due, working.seconds_between(now, due), True)
    return Countdown(due, (due - now).total_seconds(), False)


def queue_entities(
    conn: Connection,
    queues: Iterable[str],
    entities: Iterable[str],
    rows: Mapping[str, Reach] | None = None,
) -> dict[str, dict[str, int]]:
    """Return per queue and entity how many open records wait in it, counted as
    queries.queue_sizes counts them (the sum over entities is that queue's size)."""
    names, kinds = list(queues), list(entities)
    if not names or not kinds:
        return {}
    c, a = T_RECORD.c, T_ASSIGNMENT.c
    owned = select(c.queue.label("queue"), c.entity.label("entity"), c.id.label("rid")).where(
        c.queue.in_(names), c.status == "open", c.entity.in_(kinds)
    )
    assigned = (
        select(a.queue.label("queue"), c.entity.label("entity"), a.record_id.label("rid"))
        .join(T_RECORD, c.id == a.record_id)
        .where(a.queue.in_(names), a.user_id.is_(None), c.status == "open", c.entity.in_(kinds))
    )
    if rows:
        owned, assigned = owned.where(row_access(rows)), assigned.where(row_access(rows))
    both = union(owned, assigned).subquery()
    found: dict[str, dict[str, int]] = {}
    query = select(both.c.queue, both.c.entity, func.count(both.c.rid.distinct())).group_by(
        both.c.queue, both.c.entity
    )
    for queue, entity, n in conn.execute(query).all():
        found.setdefault(str(queue), {})[str(entity)] = int(n)
    return found


def response_times(conn: Connection) -> dict[str, dict[str, Any]]:
    """Per alert rule: how many fired alerts were acknowledged, and the median time from
    firing to acknowledgement in seconds (F9)."""
    t = T_ALERT.c
    seconds = StoreSql(conn).seconds(t.acked_at, t.fired_at)
    found = _aggregate(
        conn,
        T_ALERT,
        [t.fired_at.is_not(None), t.acked_at.is_not(None)],
        [("rule", t.rule)],
        [_Measure("median", seconds)],
    )
    return {
        str(keys["rule"]): {
            "acknowledged": n,
            "median_seconds": None if values[0] is None else round(values[0], 3),
        }
        for keys, n, values in found
    }
