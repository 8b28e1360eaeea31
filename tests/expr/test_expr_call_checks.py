"""Compile-time refusals of calls and membership tests, with their exact words and offsets."""

from __future__ import annotations

import pytest
from expr_scopes import SCOPE

from engine.expr import ExpressionError, compile_expression


def issues(source: str) -> list[tuple[str, str, str, int]]:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, SCOPE)
    return [(i.code, i.message, i.hint, i.offset) for i in caught.value.issues]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "round(1, 2, 3)",
            (
                "bad-arguments",
                "round() takes 1 or 2 arguments, got 3",
                "usage: round(x, digits=0)",
                0,
            ),
        ),
        (
            "date(5)",
            (
                "type-mismatch",
                "date() needs string or date or datetime for 'value', not '5' (integer)",
                "usage: date(y, m, d) / date('2026-01-31') / date(datetime)",
                5,
            ),
        ),
        (
            "score in ['a']",
            (
                "type-mismatch",
                "'score' (integer) can never be 'in' \"['a']\" (list of string)",
                "",
                0,
            ),
        ),
    ],
)
def test_a_call_or_membership_that_cannot_work_is_refused(
    source: str, expected: tuple[str, str, str, int]
) -> None:
    assert issues(source) == [expected]
