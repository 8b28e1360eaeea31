"""The run-time helpers of generated code, called directly at the edges expressions rarely hit."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from engine.expr import EvaluationError, ExprType
from engine.expr import runtime as rt
from engine.expr.tables import RangeIndex
from engine.expr.types import type_of_value

T = ExprType


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (ZeroDivisionError("float division by zero"), "division by zero"),
        (ValueError("'x' is not a date like 2026-01-31"), "'x' is not a date like 2026-01-31"),
        (RuntimeError("metric 'm' needs a metric provider"), "metric 'm' needs a metric provider"),
        (TypeError("unsupported operand"), "a value has the wrong type (unsupported operand)"),
        (OverflowError("big"), "the result would be a number that is too large"),
        (KeyError("k"), "KeyError: 'k'"),
    ],
)
def test_a_run_time_failure_is_said_in_plain_words(exc: Exception, said: str) -> None:
    assert rt.describe_failure(exc) == said


def test_an_evaluation_error_passes_through_the_converter_unchanged() -> None:
    convert = rt.failure("a / b")
    error = EvaluationError("x + 1", "division by zero")
    assert convert(error) is error
    other = convert(ZeroDivisionError())
    assert (other.source, other.message) == ("a / b", "division by zero")


def test_coalesce_gives_the_first_present_value_or_none() -> None:
    assert rt.f_coalesce(None, 0, 5) == 0
    assert rt.f_coalesce(None, None) is None
    assert rt.f_coalesce() is None


def test_round_leaves_an_infinity_as_it_is() -> None:
    assert rt.f_round(math.inf) == math.inf
    assert rt.f_round(2.5) == 3 and rt.f_round(-2.675, 2) == -2.68


def test_date_of_a_date_a_datetime_and_a_text() -> None:
    day = dt.date(2026, 1, 31)
    assert rt.f_date(day) is day
    late = dt.datetime(2026, 1, 31, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-2)))
    assert rt.f_date(late) == dt.date(2026, 2, 1)  # the day in UTC
    assert rt.f_date("2026-01-31") == day
    assert rt.f_date(2026, 1, 31) == day
    assert rt.f_date(None) is None


def test_a_date_against_a_datetime_counts_from_its_midnight_either_way() -> None:
    day, noon = dt.date(2026, 1, 1), dt.datetime(2026, 1, 1, 12)
    assert rt.f_hours_between(noon, day) == -12.0
    assert rt.f_hours_between(day, noon) == 12.0
    assert rt.f_days_between(day, dt.date(2026, 1, 3)) == 2.0


class _Table:
    name = "rates"
    default: dict[str, object] | None = None


def test_a_range_lookup_finds_the_row_then_the_default_then_refuses() -> None:
    rows = [{"region": "east", "from": "2026-01-01", "to": "2026-06-30", "rate": 2}]
    index = RangeIndex(rows, ["region"], ("from", "to"))
    table = _Table()
    assert rt.n_lookup_range(index, ("east",), dt.date(2026, 3, 1), table) == rows[0]
    with pytest.raises(rt.MissingRow):
        rt.n_lookup_range(index, ("east",), dt.date(2026, 7, 1), table)
    table.default = {"rate": 1}
    assert rt.n_lookup_range(index, ("west",), dt.date(2026, 3, 1), table) == {"rate": 1}
    assert rt.n_lookup_range(index, (None,), dt.date(2026, 3, 1), table) is None
    with pytest.raises(TypeError) as caught:
        rt.n_lookup_range(index, ("east",), 3.5, table)
    assert str(caught.value) == "3.5 is not a date"


@pytest.mark.parametrize(
    ("value", "typ"),
    [
        (dt.datetime(2026, 1, 1, 9), T.DATETIME),
        (dt.date(2026, 1, 1), T.DATE),
        (dt.timedelta(hours=1), T.DURATION),
        ({1, 2}, T.ANY),
        ([1, 2.5], T.list_of(T.NUMBER)),
    ],
)
def test_the_type_of_a_constant(value: object, typ: ExprType) -> None:
    assert type_of_value(value) == typ


def test_an_unknown_type_kind_is_refused_where_it_is_built() -> None:
    with pytest.raises(ValueError) as caught:
        ExprType("money")
    assert str(caught.value) == "unknown expression type kind 'money'"


# is_set / is_missing: unset is None, an empty text, list or tuple; anything else is set,
# falsy or not (0, False, 0.0, a blank but not empty text, an empty mapping).
@pytest.mark.parametrize(
    ("value", "missing"),
    [
        (None, True),
        ("", True),
        ([], True),
        ((), True),
        (" ", False),
        ("a", False),
        ([None], False),
        ((0,), False),
        (0, False),
        (0.0, False),
        (False, False),
        ({}, False),
        (dt.date(2026, 1, 1), False),
    ],
)
def test_is_missing_is_the_opposite_of_is_set(value: object, missing: bool) -> None:
    assert rt.f_is_missing(value) is missing
    assert rt.f_is_set(value) is (not missing)
