"""The names an expression may read in each place: entity fields, core fields, users, tables."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from engine.expr import ExprType, MetricSig, Scope, TableSig
from engine.spec import FieldSpec, FormSpec, TableSpec
from engine.spec.manifest import UserFieldSpec

T = ExprType
_SCALARS: dict[str, ExprType] = {
    "string": T.STRING,
    "text": T.STRING,
    "phone": T.STRING,
    "address": T.STRING,
    "email": T.STRING,
    "ref": T.STRING,
    "integer": T.INTEGER,
    "decimal": T.NUMBER,
    "boolean": T.BOOL,
    "date": T.DATE,
    "datetime": T.DATETIME,
    "list": T.list_of(T.ANY),
    "duration": T.DURATION,
}
# Columns every record has, whatever its entity (ARCHITECTURE.md decision 7).
CORE_FIELDS: dict[str, ExprType] = {
    "id": T.STRING,
    "entity": T.STRING,
    "stage": T.STRING,
    "workflow": T.STRING,
    "status": T.enum(("open", "won", "lost", "closed")),
    "owner": T.STRING,
    "queue": T.STRING,
    "created_at": T.DATETIME,
    "updated_at": T.DATETIME,
    "stage_entered_at": T.DATETIME,
    "schema_version": T.INTEGER,
}
USER_CORE: dict[str, ExprType] = {
    "id": T.STRING,
    "name": T.STRING,
    "email": T.STRING,
    "roles": T.list_of(T.STRING),
    "teams": T.list_of(T.STRING),
    "manager": T.STRING,
    "capacity": T.INTEGER,
    "load": T.INTEGER,
    "available": T.BOOL,
}
NOW = {"now": T.DATETIME}


def field_type(spec: FieldSpec, enum_values: tuple[str, ...] = ()) -> ExprType:
    """Return the expression type of a form field."""
    values = tuple(spec.values or ()) or enum_values
    if spec.type == "enum":
        return T.enum(values)
    if spec.type == "multi_enum":
        return T.list_of(T.enum(values))
    if spec.type == "evidence":
        return T.list_of(T.STRING)
    if spec.type == "list":
        item = T.enum(values) if spec.of == "enum" else _SCALARS.get(spec.of or "", T.ANY)
        return T.list_of(item)
    return _SCALARS[spec.type]


def user_field_type(spec: UserFieldSpec) -> ExprType:
    """Return the expression type of a declared user attribute."""
    if spec.type == "enum":
        return T.enum(tuple(spec.values))
    if spec.type == "multi_enum":
        return T.list_of(T.enum(tuple(spec.values)))
    if spec.type == "list":
        return T.list_of(T.enum(tuple(spec.values)) if spec.values else T.STRING)
    return _SCALARS[spec.type]


def scalar_type(name: str) -> ExprType:
    """Return the expression type of a column or parameter type name."""
    return _SCALARS.get(name, T.ANY)


def entity_fields(form: FormSpec, enums: Mapping[str, tuple[str, ...]]) -> dict[str, ExprType]:
    """Return every name a record of the form has: its fields and the core columns."""
    fields = dict(CORE_FIELDS)
    for name, spec in form.fields.items():
        fields[name] = field_type(spec, enums.get(name, ()))
    return fields


def table_sig(name: str, table: TableSpec) -> TableSig:
    """Return the signature (and data) of a reference table for `lookup`."""
    columns = {c: scalar_type(t) for c, t in table.columns.items()}
    rng = (table.range[0], table.range[1]) if table.range else None
    default = MappingProxyType(dict(table.default)) if table.default is not None else None
    return TableSig(name, tuple(table.key), columns, tuple(table.rows), rng, default)


def user_type(user_fields: Mapping[str, UserFieldSpec]) -> ExprType:
    """Return the record type of a user (a routing candidate)."""
    fields = dict(USER_CORE)
    fields.update({n: user_field_type(f) for n, f in user_fields.items()})
    return T.record("user", fields)


def make_scope(
    record: Mapping[str, ExprType],
    *,
    subject: str,
    tables: Mapping[str, TableSig],
    metrics: Mapping[str, MetricSig],
    context: Mapping[str, ExprType] | None = None,
    constants: Mapping[str, Any] | None = None,
    evidence: tuple[str, ...] | None = None,
    assignments: tuple[str, ...] | None = None,
) -> Scope:
    """Build a scope: bare record names, `record.x`, `now`, plus extra context names."""
    ctx: dict[str, ExprType] = dict(NOW)
    ctx["record"] = T.record(subject, dict(record))
    ctx.update(context or {})
    return Scope(
        record=dict(record),
        context=ctx,
        constants=dict(constants or {}),
        tables=tables,
        metrics=metrics,
        subject=subject,
        evidence=evidence,
        assignments=assignments,
    )
