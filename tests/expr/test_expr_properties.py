"""Property tests: the compiler never crashes, and generated code agrees with Python."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from expr_scopes import CONTEXT, SCOPE, full_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expr import (
    EvaluationError,
    ExpressionError,
    ExprType,
    Scope,
    compile_expression,
)
from engine.expr.checker import Checker
from engine.expr.codegen import build_paths
from engine.expr.parse import parse

T = ExprType
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- (1) any text: ExpressionError or a function that only raises EvaluationError ---------

TOKENS = [
    "score", "tier", "name", "keywords", "lines", "order_date", "now", "params", "region",
    "extra", "x", "l", "user", "'VIP'", "'a'", "1", "0", "2.5", "-", "+", "*", "/", "//", "%",
    "**", "<", ">", "==", "!=", "in", "not", "and", "or", "is", "None", "(", ")", "[", "]", ",",
    ".", ":", "if", "else", "for", "lambda", "len", "sum", "lookup", "metric", "'price_caps'",
    "'seasonal'", "'won_rate'", "max_unit_price", "amount", "date", "days", "hours_since",
    "matches", "'^a'", "count", "min", "coalesce", "round", "=", "__class__", "_x", "True",
    "10**8", "'x'*", "f'", "{", "}", "*keywords", ":=", "\n", "#",
]  # fmt: skip
ANY_VALUE = st.one_of(
    st.none(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=3),
    st.lists(st.integers(0, 3), max_size=2), st.dictionaries(st.text(max_size=2), st.integers()),
)  # fmt: skip
RANDOM_RECORD = st.dictionaries(st.sampled_from(sorted(SCOPE.record)), ANY_VALUE)
SOURCES = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(TOKENS), max_size=16).map(" ".join),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SOURCES, RANDOM_RECORD)
def test_compiler_raises_only_expression_error(source: str, record: dict[str, Any]) -> None:
    try:
        expr = compile_expression(source, SCOPE)
    except ExpressionError as error:
        assert error.issues
        assert all(0 <= issue.offset <= len(source) for issue in error.issues)
        return
    for sample in (record, full_record(), {}):
        try:
            expr(sample, CONTEXT)
        except EvaluationError as error:
            assert error.source == source


# --- (2) arithmetic and comparisons agree with Python's own evaluation -------------------

NUMERIC = Scope(record={"a": T.INTEGER, "b": T.INTEGER, "c": T.NUMBER})
NUMBER_LEAF = st.one_of(
    st.sampled_from(["a", "b", "c"]),
    st.integers(-20, 20).map(str),
    st.integers(-800, 800).map(lambda i: repr(i / 8)),
)
ARITH_OPS = ["+", "-", "*", "/", "//", "%"]
COMPARE_OPS = ["<", "<=", ">", ">=", "==", "!="]


def _binary(inner: st.SearchStrategy[str], ops: list[str]) -> st.SearchStrategy[str]:
    return st.tuples(inner, st.sampled_from(ops), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})")


ARITH = st.recursive(
    NUMBER_LEAF,
    lambda inner: st.one_of(_binary(inner, ARITH_OPS), inner.map(lambda x: f"(-{x})")),
    max_leaves=8,
)
CONDITION = st.recursive(
    st.tuples(ARITH, st.sampled_from(COMPARE_OPS), ARITH).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
    lambda inner: st.one_of(
        _binary(inner, ["and", "or"]),
        inner.map(lambda x: f"(not {x})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    ),
    max_leaves=4,
)
VALUE = st.one_of(
    ARITH,
    CONDITION,
    st.tuples(ARITH, CONDITION, ARITH).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
)
NUMERIC_RECORD = st.fixed_dictionaries(
    {
        "a": st.integers(-1000, 1000),
        "b": st.integers(-1000, 1000),
        "c": st.integers(-8000, 8000).map(lambda i: i / 8),
    }
)


def _same(ours: Any, reference: Any) -> bool:
    if isinstance(ours, float) and isinstance(reference, float):
        return ours == reference or (math.isnan(ours) and math.isnan(reference))
    return bool(ours == reference) and type(ours) is type(reference)


@FAST
@given(VALUE, NUMERIC_RECORD)
def test_generated_function_agrees_with_python(source: str, record: dict[str, Any]) -> None:
    expr = compile_expression(source, NUMERIC)
    try:
        reference = eval(source, {"__builtins__": {}}, dict(record))
    except ZeroDivisionError:
        # Python fails; the missing-value rules make the division None instead.
        expr(record)
        return
    assert _same(expr(record), reference), (source, record)


@FAST
@given(CONDITION, st.fixed_dictionaries({}, optional={k: st.none() | st.integers() for k in "abc"}))
def test_conditions_with_missing_values_give_a_bool(source: str, record: dict[str, Any]) -> None:
    result = compile_expression(source, NUMERIC, expect=T.BOOL)(record)
    assert isinstance(result, bool) or result is None


# --- (3) the fast body and the null-safe body agree when nothing is missing ----------------

TEXTS = Scope(record={"s": T.STRING, "t": T.STRING, "n": T.INTEGER, "kw": T.list_of(T.STRING)})
TEXT_LEAF = st.sampled_from(["s", "t", "'ab'", "''", "kw[0]"])
TEXT = st.recursive(
    TEXT_LEAF,
    lambda inner: st.one_of(
        _binary(inner, ["+"]),
        st.tuples(inner, st.integers(0, 3)).map(lambda t: f"({t[0]} * {t[1]})"),
        st.tuples(st.sampled_from(["lower", "upper", "trim"]), inner).map("{0[0]}({0[1]})".format),
        st.tuples(inner, inner).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
    ),
    max_leaves=5,
)  # fmt: skip
COUNT = st.recursive(
    st.sampled_from(["n", "2", "len(kw)"]),
    lambda inner: _binary(inner, ["+", "-", "*"]),
    max_leaves=3,
)
TEXT_CONDITION = st.one_of(
    _binary(TEXT, ["==", "!=", "<", ">=", "in", "not in"]),
    st.tuples(st.sampled_from(["startswith", "endswith", "contains"]), TEXT, TEXT).map(
        lambda t: f"{t[0]}({t[1]}, {t[2]})"
    ),
    st.tuples(TEXT, st.sampled_from(["<", "=="]), COUNT).map(
        lambda t: f"len({t[0]}) {t[1]} {t[2]}"
    ),
    TEXT.map(lambda x: f"{x} in kw"),
    TEXT.map(lambda x: f"count(k == {x} for k in kw)"),
)
TEXT_RECORD = st.fixed_dictionaries(
    {
        "s": st.text(max_size=4),
        "t": st.text(max_size=4),
        "n": st.integers(-3, 3),
        "kw": st.lists(st.text(max_size=3), min_size=1, max_size=3),
    }
)


def _paths(source: str, scope: Scope) -> tuple[Callable[..., Any], Callable[..., Any]]:
    parsed = parse(source)
    assert parsed.tree is not None and not parsed.issues
    checker = Checker(parsed, scope)
    checker.type = checker.visit(parsed.tree.body)
    assert not checker.issues, checker.issues
    return build_paths(checker)


def _agree(source: str, scope: Scope, record: dict[str, Any]) -> None:
    fast, safe = _paths(source, scope)
    try:
        expected = fast(record, {})
    except ZeroDivisionError:
        return
    assert _same(safe(record, {}), expected), source


@FAST
@given(VALUE, NUMERIC_RECORD)
def test_fast_and_safe_paths_agree_on_numbers(source: str, record: dict[str, Any]) -> None:
    _agree(source, NUMERIC, record)


@FAST
@given(st.one_of(TEXT, TEXT_CONDITION), TEXT_RECORD)
def test_fast_and_safe_paths_agree_on_texts(source: str, record: dict[str, Any]) -> None:
    _agree(source, TEXTS, record)
