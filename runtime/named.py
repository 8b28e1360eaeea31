"""Named assignments: the people beside a record's owner (form `assignments`).

Each assignment of a form is filled by its routing rule at its moment (`created`,
`{entering: stage}`, `{when: condition}`: the first time it holds), or by hand
(`assign ... as: <name>`). sf_assignment keeps one row per filled assignment: the user
who holds it, or the queue it waits in when the rule found nobody. A row is never
filled again by its moment: a moment fills an assignment once.

An assignment counts in its holder's load (sf_load.open_count) like the owner does:
while the record is open and the form's `load: {counts_while}` holds (runtime/load.py
`settle_named`); the `for` window is the owner's alone (docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from engine.expr import EvaluationError, MissingRow
from engine.spec.form import AssignmentMoment, AssignmentSpec
from runtime import failures, load
from runtime.actions import Operations, run_actions
from runtime.people import change_load
from runtime.records import RecordView
from runtime.rules import route
from runtime.store import T_ASSIGNMENT
from runtime.unit import Unit


def specs(unit: Unit, entity: str) -> Mapping[str, AssignmentSpec]:
    """Return an entity's named assignments (none for an entity without a form)."""
    form = unit.bundle.forms.get(entity)
    return form.spec.assignments if form is not None else {}


def rule_names(bundle: Any, entity: str) -> frozenset[str]:
    """Return the routing rules an entity's named assignments use (they route no owner)."""
    form = bundle.forms.get(entity)
    if form is None:
        return frozenset()
    return frozenset(a.routing for a in form.spec.assignments.values() if a.routing)


def read(conn: Connection, record_ids: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Return the named assignments of records: {record: {name: {user, queue, filled_at}}}."""
    ids = list(record_ids)
    if not ids:
        return {}
    t = T_ASSIGNMENT.c
    rows = conn.execute(
        select(t.record_id, t.name, t.user_id, t.queue, t.filled_at)
        .where(t.record_id.in_(ids))
        .order_by(t.record_id, t.name)
    ).all()
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for rid, name, user, queue, at in rows:
        found.setdefault(rid, {})[name] = {"user": user, "queue": queue, "filled_at": at}
    return found


def attach(conn: Connection, bundle: Any, views: Iterable[RecordView]) -> None:
    """Give each view of an entity with named assignments its `assignments` (null: unfilled)."""
    listed = [v for v in views if (f := bundle.forms.get(v.entity)) and f.spec.assignments]
    held = read(conn, [v.id for v in listed])
    for view in listed:
        mine = held.get(view.id, {})
        view.assignments = {
            name: mine.get(name) or {"user": None, "queue": None, "filled_at": None}
            for name in bundle.forms[view.entity].spec.assignments
        }


def holder(conn: Connection, record_id: str, name: str) -> str | None:
    """Return who holds a named assignment of a record (None: nobody)."""
    t = T_ASSIGNMENT.c
    return conn.execute(
        select(t.user_id).where(t.record_id == record_id, t.name == name)
    ).scalar_one_or_none()


def _row(conn: Connection, record_id: str, name: str) -> Any:
    t = T_ASSIGNMENT.c
    return conn.execute(
        select(t.user_id, t.queue, t.counted).where(t.record_id == record_id, t.name == name)
    ).first()


def put(
    unit: Unit,
    view: RecordView,
    name: str,
    user: str | None,
    queue: str | None,
    **detail: Any,
) -> None:
    """Set (or clear) a named assignment, move its load count, and record the event."""
    conn = unit.tx.conn
    row = _row(conn, view.id, name)
    before = row.user_id if row else None
    if row is not None and row.counted:
        change_load(conn, row.user_id, -1)
    values = {"user_id": user, "queue": queue if user is None else None, "counted": False}
    t = T_ASSIGNMENT.c
    if row is None:
        conn.execute(
            insert(T_ASSIGNMENT).values(record_id=view.id, name=name, filled_at=unit.now, **values)
        )
    else:
        conn.execute(
            update(T_ASSIGNMENT)
            .where(t.record_id == view.id, t.name == name)
            .values(filled_at=unit.now, **values)
        )
    load.settle_named(unit, view)
    unit.tx.event(
        "assigned",
        view.id,
        view.entity,
        assignment=name,
        user=user,
        queue=values["queue"],
        previous=before,
        **detail,
    )


def drop(conn: Connection, record_id: str) -> None:
    """Forget a record's named assignments (its loads already settled)."""
    conn.execute(delete(T_ASSIGNMENT).where(T_ASSIGNMENT.c.record_id == record_id))


def _due(unit: Unit, view: RecordView, spec: AssignmentSpec, trigger: str, name: str) -> bool:
    moment = spec.at
    if moment is None or moment == "created":
        return trigger == "created"
    assert isinstance(moment, AssignmentMoment)
    if moment.entering is not None:
        return trigger in ("created", "stage_entered") and view.stage == moment.entering
    scope = view.scope()
    try:
        return bool(unit.bundle.expr(moment, "when").fn(scope, unit.context(scope)))
    except MissingRow:
        raise
    except EvaluationError as exc:  # cannot tell: not filled now (tried again on a change)
        failures.record(unit, view.id, "assignment", f"{view.entity}.{name}", exc, field="when")
        return False


def fill(runtime: Operations, unit: Unit, view: RecordView, trigger: str) -> None:
    """Fill the named assignments whose moment `trigger` (a change of the record) reaches."""
    named = specs(unit, view.entity)
    if not named or view.status != "open":
        return
    filled = read(unit.tx.conn, [view.id]).get(view.id, {})
    for name, spec in named.items():
        if spec.routing is None or name in filled or not _due(unit, view, spec, trigger, name):
            continue
        rule = unit.bundle.routings.get(spec.routing)
        if rule is None:
            continue
        route_named(runtime, unit, view, name, rule)
        filled = read(unit.tx.conn, [view.id]).get(view.id, {})


def taken(unit: Unit, view: RecordView, spec: AssignmentSpec) -> dict[str, str]:
    """Return the users a `not_same_as` leaves out, with why (user -> reason)."""
    held = read(unit.tx.conn, [view.id]).get(view.id, {})
    skip: dict[str, str] = {}
    for other in spec.not_same_as:
        user = view.owner if other == "owner" else (held.get(other) or {}).get("user")
        if user:
            skip.setdefault(user, f"holds assignment '{other}' (not_same_as)")
    return skip


def route_named(runtime: Operations, unit: Unit, view: RecordView, name: str, rule: Any) -> None:
    """Fill one named assignment by a routing rule (its queue when nobody may take it)."""
    spec = specs(unit, view.entity)[name]
    scope = view.scope()
    held = holder(unit.tx.conn, view.id, name)
    result = route(
        unit.bundle,
        rule,
        scope,
        unit.context(scope),
        unit.tx.conn,
        unit.now,
        held,
        skip=taken(unit, view, spec),
    )
    failures.record_routing(unit, view.id, rule, result)
    unit.tx.decision(
        view.id,
        "routing",
        rule.name,
        result.owner or f"queue:{result.queue}",
        {**result.explain(), "assignment": name},
    )
    put(unit, view, name, result.owner, result.queue, rule=rule.name, reason=result.reason)
    if rule.strategy == "round_robin" and result.owner is not None:
        change_load(unit.tx.conn, result.owner, 0, unit.now)  # note the pick
    if result.owner is not None:
        extra = {"assignment": {"owner": result.owner, "name": name, "reason": result.reason}}
        run_actions(runtime, unit, rule.on_assign, view, f"routed by {rule.name} as {name}", extra)
