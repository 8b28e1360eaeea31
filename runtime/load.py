"""Open work per person: which owned records count in their owner's load, kept exact.

A record counts in its owner's load (sf_load.open_count, what routing's capacity and
least-loaded read) while it is open, owned, inside its load window and its entity's
`load: {counts_while: ...}` holds (docs/language.md, `kind: form`). sf_load_item keeps,
per owned record, the owner at its last assignment, whether it counts now and when its
window ends. `settle` is the one place a count changes: it moves the record's count from
whom it counted for to whom it counts for now, so however often it runs, a count never
doubles and never goes negative. A window's end is a durable timer (kind `load_window`)
that settles the record again when it falls due.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from engine.expr import EvaluationError
from engine.spec.form import LoadSpec
from runtime import failures, records, timers
from runtime.errors import NotFound
from runtime.people import change_load
from runtime.records import RecordView
from runtime.store import T_ASSIGNMENT, py_time
from runtime.unit import Unit

WINDOW = "load_window"

_GET = "SELECT owner, counted, until FROM sf_load_item WHERE record_id = :id"
_INSERT = (
    "INSERT INTO sf_load_item (record_id, owner, counted, until) "
    "VALUES (:id, :owner, :counted, :until)"
)
_UPDATE = (
    "UPDATE sf_load_item SET owner = :owner, counted = :counted, until = :until "
    "WHERE record_id = :id"
)
_DROP = "DELETE FROM sf_load_item WHERE record_id = :id"


def load_spec(unit: Unit, entity: str) -> LoadSpec | None:
    """Return an entity's `load` (None: its records count while open and owned)."""
    form = unit.bundle.forms.get(entity)
    return form.spec.load if form is not None else None


def _holds(unit: Unit, spec: LoadSpec | None, view: RecordView) -> bool:
    if spec is None or spec.counts_while is None:
        return True
    scope = view.scope()
    try:
        return bool(unit.bundle.expr(spec, "counts_while").fn(scope, unit.context(scope)))
    except EvaluationError as exc:  # cannot tell: the record stays open work
        rule = f"{view.entity}.load"
        failures.record(unit, view.id, "load", rule, exc, field="counts_while")
        return True


def settle(unit: Unit, view: RecordView) -> None:
    """Make the record count in its owner's load exactly when it should, now."""
    tx = unit.tx
    fresh = view.id in unit.forming.get(view.entity, ()) and view.id not in unit.load_items
    row = None if fresh else tx.sql(_GET, {"id": view.id}).fetchone()
    before, counted, until = (row[0], bool(row[1]), py_time(row[2])) if row else (None, False, None)
    spec = load_spec(unit, view.entity)
    if view.owner != before:  # a new assignment (or none): a new window
        if until is not None:
            timers.cancel(tx, view.id, (WINDOW,))
        until = None
        if view.owner is not None and spec is not None and spec.for_ is not None:
            until = unit.now + timedelta(seconds=spec.for_.seconds)
            timers.add(tx, WINDOW, until, record_id=view.id, payload={"owner": view.owner})
    counts = (
        view.owner is not None
        and view.status == "open"
        and (until is None or unit.now < until)
        and _holds(unit, spec, view)
    )
    was = before if counted else None
    now_for = view.owner if counts else None
    if was != now_for:
        change_load(tx.conn, was, -1)
        change_load(tx.conn, now_for, +1)
    params: dict[str, Any] = {
        "id": view.id,
        "owner": view.owner,
        "counted": counts,
        "until": tx.time(until) if until is not None else None,
    }
    if view.owner is None:
        if row is not None:
            tx.sql(_DROP, {"id": view.id})
    elif row is None:
        tx.sql(_INSERT, params)
        unit.load_items.add(view.id)
    elif (view.owner, counts, until) != (before, counted, py_time(row[2])):
        tx.sql(_UPDATE, params)
    settle_named(unit, view)


def settle_named(unit: Unit, view: RecordView) -> None:
    """Make each named assignment count in its holder's load exactly when it should.

    The same rule as the owner's, but for the `for` window: while the record is open
    and the entity's `counts_while` holds.
    """
    form = unit.bundle.forms.get(view.entity)
    if form is None or not form.spec.assignments:
        return
    t = T_ASSIGNMENT.c
    conn = unit.tx.conn
    rows = conn.execute(select(t.name, t.user_id, t.counted).where(t.record_id == view.id)).all()
    if not rows:
        return
    holds = view.status == "open" and _holds(unit, form.spec.load, view)
    for name, user, counted in rows:
        counts = holds and user is not None
        if counts == bool(counted):
            continue
        change_load(conn, user, +1 if counts else -1)
        conn.execute(
            update(T_ASSIGNMENT)
            .where(t.record_id == view.id, t.name == name)
            .values(counted=counts)
        )


def recount(unit: Unit, view: RecordView) -> None:
    """Settle an owned record whose entity's `load` reads its data (after a change of it)."""
    spec = load_spec(unit, view.entity)
    if view.owner is not None and spec is not None and spec.counts_while is not None:
        settle(unit, view)
    else:
        settle_named(unit, view)


def window_ended(unit: Unit, record_id: str | None) -> None:
    """A load window's timer fell due: settle its record (a stale timer changes nothing)."""
    try:
        view = records.load(unit.tx.conn, unit.bundle, record_id or "")
    except NotFound:
        return
    settle(unit, view)


def counts_now(unit: Unit, record_id: str) -> bool:
    """Tell whether a record counts in its owner's load now (routing it again reads this)."""
    row = unit.tx.sql(_GET, {"id": record_id}).fetchone()
    return bool(row and row[1])
