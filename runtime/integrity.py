"""What a save must keep true across records: refs point at records, unique values stay
unique, and no two records of an entity share a natural key (the form's `key`).

All are checked inside the command's transaction, against the store, for the fields a
save sets or changes. On SQLite a command's transaction holds the write lock, so two
saves never interleave; on PostgreSQL a unique value is first claimed with a
transaction-scoped advisory lock on (entity, field, value), so two concurrent saves of
one value queue on each other and the second one sees the first. A natural key is
claimed the same way, on (entity, key).

A record's stored dedup key follows its key fields: whatever changes one (an update, a
rule, a `set` action) recomputes it when the record is saved, and a key another record
holds refuses the save (`Taken`, 409, naming that record).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, text

from engine.spec.form import FieldSpec
from runtime.data import to_json
from runtime.errors import Invalid, Problem, Taken
from runtime.metrics import StoreSql
from runtime.people import roles_of
from runtime.records import RecordView
from runtime.rows import record_visible
from runtime.store import T_RECORD, run_sql
from runtime.unit import Unit


def _refs(spec: FieldSpec, value: Any) -> list[str]:
    """Return the record ids a ref (or list of refs) field holds."""
    if spec.type == "ref" and isinstance(value, str):
        return [value]
    if spec.type == "list" and spec.of == "ref" and isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _missing_refs(unit: Unit, entity: str, ids: list[str]) -> list[str]:
    forming = unit.forming.get(entity, set())
    ids = [i for i in ids if i not in forming]
    if not ids:
        return []
    conn = unit.tx.conn
    found = {
        r[0]
        for r in conn.execute(
            select(T_RECORD.c.id).where(T_RECORD.c.id.in_(ids), T_RECORD.c.entity == entity)
        )
    }
    return [i for i in ids if i not in found]


def _claim(unit: Unit, entity: str, name: str, value: Any) -> None:
    _lock(unit, f"sopflow:unique:{entity}:{name}:{json.dumps(value, sort_keys=True, default=str)}")


def _lock(unit: Unit, key: str) -> None:
    """Hold a transaction-scoped advisory lock on `key` (PostgreSQL; SQLite needs none)."""
    conn = unit.tx.conn
    if conn.dialect.name != "postgresql":
        return
    conn.execute(
        text(
            "SELECT pg_advisory_xact_lock(hashtextextended("
            "current_database() || ':' || current_schema() || ':' || :key, 0))"
        ),
        {"key": key},
    )


def _holder(unit: Unit, view: RecordView, name: str, value: Any) -> str | None:
    """Return another record of the entity holding `value` in field `name` (None: none)."""
    _claim(unit, view.entity, name, value)
    sql = StoreSql(unit.tx.conn)
    query = (
        select(T_RECORD.c.id)
        .where(
            T_RECORD.c.entity == view.entity,
            T_RECORD.c.id != view.id,
            sql.equals(T_RECORD.c.data, name, value),
        )
        .limit(1)
    )
    found = unit.tx.conn.execute(query).scalar()
    return str(found) if found is not None else None


def check_integrity(unit: Unit, view: RecordView, before: Mapping[str, Any] | None = None) -> None:
    """Refuse a save whose refs point at no record, or whose unique values are taken.

    Only fields the save sets or changes are checked (`before`: the stored values).
    """
    fields = unit.bundle.forms[view.entity].spec.fields
    problems: list[Problem] = []
    for name, spec in fields.items():
        value = view.data.get(name)
        if value in (None, "", []) or (before is not None and before.get(name) == value):
            continue
        ids = _refs(spec, value)
        if ids and spec.to:
            missing = _missing_refs(unit, spec.to, ids)
            if missing:
                problems.append(
                    Problem(
                        "unknown-ref",
                        f"{name}: no {spec.to} record '{missing[0]}'",
                        name,
                        detail={"missing": missing},
                    )
                )
        if spec.unique:
            other = _holder(unit, view, name, value)
            if other is not None:
                shown = _named(unit, other)
                holder = (
                    f"{view.entity} record '{shown}'" if shown else f"another {view.entity} record"
                )
                problems.append(
                    Problem(
                        "not-unique",
                        f"{name}: '{value}' is already used by {holder}",
                        name,
                        detail={"record": shown} if shown else {},
                    )
                )
    if problems:
        raise Invalid(f"invalid {view.entity}", problems)


def _named(unit: Unit, record_id: str) -> str | None:
    """Return the id of the record holding a value, or None when the caller's row-level
    access hides it (a refusal names no record the caller may not see)."""
    roles = roles_of(unit.bundle, unit.actor)
    visible = record_visible(unit.tx.conn, unit.bundle, record_id, unit.actor, roles)
    return record_id if visible else None


def key_of(unit: Unit, entity: str, values: Mapping[str, Any]) -> str:
    """Return the dedup key of `values`; Invalid when a key field is empty."""
    fields = unit.bundle.forms[entity].spec.key
    missing = [k for k in fields if values.get(k) in (None, "")]
    if missing:
        raise Invalid(
            f"the key fields {', '.join(missing)} are needed to match existing records",
            [Problem("missing-key", f"'{k}' is part of the key", k) for k in missing],
        )
    plain = to_json({k: values[k] for k in fields})
    return "\x1f".join(str(plain[k]) for k in fields)[:512]


_KEY_HOLDER = (
    "SELECT id FROM sf_record WHERE entity = :entity AND dedup_key = :key AND id != :id LIMIT 1"
)


def settle_key(unit: Unit, view: RecordView) -> None:
    """Set a keyed record's dedup key from its key fields, refusing one another record holds.

    Called before a record is inserted or saved. A record stored without a key (a legacy
    import missing a key field) keeps none until its key fields are complete.
    """
    form = unit.bundle.forms.get(view.entity)
    if form is None or not form.spec.key:
        return
    fields = form.spec.key
    if view.dedup_key is None and any(view.data.get(k) in (None, "") for k in fields):
        return
    key = key_of(unit, view.entity, view.data)
    if key == view.dedup_key:
        return
    _lock(unit, f"sopflow:key:{view.entity}:{key}")
    params = {"entity": view.entity, "key": key, "id": view.id}
    found = run_sql(unit.tx.conn, _KEY_HOLDER, params).fetchone()
    other = found[0] if found is not None else None
    if other is not None:
        values = to_json({k: view.data.get(k) for k in fields})
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        named = _named(unit, str(other))
        holder = f"{view.entity} record '{named}'" if named else f"another {view.entity} record"
        raise Taken(
            f"{holder} already has the key {shown}; "
            "two records never share a key (change the other record, or ingest to merge)",
            named or "",
            [
                Problem(
                    "duplicate-key",
                    f"{holder} has this key",
                    detail={"record": named, "key": values} if named else {"key": values},
                )
            ],
        )
    view.dedup_key = key


__all__ = ["check_integrity", "key_of", "settle_key"]
