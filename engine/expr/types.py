"""Static types, scopes and signatures the expression checker works with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

Kind = Literal[
    "any",
    "null",
    "bool",
    "integer",
    "number",
    "string",
    "date",
    "datetime",
    "duration",
    "list",
    "record",
]
KINDS: frozenset[str] = frozenset(get_args(Kind))
NUMERIC: frozenset[str] = frozenset({"integer", "number"})
LOOSE: frozenset[str] = frozenset({"any", "null"})


@dataclass(frozen=True)
class ExprType:
    """Describe the static type of a value: a kind plus list item, record fields or enum values."""

    kind: Kind
    item: ExprType | None = None
    fields: tuple[tuple[str, ExprType], ...] = ()
    name: str = ""
    values: tuple[str, ...] = ()

    ANY: ClassVar[ExprType]
    NULL: ClassVar[ExprType]
    BOOL: ClassVar[ExprType]
    INTEGER: ClassVar[ExprType]
    NUMBER: ClassVar[ExprType]
    STRING: ClassVar[ExprType]
    DATE: ClassVar[ExprType]
    DATETIME: ClassVar[ExprType]
    DURATION: ClassVar[ExprType]

    def __post_init__(self) -> None:
        """Reject unknown kinds early, where the caller builds the type."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown expression type kind {self.kind!r}")

    @classmethod
    def list_of(cls, item: ExprType) -> ExprType:
        """Return the type of a list of `item`."""
        return cls("list", item=item)

    @classmethod
    def record(cls, name: str, fields: Mapping[str, ExprType]) -> ExprType:
        """Return a record type with ordered fields, described as `name` in messages."""
        return cls("record", fields=tuple(fields.items()), name=name)

    @classmethod
    def enum(cls, values: Iterable[str]) -> ExprType:
        """Return a string type restricted to `values`."""
        return cls("string", values=tuple(values))

    def field(self, name: str) -> ExprType | None:
        """Return the type of field `name` of a record type, or None."""
        for key, typ in self.fields:
            if key == name:
                return typ
        return None

    def describe(self) -> str:
        """Describe the type in words for messages: 'number', 'list of string', ..."""
        if self.kind == "list":
            return f"list of {self.item.describe()}" if self.item else "list"
        if self.kind == "record":
            return self.name or "record"
        return self.kind


ExprType.ANY = ExprType("any")
ExprType.NULL = ExprType("null")
ExprType.BOOL = ExprType("bool")
ExprType.INTEGER = ExprType("integer")
ExprType.NUMBER = ExprType("number")
ExprType.STRING = ExprType("string")
ExprType.DATE = ExprType("date")
ExprType.DATETIME = ExprType("datetime")
ExprType.DURATION = ExprType("duration")


@dataclass(frozen=True)
class TableSig:
    """Describe a static reference table of the bundle, looked up by key (and date range)."""

    name: str
    key: tuple[str, ...]
    columns: Mapping[str, ExprType]
    rows: tuple[Mapping[str, Any], ...]
    range: tuple[str, str] | None = None
    default: Mapping[str, Any] | None = None  # the row a lookup gives when none fits

    @property
    def row_type(self) -> ExprType:
        """Return the record type of one row."""
        return ExprType.record(f"table '{self.name}' row", self.columns)


@dataclass(frozen=True)
class MetricSig:
    """Describe an aggregate the runtime computes, grouped by some values."""

    name: str
    group_by: tuple[tuple[str, ExprType], ...]
    type: ExprType = ExprType.NUMBER


@dataclass(frozen=True)
class Scope:
    """Hold everything an expression may name, with types, for compile-time checks."""

    record: Mapping[str, ExprType]
    context: Mapping[str, ExprType] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)
    tables: Mapping[str, TableSig] = field(default_factory=dict)
    metrics: Mapping[str, MetricSig] = field(default_factory=dict)
    subject: str = ""
    # Evidence kinds `evidence_count()` may name (None: the expression reads no record).
    evidence: tuple[str, ...] | None = None
    # Named assignments `assignee()` may name (None: the expression reads no record).
    assignments: tuple[str, ...] | None = None


def compatible(a: ExprType, b: ExprType) -> bool:
    """Tell whether values of types `a` and `b` can meet (compare, combine) meaningfully."""
    if a.kind in LOOSE or b.kind in LOOSE:
        return True
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return True
    if a.kind != b.kind:
        return False
    if a.kind == "list" and a.item is not None and b.item is not None:
        return compatible(a.item, b.item)
    return True


def unify(a: ExprType, b: ExprType) -> ExprType:
    """Return the narrowest type covering both `a` and `b` (ANY when they differ)."""
    if a == b:
        return a
    if a.kind == "null":
        return b
    if b.kind == "null":
        return a
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return ExprType.NUMBER
    if a.kind != b.kind or a.kind in ("any", "record"):
        return ExprType.ANY
    if a.kind == "list":
        return ExprType.list_of(unify(a.item or ExprType.ANY, b.item or ExprType.ANY))
    return ExprType(a.kind)


def unify_all(types: Iterable[ExprType]) -> ExprType:
    """Unify a sequence of types; NULL for an empty one."""
    result = ExprType.NULL
    for typ in types:
        result = unify(result, typ)
    return result


def type_of_value(value: Any, name: str = "") -> ExprType:
    """Infer the static type of a compile-time constant."""
    if value is None:
        return ExprType.NULL
    if isinstance(value, bool):
        return ExprType.BOOL
    if isinstance(value, int):
        return ExprType.INTEGER
    if isinstance(value, float):
        return ExprType.NUMBER
    if isinstance(value, str):
        return ExprType.STRING
    if isinstance(value, dt.datetime):
        return ExprType.DATETIME
    if isinstance(value, dt.date):
        return ExprType.DATE
    if isinstance(value, dt.timedelta):
        return ExprType.DURATION
    if isinstance(value, (list, tuple)):
        return ExprType.list_of(unify_all(type_of_value(v) for v in value))
    if isinstance(value, Mapping):
        fields = {str(k): type_of_value(v) for k, v in value.items()}
        return ExprType.record(f"constant '{name}'" if name else "constant", fields)
    return ExprType.ANY
