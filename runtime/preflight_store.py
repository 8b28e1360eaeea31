"""Pre-flight with no Bundle to compare with: at server start (or when the server never
had good definitions) every record the store holds is checked against the new Bundle.

Entities, workflows and stages are counted in one GROUP BY query. Unless `fields` is
False, every record's data is then read in batches: values of fields the form does not
declare (`field-removed`, a warning: kept aside) and values the form refuses
(`type-changed`: an error, a warning for legacy records of an older `schema_version`
whose legacy policy is not `reject`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection

from engine.bundle import Bundle
from runtime.data import form_model
from runtime.preflight import (
    ENTITY_HINT,
    EXAMPLES,
    KEPT_ASIDE,
    STAGE_HINT,
    Finding,
    _count,
    _failures,
    _sql,
    _stage_ids,
)
from runtime.store import py_json


def against_store(conn: Connection, new: Bundle, *, batch: int, fields: bool) -> list[Finding]:
    """Check every record the store holds against `new` (see the module's docstring)."""
    found = _against_store(conn, new)
    if fields:
        for entity in sorted(new.forms):
            found += _stored_fields(conn, new, entity, batch)
    return found


def _against_store(conn: Connection, new: Bundle) -> list[Finding]:
    """With no Bundle served: every entity, workflow and stage the store holds must exist."""
    rows = _sql(
        conn,
        "SELECT entity, workflow, stage, COUNT(*) FROM sf_record "
        "GROUP BY entity, workflow, stage ORDER BY entity, workflow, stage",
        {},
    ).all()
    found = []
    for entity, workflow, stage, count in rows:
        where = {"entity": entity, "workflow": workflow, "stage": stage}
        if entity not in new.forms:
            found.append(
                Finding(
                    "entity-removed",
                    f"no form for entity '{entity}'",
                    **where,
                    count=count,
                    hint=ENTITY_HINT.format(entity=entity),
                )
            )
        elif workflow and workflow not in new.workflows:
            found.append(
                Finding("workflow-removed", f"no workflow '{workflow}'", **where, count=count)
            )
        elif workflow and stage and stage not in _stage_ids(new.workflows[workflow]):
            found.append(
                Finding(
                    "stage-removed",
                    f"workflow '{workflow}' has no stage '{stage}'",
                    **where,
                    count=count,
                    hint=STAGE_HINT.format(stage=stage),
                )
            )
    merged: dict[tuple[str, str, str | None, str | None], Finding] = {}
    for f in found:  # one entity-removed per entity, not one per stage
        key = (f.code, f.entity, f.workflow, f.stage if f.code == "stage-removed" else None)
        if f.code == "entity-removed":
            key = (f.code, f.entity, None, None)
        prior = merged.get(key)
        merged[key] = f if prior is None else _add_count(prior, f.count)
    return [
        Finding(
            **{
                **asdict(f),
                "message": f"{f.message}, but {f.count} record(s) have it",
                "examples": _examples(conn, f),
            }
        )
        for f in merged.values()
    ]


def _examples(conn: Connection, finding: Finding) -> tuple[str, ...]:
    """Return the ids of a few records a finding of `_against_store` is about."""
    parts = {"entity": finding.entity}
    if finding.code != "entity-removed" and finding.workflow:
        parts["workflow"] = finding.workflow
    if finding.code == "stage-removed" and finding.stage:
        parts["stage"] = finding.stage
    where = " AND ".join(f"{k} = :{k}" for k in parts)
    return _count(conn, where, dict(parts))[1]


def _add_count(finding: Finding, more: int) -> Finding:
    return Finding(**{**asdict(finding), "count": finding.count + more})


def _stored_fields(conn: Connection, new: Bundle, entity: str, batch: int) -> list[Finding]:
    """Read every record of `entity` in batches: undeclared values, values the form refuses."""
    form = new.forms[entity]
    model = form_model(new, entity).lenient
    declared = set(form.spec.fields)
    legacy_ok = form.spec.legacy.policy != "reject"
    params: dict[str, Any] = {"entity": entity, "limit": batch, "after": ""}
    sql = (
        "SELECT id, data, schema_version FROM sf_record WHERE entity = :entity "
        "AND id > :after ORDER BY id LIMIT :limit"
    )
    undeclared: dict[str, list[str]] = {}
    failing: dict[tuple[str, bool], list[str]] = {}
    first: dict[tuple[str, bool], str] = {}
    while True:
        rows = _sql(conn, sql, params).all()
        for record_id, raw, version in rows:
            data = py_json(raw)
            if not isinstance(data, Mapping):
                continue
            for name in sorted(k for k, v in data.items() if k not in declared and v is not None):
                undeclared.setdefault(name, []).append(record_id)
            legacy = legacy_ok and int(version or 0) < form.spec.schema_version
            known = {k: v for k, v in data.items() if k in declared}
            for name, message in _failures(model, known):
                failing.setdefault((name, legacy), []).append(record_id)
                first.setdefault((name, legacy), message)
        if len(rows) < batch:
            break
        params["after"] = rows[-1][0]
    found = [
        Finding(
            "field-removed",
            f"form '{entity}' has no field '{name}' but {len(ids)} record(s) hold a value for it",
            entity,
            len(ids),
            severity="warning",
            field=name,
            hint=KEPT_ASIDE,
            examples=tuple(ids[:EXAMPLES]),
        )
        for name, ids in sorted(undeclared.items())
    ]
    for (name, legacy), ids in sorted(failing.items()):
        found.append(
            Finding(
                "type-changed",
                f"field '{name}' of form '{entity}': {len(ids)} stored value(s) fail it "
                f"(first: {first[(name, legacy)]})",
                entity,
                len(ids),
                severity="warning" if legacy else "error",
                field=name,
                hint=(
                    f"legacy records (older than schema_version {form.spec.schema_version}): "
                    "readable, read-only where they fail"
                    if legacy
                    else "fix the stored values first, or raise the form's schema_version "
                    "to migrate them as legacy records (P12)"
                ),
                examples=tuple(ids[:EXAMPLES]),
            )
        )
    return found
