"""Definition migrations: bring stored records to a bundle's declared renames and removals.

The bundle says what changed (docs/language.md "Changing definitions safely"):
`renamed_from` on a form (entity), a field or a stage; `removed_fields` of a form;
`removed_stages` of a workflow, each with `move_to`. What to do is read from the data,
not from the bundle served before: a record still under an old name is migrated, one
already under the new name is left alone. So the same pass runs on reload and at
start-up, a second run with the same bundle changes nothing, and a `renamed_from` that
no stored record uses any more is a no-op.

`apply(tx, bundle)` does every change inside the caller's transaction, in this order:
entities, fields (renamed, then removed), stages (renamed, then removed), and returns
what it changed with counts. The caller commits it with the bundle's version row, or
rolls it back (the pre-flight rehearses it in `Store.rehearse`).

What is rewritten, and what is not (docs/decisions.md 55-56):
- renames rewrite the current state and what reads it by name: `sf_record` (entity,
  data keys, stage), the stays of `sf_stage_history` (entity, stage, from/to: dwell,
  funnel and SLA metrics go on under the new id), `sf_evidence` (the stage a file was
  attached in; the kind of a renamed evidence field) and pending SLA timers (ref and
  payload). The audit log `sf_event` is append-only and is never rewritten: entries
  before the migration keep the old names, and one `definition_migrated` entry per
  change (old -> new, count, bundle hash) maps them;
- a removed field's value leaves the record's data and is kept in its history: one
  `field_removed` event per record with the field, the old value and the note;
- a record in a removed stage moves to `move_to`: its stay is closed (outcome
  `migrated`), a stay in the new stage opens, its SLA timers of the old stage are
  dropped and the new stage's SLA starts; no guard, requirement or `on_enter`/`on_exit`
  action runs (the move is the definition's, not a person's). Each move is one
  `migration_move` event with the bundle hash;
- alerts keep their labels and keys as they were raised (a firing alert resolves on
  the next evaluation under the new names);
- a named assignment no longer declared by its entity's form (the name gone from
  `assignments`, or the whole key) is removed from every record that holds it: its
  count leaves the holder's load, one `assignment_removed` event per record keeps who
  held it (user or queue), and the row goes. The form's removal is the declaration:
  there is no value to keep aside, and a row nothing reads would count in a load
  forever (docs/decisions.md 62).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select

from engine.bundle import Bundle, CompiledWorkflow
from engine.spec.workflow import StageSpec
from runtime import stages, timers
from runtime.people import change_load
from runtime.records import load
from runtime.store import T_ASSIGNMENT, T_RECORD, Store, Tx, db_json, py_json
from runtime.unit import Unit


@dataclass(frozen=True)
class Change:
    """One migration step and how many records it touched."""

    kind: str  # entity-renamed | field-renamed | field-removed | stage-renamed | stage-moved
    # | assignment-removed
    entity: str
    old: str
    new: str | None
    count: int
    workflow: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON-ready data."""
        out = {
            "kind": self.kind,
            "entity": self.entity,
            "workflow": self.workflow,
            "from": self.old,
            "to": self.new,
            "count": self.count,
        }
        return {k: v for k, v in out.items() if v is not None}

    def describe(self) -> str:
        """Say what the change did, in one phrase (`claim: field 'a' -> 'b', 3 record(s)`)."""
        where = f"{self.entity}/{self.workflow}" if self.workflow else self.entity
        what = {
            "entity-renamed": f"entity '{self.old}' -> '{self.new}'",
            "field-renamed": f"field '{self.old}' -> '{self.new}'",
            "field-removed": f"field '{self.old}' removed (values kept in history)",
            "stage-renamed": f"stage '{self.old}' -> '{self.new}'",
            "stage-moved": f"stage '{self.old}' removed, its records moved to '{self.new}'",
            "assignment-removed": f"assignment '{self.old}' removed (holders kept in history)",
        }[self.kind]
        return f"{where}: {what}, {self.count} record(s)"

    def render(self) -> str:
        """Render as one log line."""
        return f"migrate {self.describe()}"


def declared(bundle: Bundle) -> bool:
    """Tell whether the bundle declares any migration at all (else nothing is read)."""
    for form in bundle.forms.values():
        spec = form.spec
        if spec.renamed_from or spec.removed_fields:
            return True
        if any(f.renamed_from for f in spec.fields.values()):
            return True
    return any(
        wf.removed_stages or any(s.renamed_from for s in wf.body.stages)
        for wf in bundle.workflows.values()
    )


def needed(conn: Connection, bundle: Bundle) -> bool:
    """Tell whether `apply` may change anything: a declaration, or a removed assignment."""
    return declared(bundle) or bool(removed_assignments(conn, bundle))


def removed_assignments(conn: Connection, bundle: Bundle) -> list[tuple[str, str]]:
    """Return (entity, name) of the stored named assignments the entity's form no longer
    declares (entities the bundle does not have are the pre-flight's, not this)."""
    a, r = T_ASSIGNMENT.c, T_RECORD.c
    rows = conn.execute(
        select(r.entity, a.name).distinct().join_from(T_ASSIGNMENT, T_RECORD, a.record_id == r.id)
    ).all()
    return sorted(
        (entity, name)
        for entity, name in rows
        if entity in bundle.forms and name not in bundle.forms[entity].spec.assignments
    )


def apply(tx: Tx, bundle: Bundle) -> list[Change]:
    """Migrate every stored record the bundle's declarations reach; return the changes."""
    done = _declared(tx, bundle) if declared(bundle) else []
    for entity, name in removed_assignments(tx.conn, bundle):
        done += _remove_assignment(tx, entity, name)
    for change in done:
        tx.event(
            "definition_migrated",
            None,
            change.entity,
            change=change.kind,
            workflow=change.workflow,
            old=change.old,
            new=change.new,
            count=change.count,
            bundle=tx.bundle_hash,
        )
    return done


def _declared(tx: Tx, bundle: Bundle) -> list[Change]:
    done: list[Change] = []
    for entity, form in sorted(bundle.forms.items()):
        old = form.spec.renamed_from
        if old:
            done += _rename_entity(tx, old, entity)
    for entity in sorted(bundle.forms):
        done += _fields(tx, bundle, entity)
    for _, wf in sorted(bundle.workflows.items()):
        for stage in wf.body.stages:
            if stage.renamed_from:
                done += _rename_stage(tx, wf, stage.renamed_from, stage.id)
        for gone, removed in sorted(wf.removed_stages.items()):
            done += _move(tx, bundle, wf, gone, removed.move_to, removed.note)
    return done


# -- named assignments ------------------------------------------------------------------


def _remove_assignment(tx: Tx, entity: str, name: str) -> list[Change]:
    """Remove a named assignment the form dropped: loads, history, rows."""
    a, r = T_ASSIGNMENT.c, T_RECORD.c
    rows = tx.conn.execute(
        select(a.record_id, a.user_id, a.queue, a.counted)
        .join_from(T_ASSIGNMENT, T_RECORD, a.record_id == r.id)
        .where(r.entity == entity, a.name == name)
        .order_by(a.record_id)
    ).all()
    for record_id, user, queue, counted in rows:
        if counted:
            change_load(tx.conn, user, -1)
        tx.event(
            "assignment_removed",
            record_id,
            entity,
            assignment=name,
            user=user,
            queue=queue,
            counted=bool(counted),
            bundle=tx.bundle_hash,
        )
    of_entity = select(r.id).where(r.entity == entity)
    tx.conn.execute(delete(T_ASSIGNMENT).where(a.name == name, a.record_id.in_(of_entity)))
    return [Change("assignment-removed", entity, name, None, len(rows))]


# -- entities ---------------------------------------------------------------------------


def _rename_entity(tx: Tx, old: str, new: str) -> list[Change]:
    count = tx.sql(
        "UPDATE sf_record SET entity = :new WHERE entity = :old", {"old": old, "new": new}
    ).rowcount
    if not count:
        return []
    tx.sql(
        "UPDATE sf_stage_history SET entity = :new WHERE entity = :old", {"old": old, "new": new}
    )
    return [Change("entity-renamed", new, old, new, int(count))]


# -- fields -----------------------------------------------------------------------------


def _holding(tx: Tx, entity: str, names: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (id, data) of the entity's records whose data holds a key of `names`."""
    params: dict[str, Any] = {"entity": entity}
    tests = []
    for i, name in enumerate(names):
        params[f"k{i}"] = name if tx.postgres else f'$."{name}"'
        tests.append(
            f"CAST(data AS jsonb) ? :k{i}" if tx.postgres else f"json_type(data, :k{i}) IS NOT NULL"
        )
    rows = tx.sql(
        f"SELECT id, data FROM sf_record WHERE entity = :entity AND ({' OR '.join(tests)}) "
        "ORDER BY id",
        params,
    ).fetchall()
    for record_id, raw in rows:
        data = py_json(raw)
        if isinstance(data, dict):
            yield record_id, data


def _fields(tx: Tx, bundle: Bundle, entity: str) -> list[Change]:
    spec = bundle.forms[entity].spec
    renames = {f.renamed_from: n for n, f in spec.fields.items() if f.renamed_from}
    removed = dict(spec.removed_fields)
    if not renames and not removed:
        return []
    counts: dict[tuple[str, str], int] = {}
    for record_id, data in _holding(tx, entity, [*renames, *removed]):
        for old, new in renames.items():
            if old not in data:
                continue
            value = data.pop(old)
            if not _held(data.get(new)):
                data[new] = value
            elif _held(value):  # both names hold a value: the new one wins
                _to_history(tx, record_id, entity, old, value, f"renamed to '{new}', which was set")
            if _held(value):
                key = ("field-renamed", old)
                counts[key] = counts.get(key, 0) + 1
        for old, info in removed.items():
            if old not in data:
                continue
            value = data.pop(old)
            if _held(value):
                _to_history(tx, record_id, entity, old, value, info.note)
                key = ("field-removed", old)
                counts[key] = counts.get(key, 0) + 1
        tx.sql(
            "UPDATE sf_record SET data = :data, row_version = row_version + 1 WHERE id = :id",
            {"data": db_json(data), "id": record_id},
        )
    for old, new in renames.items():
        if ("field-renamed", old) in counts and spec.fields[new].type == "evidence":
            tx.sql(
                "UPDATE sf_evidence SET kind = :new WHERE kind = :old AND record_id IN "
                "(SELECT id FROM sf_record WHERE entity = :entity)",
                {"old": old, "new": new, "entity": entity},
            )
    return [
        Change(kind, entity, old, renames.get(old) if kind == "field-renamed" else None, n)
        for (kind, old), n in counts.items()
    ]


def _held(value: Any) -> bool:
    """Tell whether a stored value is data (an empty key or an empty file list is not)."""
    return value is not None and value != []


def _to_history(tx: Tx, record_id: str, entity: str, name: str, value: Any, note: str) -> None:
    tx.event("field_removed", record_id, entity, field=name, value=value, note=note)


# -- stages -----------------------------------------------------------------------------


def _rename_stage(tx: Tx, wf: CompiledWorkflow, old: str, new: str) -> list[Change]:
    params = {"old": old, "new": new, "entity": wf.entity, "workflow": wf.name}
    count = tx.sql(
        "UPDATE sf_record SET stage = :new WHERE entity = :entity AND workflow = :workflow "
        "AND stage = :old",
        params,
    ).rowcount
    if not count:
        return []
    in_wf = "record_id IN (SELECT id FROM sf_record WHERE workflow = :workflow)"
    for column in ("stage", "from_stage", "to_stage"):
        tx.sql(
            f"UPDATE sf_stage_history SET {column} = :new WHERE workflow = :workflow "
            f"AND {column} = :old",
            params,
        )
    tx.sql(f"UPDATE sf_evidence SET stage = :new WHERE stage = :old AND {in_wf}", params)
    pending = tx.sql(
        f"SELECT id, payload FROM sf_timer WHERE ref = :old AND fired = :fired "
        f"AND kind IN ('sla_breach', 'sla_remind') AND {in_wf}",
        {**params, "fired": False},
    ).fetchall()
    for timer_id, raw in pending:
        payload = py_json(raw) or {}
        payload["stage"] = new
        tx.sql(
            "UPDATE sf_timer SET ref = :new, payload = :payload WHERE id = :id",
            {"new": new, "payload": db_json(payload), "id": timer_id},
        )
    return [Change("stage-renamed", wf.entity, old, new, int(count), wf.name)]


def _move(
    tx: Tx, bundle: Bundle, wf: CompiledWorkflow, gone: str, target: str, note: str
) -> list[Change]:
    ids = [
        row[0]
        for row in tx.sql(
            "SELECT id FROM sf_record WHERE entity = :entity AND workflow = :workflow "
            "AND stage = :stage ORDER BY id",
            {"entity": wf.entity, "workflow": wf.name, "stage": gone},
        ).fetchall()
    ]
    if not ids:
        return []
    unit = Unit(bundle, tx, metric=_no_metric)
    stage = stages.find(wf, target)
    for record_id in ids:
        record = load(tx.conn, bundle, record_id)
        stages.close_stay(unit, record, target, "migrated")
        timers.cancel(tx, record_id, timers.SLA_KINDS)
        tx.sql(
            "UPDATE sf_record SET stage = :stage, stage_entered_at = :now, "
            "row_version = row_version + 1 WHERE id = :id",
            {"stage": target, "now": tx.time(tx.now), "id": record_id},
        )
        record.stage, record.stage_entered_at = target, tx.now
        stages.open_stay(unit, record, target, gone)
        if isinstance(stage, StageSpec):
            stages.start_sla(unit, wf, stage, record)
        tx.event(
            "migration_move",
            record_id,
            wf.entity,
            workflow=wf.name,
            source=gone,
            target=target,
            note=note,
            bundle=tx.bundle_hash,
        )
    return [Change("stage-moved", wf.entity, gone, target, len(ids), wf.name)]


def _no_metric(name: str, key: tuple[Any, ...]) -> Any:
    """Metric lookups are not available to a migration (an SLA by expression reads none)."""
    raise LookupError(f"metric '{name}' is not available while migrating")


def migrate(store: Store, bundle: Bundle, now: datetime, actor: str | None = None) -> list[Change]:
    """Apply the bundle's migration in a transaction of its own (the Python API's way)."""
    with store.begin(now, actor, bundle.hash) as tx:
        return apply(tx, bundle)
