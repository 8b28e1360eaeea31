"""Run-time helpers that generated expression functions call (operators, functions, lookups)."""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import reduce
from re import Pattern
from types import MappingProxyType
from typing import Any

import simpleeval

from engine.expr.errors import EvaluationError, MissingRow
from engine.expr.limits import (
    MAX_COMPREHENSION_LENGTH,
    MAX_EVALUATION_STEPS,
    MAX_POWER_RESULT_BITS,
    MAX_STRING_LENGTH,
)

EMPTY: Mapping[str, Any] = MappingProxyType({})

# Exceptions the fast path hands over to the null-safe path (missing keys, None operands,
# index out of range, division by zero).
ABSORBED: tuple[type[Exception], ...] = (TypeError, LookupError, AttributeError, ZeroDivisionError)

safe_add: Callable[[Any, Any], Any] = simpleeval.safe_add
safe_mult: Callable[[Any, Any], Any] = simpleeval.safe_mult
LIMIT_ERRORS: tuple[type[Exception], ...] = (simpleeval.InvalidExpression, OverflowError)


class StepsExceeded(Exception):
    """Stop an evaluation that took more than MAX_EVALUATION_STEPS steps."""

    def __init__(self) -> None:
        """Say which limit was reached, in plain words."""
        super().__init__(
            f"the evaluation takes more than {MAX_EVALUATION_STEPS} steps "
            "(items visited by loops and list functions)"
        )


def power(a: Any, b: Any) -> Any:
    """Raise `a` to `b` within the engine's limits (simpleeval's safe_power for integers)."""
    if isinstance(a, int) and isinstance(b, int):
        if b > 0 and abs(a) > 1 and abs(a).bit_length() * b > MAX_POWER_RESULT_BITS:
            raise simpleeval.NumberTooHigh(f"{a} ** {b} is too large")
        return simpleeval.safe_power(a, b)
    result = a**b
    if isinstance(result, complex):
        raise ValueError("a negative number has no fractional power")
    return result


def describe_failure(exc: Exception) -> str:
    """Explain a run-time exception in plain words."""
    if isinstance(exc, simpleeval.IterableTooLong) and str(exc).startswith("a loop over"):
        return f"{exc}; the limit is {MAX_COMPREHENSION_LENGTH}"
    if isinstance(exc, StepsExceeded):
        return str(exc)
    if isinstance(exc, simpleeval.IterableTooLong):
        return f"the result would be longer than {MAX_STRING_LENGTH} characters or items"
    if isinstance(exc, (simpleeval.NumberTooHigh, OverflowError)):
        return "the result would be a number that is too large"
    if isinstance(exc, TypeError):
        return f"a value has the wrong type ({exc})"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, (ValueError, RuntimeError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def failure(source: str) -> Callable[[Exception], EvaluationError]:
    """Return a converter from any exception to an EvaluationError about `source`."""

    def convert(exc: Exception) -> EvaluationError:
        if isinstance(exc, MissingRow) and not exc.source:
            return exc.located(source)
        if isinstance(exc, EvaluationError):
            return exc
        return EvaluationError(source, describe_failure(exc))

    return convert


def none_unless_missing_row(exc: Exception, convert: Callable[[Exception], Exception]) -> None:
    """Give None for a failing expression of a group; a lookup without a row still refuses."""
    if isinstance(exc, MissingRow):
        raise convert(exc) from exc


# --- null-safe operators (the safe path) ------------------------------------------------


def n_get(value: Any, key: Any) -> Any:
    """Read a field or item; None when the value is missing or has no such key or index."""
    if value is None:
        return None
    try:
        return value[key]
    except LookupError:
        return None


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        return False if a is None or b is None else op(a, b)

    return compare


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        try:
            return op(a, b)
        except ZeroDivisionError:
            return None

    return apply


n_lt, n_le = _ordering(operator.lt), _ordering(operator.le)
n_gt, n_ge = _ordering(operator.gt), _ordering(operator.ge)
n_add, n_sub, n_mul = _arith(safe_add), _arith(operator.sub), _arith(safe_mult)
n_div, n_floordiv = _arith(operator.truediv), _arith(operator.floordiv)
n_pow = _arith(power)


def mod_checked(a: Any, b: Any) -> Any:
    """Apply '%' to numbers only: on a text it would be printf-style formatting."""
    if isinstance(a, (str, bytes)):
        raise TypeError("'%' needs numbers, not text")
    return a % b


n_mod = _arith(mod_checked)


def n_neg(a: Any) -> Any:
    """Negate; None stays None."""
    return None if a is None else -a


def n_pos(a: Any) -> Any:
    """Apply unary plus; None stays None."""
    return None if a is None else +a


def n_in(item: Any, container: Any) -> bool:
    """Test membership; nothing is in a missing container."""
    return False if container is None else item in container


def bounded(items: Any, budget: list[int]) -> Any:
    """Return a comprehension's input after checking its length and the step budget.

    `budget` is the evaluation's remaining steps (one list per evaluation, made by the
    generated function); the loop spends its whole length when it starts.
    """
    size = len(items)
    if size > MAX_COMPREHENSION_LENGTH:
        raise simpleeval.IterableTooLong(f"a loop over {size} items")
    budget[0] -= size
    if budget[0] < 0:
        raise StepsExceeded
    return items


def n_iter(items: Any, budget: list[int]) -> Any:
    """Iterate a list; a missing list iterates as empty."""
    return () if items is None else bounded(items, budget)


def charge(items: Any, budget: list[int]) -> Any:
    """Spend one step per item a list function reads inside a loop; return `items`."""
    if isinstance(items, (list, tuple, str)):
        budget[0] -= len(items)
        if budget[0] < 0:
            raise StepsExceeded
    return items


# --- functions ------------------------------------------------------------------------


def f_len(value: Any) -> int:
    """Length of a list or text; 0 when missing."""
    return 0 if value is None else len(value)


def f_round(x: Any, digits: Any = None) -> Any:
    """Round half away from zero; an integer when `digits` is omitted."""
    if x is None:
        return None
    places = 0 if digits is None else digits
    try:
        exact = Decimal(repr(x)) if isinstance(x, float) else Decimal(x)
        rounded = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # infinities, or more digits than the float holds
        return x
    return int(rounded) if digits is None else float(rounded)


def _present(items: Any) -> list[Any]:
    return [] if items is None else [v for v in items if v is not None]


def f_min(items: Any) -> Any:
    """Smallest set item; None when there is none."""
    values = _present(items)
    return min(values) if values else None


def f_max(items: Any) -> Any:
    """Largest set item; None when there is none."""
    values = _present(items)
    return max(values) if values else None


def f_sum(items: Any) -> Any:
    """Sum of the set items (numbers or durations); 0 when there is none."""
    values = _present(items)
    return reduce(operator.add, values) if values else 0


def n_any(items: Any) -> bool:
    """Like any(); False for a missing list."""
    return False if items is None else any(items)


def n_all(items: Any) -> bool:
    """Like all(); True for a missing list, as for an empty one."""
    return True if items is None else all(items)


_NOTHING = object()


def f_count(items: Any, value: Any = _NOTHING) -> int:
    """Count items equal to `value`, or items that are neither missing nor false."""
    if items is None:
        return 0
    if value is _NOTHING:
        return sum(1 for v in items if v is not None and v is not False)
    return sum(1 for v in items if v == value)


def _text(method: Callable[[str], str]) -> Callable[[Any], Any]:
    def apply(text: Any) -> Any:
        return None if text is None else method(text)

    return apply


n_lower, n_upper, n_trim = _text(str.lower), _text(str.upper), _text(str.strip)


def f_contains(text: Any, part: Any) -> bool:
    """Tell whether `part` occurs in `text` (or is an item of a list)."""
    return False if text is None or part is None else part in text


def n_startswith(text: Any, prefix: Any) -> bool:
    """Like str.startswith; False when missing."""
    return False if text is None or prefix is None else bool(str.startswith(text, prefix))


def n_endswith(text: Any, suffix: Any) -> bool:
    """Like str.endswith; False when missing."""
    return False if text is None or suffix is None else bool(str.endswith(text, suffix))


def f_matches(pattern: Pattern[str], text: Any) -> bool:
    """Tell whether the compiled pattern matches somewhere in `text`."""
    return False if text is None else pattern.search(text) is not None


def f_coalesce(*values: Any) -> Any:
    """Return the first value that is not missing."""
    for value in values:
        if value is not None:
            return value
    return None


def f_is_set(value: Any) -> bool:
    """Tell whether a value is present and not an empty text or list."""
    if value is None:
        return False
    return not (isinstance(value, (str, list, tuple)) and len(value) == 0)


def f_is_missing(value: Any) -> bool:
    """Negate is_set() (written out: one call where a check runs it)."""
    if value is None:
        return True
    return isinstance(value, (str, list, tuple)) and len(value) == 0


def f_clamp(x: Any, lo: Any, hi: Any) -> Any:
    """Bound `x` to [lo, hi]; a missing bound is not applied."""
    if x is None:
        return None
    if lo is not None and x < lo:
        x = lo
    if hi is not None and x > hi:
        x = hi
    return x


def _unary(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(x: Any) -> Any:
        return None if x is None else fn(x)

    return apply


n_floor, n_ceil, n_abs = _unary(math.floor), _unary(math.ceil), _unary(abs)
f_days = _unary(lambda n: dt.timedelta(days=n))
f_hours = _unary(lambda n: dt.timedelta(hours=n))
f_minutes = _unary(lambda n: dt.timedelta(minutes=n))
f_weeks = _unary(lambda n: dt.timedelta(weeks=n))
f_in_hours = _unary(lambda d: d.total_seconds() / 3600)
f_in_days = _unary(lambda d: d.total_seconds() / 86400)
f_month = _unary(lambda d: _utc(d).month)
f_year = _unary(lambda d: _utc(d).year)
f_weekday = _unary(lambda d: _utc(d).isoweekday())


def f_date(*args: Any) -> dt.date | None:
    """Build a date from (year, month, day), an ISO text, or a date/datetime."""
    if any(arg is None for arg in args):
        return None
    if len(args) == 3:
        return dt.date(*args)
    (value,) = args
    if isinstance(value, dt.datetime):
        moment: dt.datetime = _utc(value)
        return moment.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a date like 2026-01-31") from None


def _utc(value: Any) -> Any:
    """Return an aware datetime as naive UTC (the runtime's convention); others as given."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _align(a: Any, b: Any) -> tuple[Any, Any]:
    """Make two moments comparable: datetimes in naive UTC, a date as its midnight (UTC)
    when the other is a datetime."""
    a, b = _utc(a), _utc(b)
    if isinstance(a, dt.datetime) and not isinstance(b, dt.datetime):
        b = dt.datetime.combine(b, dt.time())
    elif isinstance(b, dt.datetime) and not isinstance(a, dt.datetime):
        a = dt.datetime.combine(a, dt.time())
    return a, b


def f_hours_between(a: Any, b: Any) -> float | None:
    """Hours from `a` to `b` (negative when b is earlier)."""
    if a is None or b is None:
        return None
    a, b = _align(a, b)
    return float((b - a).total_seconds() / 3600)


def f_days_between(a: Any, b: Any) -> float | None:
    """Days from `a` to `b` (fractional for datetimes)."""
    if a is None or b is None:
        return None
    a, b = _align(a, b)
    return float((b - a).total_seconds() / 86400)


def n_metric(c: Mapping[str, Any], name: str, group: tuple[Any, ...]) -> Any:
    """Ask the run-time metric provider c['metric'] for a value."""
    provider = c.get("metric")
    if provider is None:
        raise RuntimeError(f"metric '{name}' needs a metric provider in the context")
    return provider(name, group)


def n_evidence_count(c: Mapping[str, Any], kind: str, stays: str) -> Any:
    """Ask the run-time evidence counter c['evidence_count'] how many files of a kind."""
    provider = c.get("evidence_count")
    if provider is None:
        raise RuntimeError(f"evidence_count('{kind}') needs a record's files in the context")
    return provider(kind, stays)


def n_assignee(c: Mapping[str, Any], name: str) -> Any:
    """Ask the run-time c['assignee'] who holds a named assignment (None: no record here)."""
    provider = c.get("assignee")
    return provider(name) if provider is not None else None


# --- lookups (the fast path indexes directly; a KeyError sends it here) ---------------


def n_lookup(index: Mapping[Any, Any], key: tuple[Any, ...], table: Any) -> Any:
    """Return the row of a keyed table, its default row, or refuse with MissingRow.

    A missing key value gives a missing row, as a missing operand does elsewhere.
    """
    if any(value is None for value in key):
        return None
    try:
        row = index.get(key[0] if len(key) == 1 else key)
    except TypeError:  # an unhashable key value (a list) is in no table
        row = None
    if row is not None:
        return row
    if table.default is not None:
        return table.default
    raise MissingRow(table.name, key)


def n_lookup_range(index: Any, group: tuple[Any, ...], when: Any, table: Any) -> Any:
    """Return the row of a range table whose dates contain `when` (or its default row)."""
    if when is None or any(value is None for value in group):
        return None
    try:
        row = index.find(group, when)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{when!r} is not a date") from exc
    if row is not None:
        return row
    if table.default is not None:
        return table.default
    raise MissingRow(table.name, group, when)
