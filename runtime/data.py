"""An entity's data: normalise, validate against its form (pydantic), compute fields.

Each form becomes a pydantic model once per Bundle; records keep their fields as JSON
(ISO dates) in the store and as typed Python values (dates, numbers) in expressions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
)
from pydantic import create_model as _create_model
from pydantic_core import PydanticCustomError

from engine.bundle import Bundle, CompiledForm
from engine.expr import EvaluationError, MissingRow
from engine.spec import FieldSpec, TableSpec
from engine.spec.form import NormalizerSpec
from runtime.clock import iso, utc
from runtime.errors import Invalid, Problem, missing_row

# Why: a JSON number or string is accepted for a decimal, an integer only as a number,
# text only as text: the form is the contract, and "3" is not a count.
_Number = Annotated[float, Field(allow_inf_nan=False)]
# Every stored value must also be one the databases can compare and index: integers fit
# in 64 bits, decimals are finite, text holds no NUL character (PostgreSQL refuses it).
INT64 = 2**63 - 1
# Safety caps where a form declares no `max_length` (docs/language.md): one request
# cannot hand the server a list of millions of items or a text of megabytes to
# validate, store and index. A declared `max_length` replaces them.
MAX_ITEMS = 1_000  # items of a list or multi_enum
MAX_TEXT = 100_000  # characters of any text value (a list's text items too)
ROW_ID = 2**31 - 1  # the largest id of an alert or token row (INTEGER in PostgreSQL)


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("text may not contain a NUL character (\\u0000)")
    return text


_Text = Annotated[str, AfterValidator(_no_nul)]
# A datetime may come with any offset (`Z`, `+08:00`); it is kept as naive UTC (the
# runtime's convention, runtime/clock.py). A naive one already means UTC.
_DateTime = Annotated[datetime, AfterValidator(utc)]


def _instant(bound: Any) -> datetime | None:
    """Read a datetime field's bound as a UTC instant (a date: its midnight in UTC)."""
    if isinstance(bound, datetime):
        return utc(bound)
    if isinstance(bound, date):
        return datetime(bound.year, bound.month, bound.day)
    return None


def _datetime_bounds(low: Any, high: Any) -> Any:
    """Return a check of a datetime's `min`/`max`, compared in UTC whatever the offsets."""
    lo, hi = _instant(low), _instant(high)

    def check(value: datetime) -> datetime:
        if lo is not None and value < lo:
            raise PydanticCustomError(
                "greater_than_equal",
                "Input should be greater than or equal to {ge}",
                {"ge": iso(lo)},
            )
        if hi is not None and value > hi:
            raise PydanticCustomError(
                "less_than_equal", "Input should be less than or equal to {le}", {"le": iso(hi)}
            )
        return value

    return AfterValidator(check)


def _whole(value: Any) -> Any:
    """Read a JSON number written with a zero fraction (`3.0`) as the integer it is (JSON
    Schema counts it an integer; text such as "3" stays refused)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_Int = Annotated[StrictInt, Field(ge=-INT64, le=INT64), BeforeValidator(_whole)]

_SCALAR: dict[str, Any] = {
    "string": _Text,
    "text": _Text,
    "phone": _Text,
    "address": _Text,
    "email": _Text,
    "ref": _Text,
    "integer": _Int,
    "decimal": _Number,
    "boolean": StrictBool,
    "date": date,
    "datetime": _DateTime,
}
_TEXT_TYPES = frozenset({"string", "text", "phone", "address", "email", "ref"})
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _enum(values: tuple[str, ...]) -> Any:
    return Literal[values] if values else str


def _enum_values(name: str, form: CompiledForm) -> tuple[str, ...]:
    """Return the values an enum or multi_enum field allows (`values` or `values_from`)."""
    found = form.types.get(name)
    if found is not None and found.item is not None:
        found = found.item  # a multi_enum is typed as a list of its enum
    return tuple(found.values or ()) if found is not None else ()


def _python_type(name: str, spec: FieldSpec, form: CompiledForm) -> Any:
    values = _enum_values(name, form)
    if spec.type == "enum":
        return _enum(values)
    if spec.type == "multi_enum":
        return list[_enum(values)]  # type: ignore[misc]
    if spec.type == "evidence":
        return list[str]
    if spec.type == "list":
        item = (
            _enum(tuple(spec.values or ())) if spec.of == "enum" else _SCALAR[spec.of or "string"]
        )
        return list[item]  # type: ignore[valid-type]
    if spec.type == "datetime" and (spec.min is not None or spec.max is not None):
        return Annotated[_DateTime, _datetime_bounds(spec.min, spec.max)]
    if spec.type in _TEXTUAL:
        # Lengths of text count characters (and say so); the constraint sits on the str.
        pattern = spec.pattern or (_EMAIL if spec.type == "email" else None)
        longest = MAX_TEXT if spec.max_length is None else spec.max_length
        limits = StringConstraints(min_length=spec.min_length, max_length=longest, pattern=pattern)
        return Annotated[str, limits, AfterValidator(_no_nul)]
    if spec.type == "decimal" and spec.precision is not None:
        return Annotated[_Number, AfterValidator(_rounder(spec.precision))]
    if spec.type == "integer":
        # The bounds sit with the 64-bit limits: an outer Field(ge=...) on a required
        # field would be overridden by the limits' own (pydantic merges inner last).
        low = -INT64 if spec.min is None else max(-INT64, spec.min)
        high = INT64 if spec.max is None else min(INT64, spec.max)
        return Annotated[StrictInt, Field(ge=low, le=high), BeforeValidator(_whole)]
    return _SCALAR[spec.type]


_TEXTUAL = frozenset({"string", "text", "phone", "address", "email"})


def _rounder(places: int) -> Callable[[float], float]:
    """Return a function keeping `places` decimal places, halves rounded away from zero."""
    step = Decimal(1).scaleb(-places)

    def keep(value: float) -> float:
        return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))

    return keep


def _constraints(spec: FieldSpec) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if spec.type in ("decimal", "date"):  # integers carry theirs in the type
        if spec.min is not None:
            found["ge"] = spec.min
        if spec.max is not None:
            found["le"] = spec.max
    if spec.type not in _TEXTUAL:
        if spec.min_length is not None:
            found["min_length"] = spec.min_length
        if spec.max_length is not None:
            found["max_length"] = spec.max_length
        elif spec.type in ("list", "multi_enum"):
            found["max_length"] = MAX_ITEMS
    return found


class FormModel:
    """One entity's form, ready to check data: a pydantic model plus normalisers."""

    def __init__(self, form: CompiledForm, tables: Mapping[str, TableSpec]) -> None:
        self.form = form
        self.spec = form.spec
        self.tables = tables
        self.computed = set(form.computed)

    @cached_property
    def strict(self) -> type[BaseModel]:
        """The model new data must pass: required fields required, extra keys refused."""
        return self._model(required=True)

    @cached_property
    def lenient(self) -> type[BaseModel]:
        """The model old data is read with: nothing required, unknown keys kept."""
        return self._model(required=False)

    def _model(self, *, required: bool) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for name, spec in self.spec.fields.items():
            kind = _python_type(name, spec, self.form)
            constraints = _constraints(spec)
            if required and spec.required and not spec.computed:
                fields[name] = (kind, Field(..., **constraints))
            else:
                fields[name] = (kind | None, Field(None, **constraints))
        config = ConfigDict(extra="forbid" if required else "allow", str_max_length=MAX_TEXT)
        model: type[BaseModel] = _create_model(
            f"{self.spec.entity}_data", __config__=config, **fields
        )
        return model

    def normalise(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Apply each field's normalisers (P11) to the values given."""
        out = dict(data)
        for name, value in data.items():
            spec = self.spec.fields.get(name)
            if spec is None or not spec.normalize or not isinstance(value, str):
                continue
            out[name] = self._normalise_text(name, spec, value)
        return out

    def _normalise_text(self, name: str, spec: FieldSpec, value: str) -> str:
        for step in spec.normalize:
            if step == "trim":
                value = value.strip()
            elif step == "lower":
                value = value.lower()
            elif step == "upper":
                value = value.upper()
            elif step == "collapse_spaces":
                value = re.sub(r"\s+", " ", value)
            elif step == "digits_only":
                value = re.sub(r"\D", "", value)
            elif isinstance(step, NormalizerSpec) and step.replace:
                for old, new in step.replace.items():
                    value = value.replace(old, new)
            elif isinstance(step, NormalizerSpec) and step.canonical:
                value = self._canonical(name, step, value)
        return value

    def _canonical(self, name: str, step: NormalizerSpec, value: str) -> str:
        canon = step.canonical
        assert canon is not None
        table = self.tables.get(canon.table)
        for row in table.rows if table else ():
            if row.get(canon.match) == value or row.get(canon.to) == value:
                return str(row.get(canon.to))
        if canon.unmatched == "reject":
            raise Invalid(
                f"'{value}' is not a known {name}",
                [Problem("not-canonical", f"'{value}' is not in table '{canon.table}'", name)],
            )
        return value

    def validate(self, data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """Check data against the strict model; return it typed. Raise Invalid listing all."""
        given = {k: v for k, v in data.items() if v is not None or not partial}
        problems = [
            Problem("computed-field", f"'{k}' is computed; it cannot be set", k)
            for k in given
            if k in self.computed
        ]
        if partial:  # the strict model refuses unknown keys itself
            problems += [
                Problem("extra_forbidden", f"{k}: is not a field of this form", k)
                for k in data
                if k not in self.spec.fields
            ]
        if problems:
            raise Invalid(f"invalid {self.spec.entity}", problems)
        model = self.lenient if partial else self.strict
        blank = self._blank(given)
        try:
            typed = model.model_validate(given)
        except ValidationError as exc:
            raise Invalid(f"invalid {self.spec.entity}", _problems(exc) + blank) from None
        if blank:
            raise Invalid(f"invalid {self.spec.entity}", blank)
        return {k: getattr(typed, k) for k in given if k in self.spec.fields}

    def validate_stored(self, data: Mapping[str, Any], version: int) -> dict[str, Any]:
        """Check a record stored under schema `version` before it is saved again.

        A record of the current schema must pass the strict form. An older record (kept
        editable by `legacy.policy: editable`) must pass the form as it stood at its
        version: fields added later (`since` above it) are not required of it.
        """
        values = {
            k: v
            for k, v in data.items()
            if k in self.spec.fields and k not in self.computed and v is not None
        }
        if version >= self.spec.schema_version:
            return self.validate(values)
        typed = self.validate(values, partial=True)
        missing = [
            Problem("missing", f"{name}: Field required", name)
            for name, spec in self.spec.fields.items()
            if spec.required
            and spec.since <= version
            and name not in self.computed
            and values.get(name) in (None, "")
        ]
        if missing:
            raise Invalid(f"invalid {self.spec.entity}", missing)
        return typed

    def _blank(self, given: Mapping[str, Any]) -> list[Problem]:
        """Return a problem for each required text field given as blank (only whitespace)."""
        return [
            Problem("blank", f"{name}: is required and may not be blank", name)
            for name, value in given.items()
            if isinstance(value, str)
            and not value.strip()
            and (spec := self.spec.fields.get(name)) is not None
            and spec.required
            and spec.type in _TEXT_TYPES
        ]

    def read(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Turn stored JSON data into typed values (leniently: old records may not fit)."""
        try:
            typed = self.lenient.model_validate(dict(data))
        except ValidationError:
            return dict(data)
        out = typed.model_dump()
        out.update((k, v) for k, v in (typed.model_extra or {}).items())
        return out

    def problems(self, data: Mapping[str, Any]) -> list[Problem]:
        """Return what keeps stored data from passing today's strict form."""
        # An unset field is left out (not None), so a required one reads "Field required".
        known = {
            k: v
            for k, v in data.items()
            if k in self.spec.fields and k not in self.computed and v is not None
        }
        try:
            self.strict.model_validate(known)
        except ValidationError as exc:
            return _problems(exc)
        return []

    def compute(
        self, values: dict[str, Any], context: Mapping[str, Any]
    ) -> list[tuple[str, EvaluationError]]:
        """Set computed fields in dependency order; a failing one is set empty (None).

        Returns (field, error) of each failing field, for the caller to record
        (runtime/failures.py); a lookup without a row refuses instead.
        """
        failed = []
        for name in self.form.computed_order:
            try:
                values[name] = self.form.computed[name].fn(values, context)
            except MissingRow as exc:  # no row is a refusal, never an empty value
                raise missing_row(exc, name) from exc
            except EvaluationError as exc:
                values[name] = None
                failed.append((name, exc))
        return failed

    def defaults(self) -> dict[str, Any]:
        """Return the declared default of each field that has one."""
        return {n: s.default for n, s in self.spec.fields.items() if s.default is not None}


MAX_PROBLEMS = 100  # problems listed for one validation; a hostile body can have a million


def _problems(exc: ValidationError) -> list[Problem]:
    found = []
    errors = exc.errors(include_url=False)
    for err in errors[:MAX_PROBLEMS]:
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else None
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "is not a field of this form"
        elif err["type"] == "literal_error":
            message = f"must be one of: {err.get('ctx', {}).get('expected', '')}"
        where = ".".join(loc)
        found.append(Problem(err["type"], f"{where}: {message}", name))
    if len(errors) > MAX_PROBLEMS:
        more = len(errors) - MAX_PROBLEMS
        found.append(Problem("more", f"and {more} more problems, not listed"))
    return found


def to_json(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return data as JSON-ready values (dates as ISO text)."""
    return {k: json_value(v) for k, v in values.items()}


# Values JSON takes as they are (their exact types: a subclass takes the checks below).
_AS_IS = frozenset({str, int, float, bool, type(None)})


def json_value(value: Any) -> Any:
    """Return a value as JSON-ready data (dates as ISO text, tuples as lists).

    A datetime is written in UTC with its offset (`2026-01-05T09:00:00+00:00`), so every
    datetime the store keeps and the API answers says which instant it is.
    """
    if value.__class__ in _AS_IS:
        return value
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: json_value(v) for k, v in value.items()}
    return value


_FORMS: dict[tuple[int, str], FormModel] = {}


def form_model(bundle: Bundle, entity: str) -> FormModel:
    """Return the FormModel of an entity in a bundle (built once per bundle)."""
    key = (id(bundle), entity)
    found = _FORMS.get(key)
    if found is None or found.form is not bundle.forms.get(entity):
        if entity not in bundle.forms:
            raise Invalid(f"unknown entity '{entity}'", [Problem("unknown-entity", entity)])
        found = FormModel(bundle.forms[entity], bundle.tables)
        if len(_FORMS) > 256:
            _FORMS.clear()
        _FORMS[key] = found
    return found


def shareable(bundle: Bundle, entity: str, scope: Mapping[str, Any]) -> dict[str, Any]:
    """Return `scope` without the fields only some roles may read (`read:` roles).

    Messages rendered from a record (validation and guard refusals) are shown to whoever
    acts and kept with the record for every reader, so they must not quote a field that
    some reader may not see: such a field renders empty.
    """
    form = bundle.forms.get(entity)
    if form is None:
        return dict(scope)
    restricted = _restricted(form)
    if not restricted and type(scope) is dict:
        return dict(scope)
    return {k: v for k, v in scope.items() if k not in restricted}


# id(form) -> (form, its fields only some roles may read), worked out once per form.
_RESTRICTED: dict[int, tuple[CompiledForm, frozenset[str]]] = {}


def _restricted(form: CompiledForm) -> frozenset[str]:
    found = _RESTRICTED.get(id(form))
    if found is not None and found[0] is form:
        return found[1]
    names = frozenset(name for name, spec in form.spec.fields.items() if spec.read is not None)
    if len(_RESTRICTED) > 256:
        _RESTRICTED.clear()
    _RESTRICTED[id(form)] = (form, names)
    return names
