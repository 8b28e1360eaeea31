"""Edges the mutation run of engine/expr/ found unpinned (docs/testing.md, issue 15).

Powers with non-integer exponents and at the size limit, chained comparisons checked link
by link, comprehensions with two 'if's, tuple displays, the inferred result types of
round/sum/abs/min/max, of arithmetic and of 'or', and the checker's messages at these edges
(generated code: test_expr_codegen_edges.py).
"""

from __future__ import annotations

import datetime as dt
import operator
from typing import Any

import pytest
from expr_scopes import CONTEXT, SCOPE, full_record

from engine.expr import (
    EvaluationError,
    ExpressionError,
    ExprType,
    MetricSig,
    Scope,
    compile_expression,
)
from engine.expr import runtime as rt
from engine.expr.checker import Checker
from engine.expr.codegen import generated_source
from engine.expr.parse import parse

T = ExprType


def checked(source: str, scope: Scope = SCOPE) -> Checker:
    parsed = parse(source)
    assert parsed.tree is not None
    checker = Checker(parsed, scope)
    checker.visit(parsed.tree.body)
    return checker


def issues(source: str, scope: Scope = SCOPE) -> list[tuple[str, str, str, int]]:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, scope)
    return [(i.code, i.message, i.hint, i.offset) for i in caught.value.issues]


# --- powers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "record", "typ", "value"),
    [
        ("quote_price ** 0.5", {"quote_price": 6.25}, T.NUMBER, 2.5),
        ("score ** 0.5", {"score": 81}, T.NUMBER, 9.0),
        ("score ** -1", {"score": 4}, T.NUMBER, 0.25),
        ("score ** 2", {"score": 9}, T.INTEGER, 81),
        ("score ** 0", {"score": 9}, T.INTEGER, 1),
        ("score ** stock_days", {"score": 2, "stock_days": 3}, T.NUMBER, 8),
        ("quote_price ** 2", {"quote_price": 1.5}, T.NUMBER, 2.25),
        ("stock_days ** score", {"stock_days": 2, "score": 512}, T.NUMBER, 2**512),
        ("stock_days ** score", {"stock_days": 1, "score": 100_000}, T.NUMBER, 1),
        ("stock_days ** score", {"stock_days": -1, "score": 100_001}, T.NUMBER, -1),
        ("score ** 0.5", {"score": None}, T.NUMBER, None),
    ],
)
def test_powers_and_their_types(
    source: str, record: dict[str, Any], typ: ExprType, value: Any
) -> None:
    expr = compile_expression(source, SCOPE)
    assert expr.type == typ
    result = expr(record)
    assert result == value
    assert type(result) is type(value)


def test_a_constant_fractional_power_is_folded() -> None:
    checker = checked("2 ** 0.5")
    assert checker.const(checker.parsed.tree.body) == (True, 2**0.5)  # type: ignore[union-attr]
    assert generated_source(checker) == {"fast": "1.4142135623730951", "safe": "1.4142135623730951"}


def test_a_negative_number_has_no_fractional_power() -> None:
    expr = compile_expression("(0 - score) ** 0.5", SCOPE)
    with pytest.raises(EvaluationError) as caught:
        expr({"score": 4})
    assert caught.value.message == "a negative number has no fractional power"


@pytest.mark.parametrize(
    ("base", "exponent"),
    [(2, 513), (2**2000, 1), (-3, 1000)],
)
def test_an_integer_power_beyond_1024_bits_is_refused(base: int, exponent: int) -> None:
    expr = compile_expression("extra ** stock_days", SCOPE)
    with pytest.raises(EvaluationError) as caught:
        expr({"extra": base, "stock_days": exponent})
    assert caught.value.message == "the result would be a number that is too large"


# --- comparisons --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "0 < score < name",
            [("type-mismatch", "cannot compare 'score' (integer) with 'name' (string) using '<'",
              "text and numbers cannot be mixed", 4)],
        ),
        (
            "'a' < score < 5",
            [("type-mismatch", "cannot compare \"'a'\" (string) with 'score' (integer) using '<'",
              "text and numbers cannot be mixed", 0)],
        ),
        (
            "score < 5 <= name < 'z'",
            [("type-mismatch", "cannot compare '5' (integer) with 'name' (string) using '<='",
              "text and numbers cannot be mixed", 8)],
        ),
        (
            "name == True",
            [("type-mismatch", "comparing 'name' (string) with 'True' (bool) is always false",
              "", 0)],
        ),
    ],
)  # fmt: skip
def test_chained_comparisons_check_each_neighbouring_pair(
    source: str, expected: list[tuple[str, str, str, int]]
) -> None:
    assert issues(source) == expected


@pytest.mark.parametrize(
    ("score", "expected"), [(0, False), (1, True), (89, True), (90, False), (None, False)]
)
def test_a_mixed_chain_evaluates_every_link(score: int | None, expected: bool) -> None:
    expr = compile_expression("1 <= score < 90 != stock_days", SCOPE)
    assert expr({"score": score, "stock_days": 3}) is expected
    assert expr.type == T.BOOL


def test_ordering_helpers_are_false_with_a_missing_operand() -> None:
    less = rt._ordering(operator.lt)
    assert [less(1, 2), less(2, 1), less(None, 1), less(1, None)] == [True, False, False, False]


def test_arithmetic_helpers_give_none_for_a_missing_operand() -> None:
    minus, div = rt._arith(operator.sub), rt._arith(operator.truediv)
    assert [minus(5, 3), minus(None, 3), minus(5, None), div(1, 0)] == [2, None, None, None]
    upper = rt._text(str.upper)
    assert [upper("ab"), upper(None)] == ["AB", None]


# --- comprehensions and tuples ------------------------------------------------------------


def test_a_comprehension_with_two_ifs_applies_both() -> None:
    source = "[k for k in keywords if k != 'late' if len(k) > 3]"
    expr = compile_expression(source, SCOPE)
    assert expr.type == T.list_of(T.STRING)
    assert expr({"keywords": ["late", "vip", "invoice", "urgent"]}) == ["invoice", "urgent"]
    assert expr({}) == []
    assert generated_source(checked(source)) == {
        "fast": "[_v0 for _v0 in _bounded(r['keywords'], _b) if (_v0 != 'late') "
        "if (_fn_len(_v0) > 3)]",
        "safe": "[_v0 for _v0 in _n_iter(r.get('keywords'), _b) if ((_v0 != 'late')) "
        "if (_n_gt(_fs_len(_v0), 3))]",
    }


def test_the_second_if_of_a_comprehension_is_checked() -> None:
    assert issues("[k for k in keywords if k != 'late' if scroe > 3]") == [
        ("unknown-name", "name 'scroe' is not a field of entity 'lead'", "did you mean 'score'?",
         39)
    ]  # fmt: skip


def test_an_aggregate_gets_a_lazy_generator() -> None:
    assert generated_source(checked("sum(l.amount for l in lines)")) == {
        "fast": "_fn_sum((_v0['amount'] for _v0 in _bounded(r['lines'], _b)))",
        "safe": "_fs_sum((_n_get(_v0, 'amount') for _v0 in _n_iter(r.get('lines'), _b)))",
    }


@pytest.mark.parametrize(
    ("source", "record", "value"),
    [
        ("(score, stock_days)", {"score": 1, "stock_days": 2}, (1, 2)),
        ("(score,)", {"score": 1}, (1,)),
        ("score in (1, 2, stock_days)", {"score": 7, "stock_days": 7}, True),
        ("score in (1, 2, stock_days)", {"score": 3, "stock_days": 7}, False),
        ("score not in (1, stock_days)", {"score": 5, "stock_days": 6}, True),
        ("score not in (1, stock_days)", {}, False),  # a missing score is the missing item
    ],
)
def test_tuple_displays_compile_and_evaluate(
    source: str, record: dict[str, Any], value: Any
) -> None:
    assert compile_expression(source, SCOPE)(record) == value


def test_a_tuple_display_is_a_tuple_in_both_bodies() -> None:
    checker = checked("(score, stock_days)")
    assert checker.types[id(checker.parsed.tree.body)] == T.list_of(T.INTEGER)  # type: ignore[union-attr]
    assert generated_source(checker) == {
        "fast": "(r['score'], r['stock_days'], )",
        "safe": "(r.get('score'), r.get('stock_days'), )",
    }


# --- inferred result types ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "typ", "value"),
    [
        ("round(quote_price)", T.INTEGER, 12),
        ("round(score)", T.INTEGER, 90),
        ("round(score, 1)", T.NUMBER, 90.0),
        ("round(quote_price, 1)", T.NUMBER, 12.0),
        ("sum([1, 2])", T.INTEGER, 3),
        ("sum([1, 2.5])", T.NUMBER, 3.5),
        ("sum(l.amount for l in lines)", T.NUMBER, 2.5),
        ("sum([days(1), hours(12)])", T.DURATION, dt.timedelta(days=1, hours=12)),
        ("sum(extra)", T.ANY, 0),
        ("abs(score - 100)", T.INTEGER, 10),
        ("abs(quote_price)", T.NUMBER, 12.0),
        ("abs(stage_entered_at - now)", T.DURATION, dt.timedelta(days=3, hours=12)),
        ("abs(extra)", T.ANY, None),
        ("abs(None)", T.ANY, None),
        ("max(keywords)", T.STRING, "late"),
        ("min(score, 1.5)", T.NUMBER, 1.5),
        ("min(extra)", T.ANY, None),
        ("score or 0", T.INTEGER, 90),
        ("score or 1.5", T.NUMBER, 90),
        ("score > 1 or tier == 'VIP'", T.BOOL, True),
        ("name or 5", T.ANY, " Ann Lee "),
        ("score > 1 or 'x'", T.ANY, True),
        ("clamp(score, None, 10)", T.INTEGER, 10),
        ("clamp(score, hi=10, lo=0)", T.INTEGER, 10),
        ("round(quote_price, digits=1)", T.NUMBER, 12.0),
        ("clamp(score, 0.5, 10)", T.NUMBER, 10),
        ("name[0]", T.STRING, " "),
        ("score * (stock_days > 3)", T.INTEGER, 0),
        ("keywords + ['x']", T.list_of(T.STRING), ["invoice", "late", "x"]),
        ("keywords + [1]", T.list_of(T.ANY), ["invoice", "late", 1]),
        ("keywords * 2", T.list_of(T.STRING), ["invoice", "late", "invoice", "late"]),
        ("2 * tags", T.list_of(T.enum(["urgent", "vip", "cold"])), ["urgent", "urgent"]),
        ("days(1) * 2", T.DURATION, dt.timedelta(days=2)),
        ("stock_days * days(1)", T.DURATION, dt.timedelta(days=3)),
        ("keywords if score > 1 else tags", T.list_of(T.STRING), ["invoice", "late"]),
        ("score if score > 1 else None", T.INTEGER, 90),
        ("score if score > 1 else 1.5", T.NUMBER, 90),
        ("[1, 2]", T.list_of(T.INTEGER), [1, 2]),
        ("keywords == ['invoice', 'late']", T.BOOL, True),
        ("(k for k in keywords)", T.list_of(T.STRING), ["invoice", "late"]),
        ("-(now - stage_entered_at)", T.DURATION, dt.timedelta(days=-3, hours=-12)),
        ("-extra", T.ANY, None),
        ("extra[0]", T.ANY, None),
    ],
)
def test_inferred_result_types(source: str, typ: ExprType, value: Any) -> None:
    expr = compile_expression(source, SCOPE)
    assert expr.type == typ
    result = expr(full_record(), CONTEXT)
    assert result == value
    assert type(result) is type(value)


def test_any_of_a_missing_list_is_false() -> None:
    expr = compile_expression("any(keywords)", SCOPE)
    assert [expr({}), expr({"keywords": ["", "x"]}), expr({"keywords": []})] == [False, True, False]


def test_type_descriptions() -> None:
    assert ExprType("list").describe() == "list"
    assert T.list_of(T.STRING).describe() == "list of string"
    assert ExprType("record").describe() == "record"
    assert T.enum(["a", "b"]) == ExprType("string", values=("a", "b"))


def test_an_enum_built_here_checks_its_values() -> None:
    scope = Scope(record={"state": T.enum(["open", "won"])})
    with pytest.raises(ExpressionError) as caught:
        compile_expression("state == 'lost'", scope)
    assert [(i.code, i.message) for i in caught.value.issues] == [
        ("unknown-enum-value", "'lost' is not a value of 'state' (values: open, won)")
    ]


# --- messages of the checker --------------------------------------------------------------

NO_SUBJECT = Scope(record={"t": T.DATETIME})
TWELVE = Scope(record={name: T.INTEGER for name in "abcdefghijkl"})
THIRTEEN = Scope(record={name: T.INTEGER for name in "abcdefghijklm"})
NO_GROUP = Scope(record={}, metrics={"total": MetricSig("total", ())})


@pytest.mark.parametrize(
    ("source", "scope", "expected"),
    [
        ("[x async for x in keywords]", SCOPE,
         [("not-allowed", "'async for' is not allowed", "", 0)]),
        ("[1 for (a, b) in lines]", SCOPE,
         [("not-allowed", "loop over a single name, as in 'for x in items'", "", 7)]),
        ("keywords[True]", SCOPE, [("not-allowed", "an index must be a number or a text", "", 9)]),
        ("score[0]", SCOPE,
         [("type-mismatch", "'score' (integer) cannot be indexed by a number", "", 0)]),
        ("keywords.len > 1", SCOPE,
         [("type-mismatch", "'keywords' (list of string) has no fields", "write len(keywords)", 9)]),
        ("name.split(',')", SCOPE,
         [("not-allowed", "methods cannot be called: 'split'", "call one of the listed functions",
           0)]),
        ("keywords[0]()", SCOPE, [("not-allowed", "only listed functions can be called", "", 0)]),
        ("lookup(5, region)", SCOPE,
         [("bad-arguments", "lookup() needs the table name as a fixed text",
           "usage: lookup('table', key, ..., [date])", 7)]),
        ("lookup('seasonal', region, 5)", SCOPE,
         [("type-mismatch", "lookup('seasonal') needs a date for its range, not '5' (integer)", "",
           27)]),
        ("evidence_count('shelf_photo', 5)", SCOPE,
         [("bad-arguments", "evidence_count() counts 'current_stay' or 'any_stay' (a fixed text)",
           "usage: evidence_count('kind', 'current_stay')", 30)]),
        ("metric('total', 1)", NO_GROUP,
         [("bad-arguments", "metric('total') needs 0 values (none), got 1",
           "usage: metric('name', group, ...)", 0)]),
        ("hours_since(t)", NO_SUBJECT,
         [("unknown-name", "hours_since() needs 'now', which is not available in this expression",
           "use hours_between() or days_between() with two times", 0)]),
        ("zz > 1", TWELVE,
         [("unknown-name", "name 'zz' is not defined",
           "available names: a, b, c, d, e, f, g, h, i, j, k, l", 0)]),
        ("zz > 1", THIRTEEN, [("unknown-name", "name 'zz' is not defined", "", 0)]),
        ("(score >\n  1) and scroe > 2", SCOPE,
         [("unknown-name", "name 'scroe' is not a field of entity 'lead'", "did you mean 'score'?",
           18)]),
        ("  score >", SCOPE, [("syntax", "invalid syntax", "", 9)]),
        ("1 + min(score)", SCOPE,
         [("type-mismatch", "min() of one value needs a list, not 'score' (integer)",
           "usage: min(a, b, ...) / min(list)", 8)]),
        ("1 + min(*keywords)", SCOPE, [("not-allowed", "unpacking with '*' is not allowed", "", 8)]),
        ("1 + min(keywords, x=1)", SCOPE,
         [("bad-arguments", "min() takes no keyword arguments", "usage: min(a, b, ...) / min(list)",
           4)]),
        ("1 + round(**extra)", SCOPE, [("not-allowed", "unpacking with '**' is not allowed", "", 12)]),
        ("1 + round(score, x=score)", SCOPE,
         [("bad-arguments", "round() got 'x' twice", "usage: round(x, digits=0)", 19)]),
        ("1 + clamp(score, 0)", SCOPE,
         [("bad-arguments", "clamp() is missing argument 'hi'", "usage: clamp(x, lo, hi)", 4)]),
        ("~score", SCOPE, [("not-allowed", "operator '~' is not allowed", "", 0)]),
        ("score >> 1", SCOPE, [("not-allowed", "operator '>>' is not allowed", "", 0)]),
        ("1 + _x", SCOPE,
         [("not-allowed", "name '_x' is not allowed (names must not start with '_' or 'func_')",
           "", 4)]),
        ("order_date * 2", SCOPE,
         [("type-mismatch", "cannot apply '*' to 'order_date' (date) and '2' (integer)", "", 0)]),
        ("keywords == [1]", SCOPE,
         [("type-mismatch",
           "comparing 'keywords' (list of string) with '[1]' (list of integer) is always false",
           "", 0)]),
        ("score | 1", SCOPE, [("not-allowed", "operator '|' is not allowed", "use 'and' / 'or'", 0)]),
        ("1 + -name", SCOPE, [("type-mismatch", "cannot negate 'name' (string)", "", 4)]),
        ("'x' in score", SCOPE,
         [("type-mismatch", "'in' needs a list or a text on the right, not 'score' (integer)", "",
           7)]),
        ("[score 1]", SCOPE, [("syntax", "invalid syntax", "Perhaps you forgot a comma?", 1)]),
        ("score)\n+ (1", SCOPE, [("syntax", "unmatched ')'", "", 5)]),
    ],
)  # fmt: skip
def test_checker_messages(
    source: str, scope: Scope, expected: list[tuple[str, str, str, int]]
) -> None:
    assert issues(source, scope) == expected


def test_a_multi_line_expression_with_brackets_evaluates() -> None:
    expr = compile_expression("\n  len(keywords)\n  + (1)\n", SCOPE)
    assert expr({"keywords": ["a", "b"]}) == 3


def test_a_constant_date_is_folded() -> None:
    checker = checked("date(2026, 1, 31)")
    assert checker.const(checker.parsed.tree.body) == (True, dt.date(2026, 1, 31))  # type: ignore[union-attr]


def test_a_negative_index_counts_from_the_end() -> None:
    expr = compile_expression("keywords[-1] + keywords[-3]", SCOPE)
    assert expr({"keywords": ["a", "b", "c"]}) == "ca"


# --- parser limits and odd input ----------------------------------------------------------

SPLIT = "split it into named computed fields"


def test_exactly_1000_parts_and_100_levels_are_allowed() -> None:
    assert compile_expression("[" + ", ".join(["1"] * 999) + "]", SCOPE)({}) == [1] * 999
    assert compile_expression("-" * 99 + "1", SCOPE)({}) == -1
    assert issues("[" + ", ".join(["1"] * 1000) + "]") == [
        ("too-large", "the expression has 1001 parts; the limit is 1000", SPLIT, 0)
    ]
    assert issues("-" * 100 + "1") == [
        ("too-large", "the expression is nested 101 levels deep; the limit is 100", SPLIT, 100)
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("score == 0in keywords", [("syntax", "invalid decimal literal", "", 9)]),
        ("score\x00", [("syntax", "source code string cannot contain null bytes", "", 6)]),
    ],
)
def test_odd_input_is_a_syntax_issue(
    source: str, expected: list[tuple[str, str, str, int]]
) -> None:
    assert issues(source) == expected


def test_unary_plus_on_the_safe_path_keeps_the_value() -> None:
    # len(keywords) fails on the fast path (no key), so the safe path computes +score.
    expr = compile_expression("coalesce(+score, 1) + len(keywords)", SCOPE)
    assert [expr({"score": 2}), expr({})] == [2, 1]
