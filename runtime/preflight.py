"""Pre-flight: would a new Bundle strand live data? (ARCHITECTURE.md decision 10)

Before a reload swaps the Bundle, the new definitions are checked against the records
the store holds, comparing with the Bundle being served so that only what changed is
queried (an edit that touches no stage, field or entity costs no query at all):

- an entity removed while records of it exist (`entity-removed`);
- a workflow removed or moved to another entity while records run in it
  (`workflow-removed`), a stage or exit removed while records are in it
  (`stage-removed`); the language has no stage mapping, so these records must be
  moved first (or the stage kept);
- a field removed from a form while stored data still holds a value for it (the JSON
  key is present and not null: `field-removed`, a warning): the values are kept
  aside with the record (stored, not shown by the API, never validated: an update checks
  only the fields the form declares), so such records stay updatable;
- a field whose type or constraints changed while stored values fail the new field
  (`type-changed`): only the changed fields are read, in batches of records, and each
  value is checked with the same pydantic model the runtime reads records with. When
  the form raises its `schema_version` (and its legacy policy is not `reject`), this
  is a declared migration (P12): the finding is a warning, the old records stay
  readable and become read-only where they fail.

Errors refuse the reload; warnings are reported and the reload goes on. With no Bundle
served yet (server start, or the server never had good definitions) entities and
stages are checked against everything the store holds, and, unless `fields=False`,
every stored record's data against the new forms: values of undeclared fields
(`field-removed`, a warning) and values the form refuses (`type-changed`: an error,
a warning for legacy records of an older `schema_version` whose policy is not `reject`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection

from engine.bundle import Bundle, CompiledForm, CompiledWorkflow
from engine.spec import FieldSpec
from runtime.data import form_model
from runtime.evolve import Change, needed
from runtime.evolve import apply as apply_migration
from runtime.store import Store, driver_sql, is_postgres, py_json

EXAMPLES = 5  # record ids shown per finding
BATCH = 1000  # records read per query when checking changed fields
KEPT_ASIDE = (
    "the values are kept aside: stored, not shown, ignored when the record is "
    "validated, so those records stay updatable; to move them into each record's "
    "history instead, list the field under the form's 'removed_fields'"
)
STAGE_HINT = (
    "keep the stage, rename it in place with 'renamed_from: {stage}' on its new stage, "
    "or say where its records go: 'removed_stages: {{{stage}: {{move_to: <stage>}}}}'"
)
ENTITY_HINT = "keep its form, or rename it with 'renamed_from: {entity}' on the new form"


@dataclass(frozen=True)
class Finding:
    """One way the new definitions do not fit the data: what, where, how many records."""

    code: str
    message: str
    entity: str
    count: int
    severity: str = "error"
    workflow: str | None = None
    stage: str | None = None
    field: str | None = None
    hint: str = ""
    examples: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data (empty parts left out)."""
        data = asdict(self)
        data["examples"] = list(self.examples)
        return {k: v for k, v in data.items() if v not in (None, "", [])}

    def render(self) -> str:
        """Render as one log line."""
        text = f"preflight {self.severity}[{self.code}]: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    """Keep the findings that refuse a reload."""
    return [f for f in findings if f.severity == "error"]


def preflight(
    store: Store, old: Bundle | None, new: Bundle, *, batch: int = BATCH, fields: bool = True
) -> list[Finding]:
    """Check `new` against the live data (and against `old`, the Bundle being served).

    `fields=False` (only with no `old`) skips reading every record's data: for a start
    on the bundle last applied to this store, whose data was checked when it was applied.
    """
    return rehearse(store, old, new, batch=batch, fields=fields)[0]


def rehearse(
    store: Store, old: Bundle | None, new: Bundle, *, batch: int = BATCH, fields: bool = True
) -> tuple[list[Finding], list[Change]]:
    """Pre-flight `new` as `preflight` does, after its declared migration (runtime/evolve.py).

    When the bundle declares renames or removals (or drops a named assignment stored
    records hold), they are applied in a transaction that
    is rolled back, and the checks read the data as the migration leaves it: a stage
    whose records all move, or a field whose values all go, no longer refuses the bundle.
    Returns the findings and the migration's planned changes (with counts).
    """
    with store.read() as conn:
        if not needed(conn, new):
            return _check(conn, old, new, batch, fields), []
    with store.rehearse(datetime.now(UTC), None, new.hash) as tx:
        planned = apply_migration(tx, new)
        return _check(tx.conn, old, new, batch, fields), planned


def _check(
    conn: Connection, old: Bundle | None, new: Bundle, batch: int, fields: bool
) -> list[Finding]:
    if old is None:
        from runtime.preflight_store import against_store  # noqa: PLC0415  (imports this)

        return against_store(conn, new, batch=batch, fields=fields)
    found = _entities(conn, old, new)
    # An entity renamed in `new` (`renamed_from`) is checked under its new name: the
    # migration rehearsed before these checks moved its records there.
    renamed = {f.spec.renamed_from: e for e, f in new.forms.items() if f.spec.renamed_from}
    now_named = {e: e if e in new.forms else renamed.get(e) for e in old.forms}
    for name, wf in old.workflows.items():
        entity = now_named.get(wf.entity)
        if entity is not None:
            found += _workflow(conn, wf, new.workflows.get(name), entity)
    for was, form in old.forms.items():
        entity = now_named.get(was)
        if entity is not None:
            found += _fields(conn, new, form, new.forms[entity], batch)
    return found


# -- entities and stages ---------------------------------------------------------------


def _entities(conn: Connection, old: Bundle, new: Bundle) -> list[Finding]:
    found = []
    for entity in sorted(set(old.forms) - set(new.forms)):
        count, examples = _count(conn, "entity = :entity", {"entity": entity})
        if count:
            found.append(
                Finding(
                    "entity-removed",
                    f"entity '{entity}' is removed but {count} record(s) of it exist",
                    entity,
                    count,
                    hint=ENTITY_HINT.format(entity=entity),
                    examples=examples,
                )
            )
    return found


def _stage_ids(wf: CompiledWorkflow) -> list[str]:
    return [s.id for s in wf.body.stages] + [e.id for e in wf.body.exits]


def _workflow(
    conn: Connection, old: CompiledWorkflow, new: CompiledWorkflow | None, entity: str
) -> list[Finding]:
    """Check one workflow served now; `entity` is its entity's name in the new bundle."""
    where = "entity = :entity AND workflow = :workflow"
    params: dict[str, Any] = {"entity": entity, "workflow": old.name}
    if new is None or new.entity != entity:
        count, examples = _count(conn, where, params)
        if not count:
            return []
        why = "removed" if new is None else f"moved to entity '{new.entity}'"
        return [
            Finding(
                "workflow-removed",
                f"workflow '{old.name}' is {why} but {count} '{entity}' record(s) run in it",
                entity,
                count,
                workflow=old.name,
                hint="keep the workflow until those records are closed elsewhere",
                examples=examples,
            )
        ]
    kept = set(_stage_ids(new))
    removed = [s for s in _stage_ids(old) if s not in kept]
    found = []
    for stage in removed:
        count, examples = _count(conn, f"{where} AND stage = :stage", {**params, "stage": stage})
        if count:
            found.append(
                Finding(
                    "stage-removed",
                    f"stage '{stage}' of workflow '{old.name}' is removed but {count} "
                    f"record(s) are in it",
                    entity,
                    count,
                    workflow=old.name,
                    stage=stage,
                    hint=STAGE_HINT.format(stage=stage),
                    examples=examples,
                )
            )
    return found


# -- fields ----------------------------------------------------------------------------


def _present(conn: Connection, field: str, params: dict[str, Any]) -> str:
    """Return SQL that is true when a record's data holds a non-null value for `field`."""
    key = f"f_{len(params)}"
    if is_postgres(conn):
        params[key] = field
        return f"json_typeof(CAST(data AS json) -> CAST(:{key} AS text)) <> 'null'"
    params[key] = f'$."{field}"'
    return f"json_type(data, :{key}) <> 'null'"


def _shape(spec: FieldSpec, form: CompiledForm, name: str) -> tuple[Any, ...]:
    """What the runtime checks a stored value against (a change here may fail old data)."""
    values = form.types[name].values if name in form.types else None
    return (
        spec.type,
        spec.of,
        tuple(values or ()),
        tuple(spec.values or ()),
        spec.min,
        spec.max,
        spec.min_length,
        spec.max_length,
        spec.pattern,
    )


def _fields(
    conn: Connection, new: Bundle, old: CompiledForm, form: CompiledForm, batch: int
) -> list[Finding]:
    entity = form.spec.entity
    found = []
    for name in old.spec.fields:
        if name in form.spec.fields:
            continue
        params: dict[str, Any] = {"entity": entity}
        count, examples = _count(
            conn, f"entity = :entity AND {_present(conn, name, params)}", params
        )
        if count:
            found.append(
                Finding(
                    "field-removed",
                    f"field '{name}' is removed from form '{entity}' but {count} record(s) "
                    "hold a value for it",
                    entity,
                    count,
                    severity="warning",
                    field=name,
                    hint=KEPT_ASIDE,
                    examples=examples,
                )
            )
    changed = [
        n
        for n, spec in form.spec.fields.items()
        if n in old.spec.fields and _shape(old.spec.fields[n], old, n) != _shape(spec, form, n)
    ]
    # A field renamed in this bundle holds the old field's values after the migration.
    changed += [
        n
        for n, spec in form.spec.fields.items()
        if n not in old.spec.fields
        and spec.renamed_from in old.spec.fields
        and _shape(old.spec.fields[spec.renamed_from], old, spec.renamed_from)
        != _shape(spec, form, n)
    ]
    if changed:
        found += _changed_values(conn, new, old, form, changed, batch)
    return found


def _changed_values(
    conn: Connection,
    new: Bundle,
    old: CompiledForm,
    form: CompiledForm,
    names: list[str],
    batch: int,
) -> list[Finding]:
    """Read the changed fields' stored values in batches; check them with the new model."""
    entity = form.spec.entity
    model = form_model(new, entity).lenient
    params: dict[str, Any] = {"entity": entity, "limit": batch, "after": ""}
    present = " OR ".join(_present(conn, n, params) for n in names)
    sql = (
        f"SELECT id, data FROM sf_record WHERE entity = :entity AND id > :after "
        f"AND ({present}) ORDER BY id LIMIT :limit"
    )
    failing: dict[str, list[str]] = {n: [] for n in names}
    first: dict[str, str] = {}
    while True:
        rows = _sql(conn, sql, params).all()
        for record_id, raw in rows:
            data = py_json(raw)
            values = {n: data[n] for n in names if isinstance(data, Mapping) and n in data}
            for name, message in _failures(model, values):
                failing[name].append(record_id)
                first.setdefault(name, message)
        if len(rows) < batch:
            break
        params["after"] = rows[-1][0]
    migrating = (
        form.spec.schema_version > old.spec.schema_version and form.spec.legacy.policy != "reject"
    )
    found = []
    for name, ids in failing.items():
        if not ids:
            continue
        before = (
            old.spec.fields.get(name) or old.spec.fields[form.spec.fields[name].renamed_from or ""]
        )
        was, now = before.type, form.spec.fields[name].type
        what = f"type changed from {was} to {now}" if was != now else "constraints changed"
        found.append(
            Finding(
                "type-changed",
                f"field '{name}' of form '{entity}': {what}, and {len(ids)} stored value(s) "
                f"fail it (first: {first[name]})",
                entity,
                len(ids),
                severity="warning" if migrating else "error",
                field=name,
                hint=(
                    f"declared migration (schema_version {form.spec.schema_version}): those "
                    "records stay readable, read-only where they fail"
                    if migrating
                    else "fix the stored values first, or raise the form's schema_version "
                    "to migrate them as legacy records (P12)"
                ),
                examples=tuple(ids[:EXAMPLES]),
            )
        )
    return found


def _failures(model: Any, values: dict[str, Any]) -> list[tuple[str, str]]:
    """Return (field, message) for each value the model refuses."""
    try:
        model.model_validate(values)
    except ValidationError as exc:
        out: dict[str, str] = {}
        for err in exc.errors(include_url=False):
            name = str(err["loc"][0]) if err["loc"] else ""
            if name in values:
                out.setdefault(name, str(err["msg"]))
        return list(out.items())
    return []


def _sql(conn: Connection, text: str, params: Mapping[str, Any]) -> Any:
    """Run a read (`:name` parameters) through SQLAlchemy; return its result."""
    return conn.exec_driver_sql(driver_sql(text, is_postgres(conn)), dict(params))


def _count(conn: Connection, where: str, params: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    """Return how many records match `where`, and the ids of a few of them."""
    count = int(_sql(conn, f"SELECT COUNT(*) FROM sf_record WHERE {where}", params).scalar() or 0)
    if not count:
        return 0, ()
    ids = _sql(
        conn, f"SELECT id FROM sf_record WHERE {where} ORDER BY id LIMIT {EXAMPLES}", params
    ).scalars()
    return count, tuple(str(i) for i in ids)
