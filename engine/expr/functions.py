"""The whitelist of functions an expression may call, with signatures and implementations."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from engine.expr import runtime as rt
from engine.expr.types import NUMERIC, ExprType, unify_all

T = ExprType
Infer = Callable[[Sequence[ExprType]], ExprType]


@dataclass(frozen=True)
class Param:
    """Describe one parameter: the kinds it accepts ('number' also takes integers)."""

    name: str
    kinds: tuple[str, ...] = ("any",)
    optional: bool = False
    variadic: bool = False
    item_kinds: tuple[str, ...] = ()

    def describe(self) -> str:
        """Describe the accepted kinds in words: 'number or duration', 'list of number'."""
        words = [
            f"list of {' or '.join(self.item_kinds)}" if k == "list" and self.item_kinds else k
            for k in self.kinds
        ]
        return " or ".join(words)


@dataclass(frozen=True)
class FunctionSig:
    """Describe a whitelisted function: usage, parameters, result, doc and missing-value rule."""

    name: str
    usage: str
    params: tuple[Param, ...]
    returns: ExprType
    doc: str
    missing: str
    fast: Callable[..., Any] | None = None
    safe: Callable[..., Any] | None = None
    infer: Infer | None = None
    special: bool = False
    result_doc: str = ""

    @property
    def safe_impl(self) -> Callable[..., Any] | None:
        """Return the null-tolerant implementation used by the safe path."""
        return self.safe or self.fast

    def result(self, args: Sequence[ExprType]) -> ExprType:
        """Return the result type for arguments of the given types."""
        return self.infer(args) if self.infer else self.returns


def _first(args: Sequence[ExprType]) -> ExprType:
    return args[0] if args else T.ANY


def _items(args: Sequence[ExprType]) -> ExprType:
    """Type of the values an aggregate sees: list items for one list, else the arguments."""
    if len(args) == 1 and args[0].kind == "list":
        return args[0].item or T.ANY
    if len(args) == 1 and args[0].kind == "any":
        return T.ANY
    return unify_all(args)


def _sum(args: Sequence[ExprType]) -> ExprType:
    item = _items(args)
    return item if item.kind in ("integer", "duration", "any") else T.NUMBER


def _round(args: Sequence[ExprType]) -> ExprType:
    return T.INTEGER if len(args) == 1 else T.NUMBER


def _clamp(args: Sequence[ExprType]) -> ExprType:
    kinds = {a.kind for a in args} - {"null"}
    return T.INTEGER if kinds == {"integer"} else unify_all(args)


def _coalesce(args: Sequence[ExprType]) -> ExprType:
    return unify_all(args)


def _abs(args: Sequence[ExprType]) -> ExprType:
    first = _first(args)
    return first if first.kind in NUMERIC or first.kind == "duration" else T.ANY


NUM = ("number",)
TEXT = ("string",)
MOMENT = ("date", "datetime")
_ANY_VALUES = Param("values", variadic=True)
_LIST = Param("values", ("list",))
# fmt: off
F = FunctionSig
_VALUES = Param("values", variadic=True)
_LIST = Param("values", ("list",))
_TEXT = Param("text", TEXT)
_X = Param("x", NUM)
_N = Param("n", NUM)
_D = Param("d", MOMENT)
_SIGS = [
    F("len", "len(value)", (Param("value", ("list", "string")),), T.INTEGER,
      "Number of items of a list or characters of a text.", "0", len, rt.f_len),
    F("round", "round(x, digits=0)", (_X, Param("digits", ("integer",), optional=True)),
      T.NUMBER, "Round half away from zero (2.5 -> 3); an integer when digits is omitted.",
      "missing", rt.f_round, infer=_round, result_doc="integer; number with digits"),
    F("abs", "abs(x)", (Param("x", ("number", "duration")),), T.NUMBER,
      "Absolute value of a number or duration.", "missing", abs, rt.n_abs, _abs,
      result_doc="same as x"),
    F("min", "min(a, b, ...) / min(list)", (_VALUES,), T.ANY,
      "Smallest of the arguments or of the items of one list; missing values are skipped.",
      "missing if nothing is set", rt.f_min, infer=_items, result_doc="type of the values"),
    F("max", "max(a, b, ...) / max(list)", (_VALUES,), T.ANY,
      "Largest of the arguments or of the items of one list; missing values are skipped.",
      "missing if nothing is set", rt.f_max, infer=_items, result_doc="type of the values"),
    F("sum", "sum(list)", (Param("values", ("list",), item_kinds=("number", "duration")),),
      T.NUMBER, "Total of the items of a list; missing items are skipped.", "0",
      sum, rt.f_sum, _sum, result_doc="number or duration"),
    F("any", "any(list)", (_LIST,), T.BOOL, "True if at least one item is true.", "false",
      any, rt.n_any),
    F("all", "all(list)", (_LIST,), T.BOOL, "True if every item is true (also when empty).",
      "true", all, rt.n_all),
    F("count", "count(list, value?)", (_LIST, Param("value", optional=True)), T.INTEGER,
      "Items equal to value; without value, items that are set and not false.", "0",
      rt.f_count),
    F("lower", "lower(text)", (_TEXT,), T.STRING, "Text in lower case.", "missing",
      str.lower, rt.n_lower),
    F("upper", "upper(text)", (_TEXT,), T.STRING, "Text in upper case.", "missing",
      str.upper, rt.n_upper),
    F("trim", "trim(text)", (_TEXT,), T.STRING, "Text without leading and trailing spaces.",
      "missing", str.strip, rt.n_trim),
    F("contains", "contains(text, part)", (Param("text", ("string", "list")), Param("part")),
      T.BOOL, "True if part occurs in text (case-sensitive), or is an item of a list.",
      "false", rt.f_contains),
    F("startswith", "startswith(text, prefix)", (_TEXT, Param("prefix", TEXT)), T.BOOL,
      "True if text starts with prefix.", "false", str.startswith, rt.n_startswith),
    F("endswith", "endswith(text, suffix)", (_TEXT, Param("suffix", TEXT)), T.BOOL,
      "True if text ends with suffix.", "false", str.endswith, rt.n_endswith),
    F("matches", "matches(text, 'regex')", (_TEXT, Param("pattern", TEXT)), T.BOOL,
      "True if the regular expression (a fixed text) matches somewhere in text.", "false",
      rt.f_matches, special=True),
    F("coalesce", "coalesce(a, b, ...)", (_VALUES,), T.ANY, "First argument that is set.",
      "missing if none is set", rt.f_coalesce, infer=_coalesce,
      result_doc="type of the arguments"),
    F("is_set", "is_set(value)", (Param("value"),), T.BOOL,
      "True if value is present and not an empty text or list.", "false", rt.f_is_set),
    F("is_missing", "is_missing(value)", (Param("value"),), T.BOOL,
      "Opposite of is_set(value).", "true", rt.f_is_missing),
    F("clamp", "clamp(x, lo, hi)", (_X, Param("lo", NUM), Param("hi", NUM)), T.NUMBER,
      "x limited to the range lo..hi.", "missing; a missing bound is not applied",
      rt.f_clamp, infer=_clamp, result_doc="number"),
    F("floor", "floor(x)", (_X,), T.INTEGER, "Largest integer not above x.", "missing",
      math.floor, rt.n_floor),
    F("ceil", "ceil(x)", (_X,), T.INTEGER, "Smallest integer not below x.", "missing",
      math.ceil, rt.n_ceil),
    F("date", "date(y, m, d) / date('2026-01-31') / date(datetime)",
      (Param("value", ("integer", "string", "date", "datetime")),
       Param("month", ("integer",), optional=True), Param("day", ("integer",), optional=True)),
      T.DATE, "A date from its parts, an ISO text, or the day of a datetime.", "missing",
      rt.f_date, special=True),
    F("days", "days(n)", (_N,), T.DURATION, "Duration of n days.", "missing", rt.f_days),
    F("hours", "hours(n)", (_N,), T.DURATION, "Duration of n hours.", "missing", rt.f_hours),
    F("minutes", "minutes(n)", (_N,), T.DURATION, "Duration of n minutes.", "missing",
      rt.f_minutes),
    F("weeks", "weeks(n)", (_N,), T.DURATION, "Duration of n weeks.", "missing", rt.f_weeks),
    F("hours_between", "hours_between(a, b)", (Param("a", MOMENT), Param("b", MOMENT)),
      T.NUMBER, "Hours from a to b (negative if b is earlier).", "missing",
      rt.f_hours_between),
    F("days_between", "days_between(a, b)", (Param("a", MOMENT), Param("b", MOMENT)),
      T.NUMBER, "Days from a to b, fractional for datetimes.", "missing", rt.f_days_between),
    F("hours_since", "hours_since(t)", (Param("t", MOMENT),), T.NUMBER,
      "Hours from t until now (needs 'now' in the context).", "missing",
      rt.f_hours_between, special=True),
    F("days_since", "days_since(t)", (Param("t", MOMENT),), T.NUMBER,
      "Days from t until now (needs 'now' in the context).", "missing",
      rt.f_days_between, special=True),
    F("hours_in_stage", "hours_in_stage()", (), T.NUMBER,
      "Hours the record has been in its current stage: from `stage_entered_at` until now.",
      "missing (no stage entry time)", rt.f_hours_between, special=True),
    F("in_hours", "in_hours(d)", (Param("d", ("duration",)),), T.NUMBER,
      "A duration in hours.", "missing", rt.f_in_hours),
    F("in_days", "in_days(d)", (Param("d", ("duration",)),), T.NUMBER,
      "A duration in days.", "missing", rt.f_in_days),
    F("month", "month(d)", (_D,), T.INTEGER, "Month of a date, 1-12.", "missing", rt.f_month),
    F("year", "year(d)", (_D,), T.INTEGER, "Year of a date.", "missing", rt.f_year),
    F("weekday", "weekday(d)", (_D,), T.INTEGER, "ISO weekday: Monday 1 ... Sunday 7.",
      "missing", rt.f_weekday),
    F("lookup", "lookup('table', key, ..., [date])", (Param("table", TEXT), _VALUES), T.ANY,
      "Row of a reference table by its key (and a date for range tables).",
      "refused if no row fits, unless the table has a default row",
      special=True, result_doc="table row"),
    F("metric", "metric('name', group, ...)", (Param("name", TEXT), _VALUES), T.NUMBER,
      "Value of a runtime aggregate for the given group values.", "as the runtime says",
      special=True),
    F("evidence_count", "evidence_count('kind', 'current_stay')",
      (Param("kind", TEXT), Param("stays", TEXT, optional=True)), T.INTEGER,
      "Distinct files (by content) of an evidence kind attached to the record: during its "
      "current stay in its stage (`'current_stay'`, the default) or ever (`'any_stay'`).",
      "0 (no files)", special=True),
    F("assignee", "assignee('name')", (Param("name", TEXT),), T.STRING,
      "The user id holding a named assignment of the record (the form's `assignments`).",
      "missing (nobody holds it)", special=True),
]
# fmt: on

FUNCTIONS: Mapping[str, FunctionSig] = MappingProxyType({sig.name: sig for sig in _SIGS})
AGGREGATES = frozenset({"min", "max", "sum", "any", "all", "count"})
