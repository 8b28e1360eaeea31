"""Evaluation: values, missing-value rules, functions, tables, metrics and groups."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from expr_scopes import CONTEXT, NOW, PRICE_CAPS, SCOPE, SEASONAL, full_record

from engine.expr import (
    EMPTY,
    FUNCTIONS,
    EvaluationError,
    ExpressionError,
    ExprType,
    MissingRow,
    Scope,
    TableSig,
    check_expression,
    compile_expression,
    compile_group,
    quote,
)
from engine.expr.checker import Checker
from engine.expr.codegen import build_paths, generated_source
from engine.expr.parse import parse

T = ExprType
BENCH = "tier == 'VIP' and score >= 82 and ('invoice' in keywords or stock_days < 7)"


def run(source: str, record: dict[str, Any] | None = None, context: Any = CONTEXT) -> Any:
    return compile_expression(source, SCOPE)(full_record() if record is None else record, context)


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"tier": "VIP", "score": 90, "keywords": ["invoice"], "stock_days": 30}, True),
        ({"tier": "VIP", "score": 90, "keywords": [], "stock_days": 3}, True),
        ({"tier": "VIP", "score": 90, "keywords": [], "stock_days": 30}, False),
        ({"tier": "normal", "score": 99, "keywords": ["invoice"], "stock_days": 1}, False),
        ({"tier": "VIP", "score": None, "keywords": ["invoice"], "stock_days": 1}, False),
        ({"tier": "VIP", "score": 90, "keywords": None, "stock_days": 1}, True),
        ({"tier": "VIP", "score": 90}, False),
        ({}, False),
    ],
)
def test_benchmark_condition(record: dict[str, Any], expected: bool) -> None:
    expr = compile_expression(BENCH, SCOPE, expect=T.BOOL)
    assert expr(record) is expected
    assert expr.fn(record, EMPTY) is expected
    assert expr.type == T.BOOL
    assert expr.names == {"tier", "score", "keywords", "stock_days"}


# (source, value with a full record, value with {} , value with every field None)
MISSING = [
    ("score + 1", 91, None, None),
    ("score / 0", None, None, None),
    ("score // 0 + 1", None, None, None),
    ("-score", -90, None, None),
    ("score > 70", True, False, False),
    ("score <= 70", False, False, False),
    ("not score > 70", False, True, True),
    ("0 < score < 100", True, False, False),
    ("score == None", False, True, True),
    ("score != None", True, False, False),
    ("score is None", False, True, True),
    ("tier == 'VIP'", True, False, False),
    ("'invoice' in keywords", True, False, False),
    ("'invoice' not in keywords", False, True, True),
    ("score in ()", False, False, False),
    ("tier in ('VIP',)", True, False, False),
    ("keywords[0]", "invoice", None, None),
    ("keywords[-1]", "late", None, None),
    ("keywords[9]", None, None, None),
    ("lines[0].amount * 2", 5.0, None, None),
    ("lines[1].amount * 2", None, None, None),
    ("user.team", "sales", "sales", "sales"),
    ("name + '!'", " Ann Lee !", None, None),
    ("score if score > 50 else 0", 90, 0, 0),
    ("score > 50 or 'fallback'", True, "fallback", "fallback"),
    ("order_date + days(3)", dt.date(2026, 2, 4), None, None),
    ("now - stage_entered_at", dt.timedelta(days=3, hours=12), None, None),
    ("quote_price > lookup('price_caps', product_class, region).max_unit_price", True, False,
     False),
]  # fmt: skip


@pytest.mark.parametrize(("source", "full", "empty", "nones"), MISSING)
def test_missing_values(source: str, full: Any, empty: Any, nones: Any) -> None:
    expr = compile_expression(source, SCOPE)
    assert expr(full_record(), CONTEXT) == full
    assert expr({}, CONTEXT) == empty
    assert expr(dict.fromkeys(full_record()), CONTEXT) == nones


# Every whitelisted function: (source, value with a full record, value with {})
FUNCTION_CASES = [
    ("len(keywords)", 2, 0),
    ("len(name)", 9, 0),
    ("round(quote_price / 7, 2)", 1.71, None),
    ("round(2.5) + round(-2.5) + round(0.125, 2)", 0.13, 0.13),
    ("abs(stock_days - 10)", 7, None),
    ("min(score, 3, stock_days)", 3, 3),
    ("min(l.amount for l in lines)", 2.5, None),
    ("max(keywords)", "late", None),
    ("sum(l.amount for l in lines)", 2.5, 0),
    ("sum([1, 2, 3])", 6, 6),
    ("any(l.amount > 2 for l in lines)", True, False),
    ("all(l.amount > 2 for l in lines)", False, True),
    ("count(l.amount for l in lines)", 1, 0),
    ("count(keywords, 'late')", 1, 0),
    ("lower(name)", " ann lee ", None),
    ("upper(region)", "NORTH", None),
    ("trim(name)", "Ann Lee", None),
    ("contains(name, 'Lee')", True, False),
    ("contains(keywords, 'late')", True, False),
    ("startswith(trim(name), 'Ann')", True, False),
    ("endswith(region, 'th')", True, False),
    ("matches(region, '^n.r')", True, False),
    ("coalesce(extra, score, 0)", 90, 0),
    ("is_set(name) and is_set(extra)", False, False),
    ("is_missing(extra) and is_missing('') and is_missing([])", True, True),
    ("clamp(score, 0, 50)", 50, None),
    ("clamp(score, 95, 100)", 95, None),
    ("floor(quote_price / 5)", 2, None),
    ("ceil(quote_price / 5)", 3, None),
    ("date(stage_entered_at)", dt.date(2026, 2, 7), None),
    ("date('2026-03-01') - date(2026, 2, 1)", dt.timedelta(days=28), dt.timedelta(days=28)),
    ("order_date + weeks(1) + days(1)", dt.date(2026, 2, 9), None),
    ("in_hours(hours(2) + minutes(30))", 2.5, 2.5),
    ("in_days(stage_entered_at - (stage_entered_at - days(2)))", 2.0, None),
    ("hours_between(stage_entered_at, now)", 84.0, None),
    ("days_between(order_date, now)", 9.5, None),
    ("hours_since(stage_entered_at) > 72", True, False),
    ("hours_in_stage()", 84.0, None),
    ("days_since(order_date)", 9.5, None),
    ("month(order_date) * 100 + year(order_date) % 100", 226, None),
    ("weekday(order_date)", 7, None),
    ("lookup('price_caps', 'B', region).max_unit_price", 20.0, None),
    ("metric('won_rate', region)", 0.5, None),
    ("evidence_count('shelf_photo') * 10 + evidence_count('shelf_photo', 'any_stay')", 23, 23),
    ("evidence_count('signed_contract', stays='any_stay')", 0, 0),
    ("assignee('reviewer')", "rita", "rita"),
    ("coalesce(assignee('approver'), 'nobody')", "nobody", "nobody"),
]


@pytest.mark.parametrize(("source", "full", "empty"), FUNCTION_CASES)
def test_functions(source: str, full: Any, empty: Any) -> None:
    expr = compile_expression(source, SCOPE)
    assert expr(full_record(), CONTEXT) == full
    assert expr({}, CONTEXT) == empty


def test_every_function_has_an_evaluation_case() -> None:
    used = {name for source, *_ in FUNCTION_CASES for name in re.findall(r"(\w+)\(", source)}
    assert set(FUNCTIONS) <= used


@pytest.mark.parametrize(
    ("region", "when", "expected"),
    [
        ("north", dt.date(2026, 1, 1), 1.2),
        ("north", dt.date(2026, 3, 31), 1.2),
        ("north", dt.datetime(2026, 3, 31, 23, 59), 1.2),
        ("north", dt.date(2026, 4, 1), 0.9),
        ("north", dt.date(2031, 1, 1), 0.9),
        ("south", dt.date(1999, 1, 1), 1.5),
        (None, dt.date(2026, 2, 1), None),
        ("north", None, None),
    ],
)
def test_lookup_on_a_range_table(region: Any, when: Any, expected: Any) -> None:
    expr = compile_expression("lookup('seasonal', region, order_date).coef", SCOPE)
    assert expr({"region": region, "order_date": when}) == expected


@pytest.mark.parametrize(
    ("region", "when", "message"),
    [
        ("north", dt.date(2025, 12, 31), "no row of table 'seasonal' for 'north' on 2025-12-31"),
        ("south", dt.date(2026, 7, 1), "no row of table 'seasonal' for 'south' on 2026-07-01"),
        ("east", dt.date(2026, 2, 1), "no row of table 'seasonal' for 'east' on 2026-02-01"),
    ],
)
def test_lookup_on_a_range_table_without_a_row_refuses(
    region: str, when: Any, message: str
) -> None:
    source = "lookup('seasonal', region, order_date).coef"
    expr = compile_expression(source, SCOPE)
    with pytest.raises(MissingRow) as caught:
        expr({"region": region, "order_date": when})
    assert (caught.value.table, caught.value.message, caught.value.source) == (
        "seasonal",
        message,
        source,
    )


def test_lookup_on_a_key_table_returns_the_row() -> None:
    expr = compile_expression("lookup('price_caps', product_class, region)", SCOPE)
    assert expr.type.describe() == "table 'price_caps' row"
    assert expr({"product_class": "A", "region": "south"})["max_unit_price"] == 12.5
    assert expr({"product_class": None, "region": "south"}) is None


@pytest.mark.parametrize(
    "source",
    [
        "lookup('price_caps', product_class, region)",
        "lookup('price_caps', product_class, region).max_unit_price",
        "quote_price > lookup('price_caps', product_class, region).max_unit_price",
        "coalesce(lookup('price_caps', product_class, region).max_unit_price, 0)",
        "lookup('price_caps', product_class, region) is None",
    ],
)
def test_lookup_without_a_row_refuses_on_both_paths(source: str) -> None:
    expr = compile_expression(source, SCOPE)
    record = {"product_class": "B", "region": "south", "quote_price": 5.0}
    with pytest.raises(MissingRow) as caught:
        expr(record)
    assert str(caught.value) == (
        f"cannot evaluate {quote(source)}: no row of table 'price_caps' for ('B', 'south')"
    )
    assert caught.value.key == ("B", "south")
    parsed = parse(source)
    assert parsed.tree is not None
    checker = Checker(parsed, SCOPE)
    checker.visit(parsed.tree.body)
    fast, safe = build_paths(checker)
    with pytest.raises(LookupError):  # the fast path hands over to the safe path
        fast(record, EMPTY)
    with pytest.raises(MissingRow):
        safe(record, EMPTY)


def test_a_default_row_answers_when_no_row_fits() -> None:
    caps = replace(PRICE_CAPS, default={"max_unit_price": 99.0})
    seasonal = replace(SEASONAL, default={"coef": 1.0})
    scope = replace(SCOPE, tables={"price_caps": caps, "seasonal": seasonal})
    cap = compile_expression("lookup('price_caps', product_class, region).max_unit_price", scope)
    assert cap({"product_class": "B", "region": "south"}) == 99.0
    assert cap({"product_class": "A", "region": "south"}) == 12.5
    assert cap({"product_class": "A", "region": None}) is None
    coef = compile_expression("lookup('seasonal', region, order_date).coef", scope)
    assert coef({"region": "east", "order_date": dt.date(2026, 2, 1)}) == 1.0
    assert coef({"region": "north", "order_date": dt.date(2026, 4, 1)}) == 0.9


def test_a_group_refuses_a_lookup_without_a_row() -> None:
    sources = ["score * 2", "lookup('price_caps', product_class, region).max_unit_price"]
    group = compile_group(sources, SCOPE)
    assert group({"score": 1, "product_class": "A", "region": "north"}, EMPTY) == (2, 10.0)
    with pytest.raises(MissingRow) as caught:
        group({"score": 1, "product_class": "B", "region": "south"}, EMPTY)
    assert caught.value.source == sources[1]


def test_metric_reads_the_context_provider() -> None:
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def provider(name: str, group: tuple[Any, ...]) -> float:
        calls.append((name, group))
        return 0.75

    expr = compile_expression("metric('won_rate', region) > 0.5", SCOPE)
    assert expr({"region": "south"}, {"metric": provider}) is True
    assert calls == [("won_rate", ("south",))]


def test_metric_without_a_provider_is_an_evaluation_error() -> None:
    expr = compile_expression("metric('won_rate', region)", SCOPE)
    with pytest.raises(EvaluationError) as caught:
        expr({"region": "north"}, {})
    assert caught.value.source == "metric('won_rate', region)"
    assert caught.value.message == "metric 'won_rate' needs a metric provider in the context"


def test_comprehension_variable_is_local_and_typed() -> None:
    expr = compile_expression("[l.sku for l in lines if l.amount]", SCOPE)
    assert expr.type == T.list_of(T.STRING)
    assert expr(full_record()) == ["a"]
    assert expr.names == {"lines"}


def test_growth_beyond_the_limit_fails_at_run_time() -> None:
    expr = compile_expression("'x' * score", SCOPE)
    assert expr({"score": 3}) == "xxx"
    with pytest.raises(EvaluationError) as caught:
        expr({"score": 10**8})
    assert str(caught.value) == (
        "cannot evaluate \"'x' * score\": the result would be longer than 100000 characters or "
        "items"
    )


def test_comprehension_input_is_bounded_at_run_time() -> None:
    expr = compile_expression("count(k == 'a' for k in keywords)", SCOPE)
    assert expr({"keywords": ["a"] * 10_000}) == 10_000
    with pytest.raises(EvaluationError) as caught:
        expr({"keywords": ["a"] * 10_001})
    assert caught.value.message == "a loop over 10001 items; the limit is 10000"
    after_missing = compile_expression("stock_days + count(k == 'a' for k in keywords)", SCOPE)
    with pytest.raises(EvaluationError, match="a loop over 10001 items"):
        after_missing({"keywords": ["a"] * 10_001})


STEPS = "the evaluation takes more than 1000000 steps (items visited by loops and list functions)"


def test_the_step_budget_message_is_the_documented_one() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "expressions.md").read_text("utf-8")
    assert f'"{STEPS}"' in " ".join(doc.split())


def test_nested_loops_stop_at_the_step_budget() -> None:
    # Sizes allow 10,000 x 10,000 items; the budget stops the loop within its first
    # hundred outer items (it ran 18 s before).
    expr = compile_expression("any(any(b == 'zz' for b in keywords) for a in keywords)", SCOPE)
    many = [str(i) for i in range(10_000)]
    with pytest.raises(EvaluationError) as caught:
        expr({"keywords": many})
    assert caught.value.message == STEPS
    assert expr({"keywords": many[:999]}) is False  # 999 + 999 * 999 steps fit


@pytest.mark.parametrize(
    ("source", "small"),
    [
        ("count(count(keywords, k) > 1 for k in keywords)", 0),
        ("count(k in keywords for k in keywords)", 2),
        ("any(contains(keywords, k + 'x') for k in keywords)", False),
        ("count(max(keywords) == k for k in keywords)", 1),
    ],
)
def test_list_functions_inside_a_loop_spend_steps(source: str, small: Any) -> None:
    expr = compile_expression(source, SCOPE)
    with pytest.raises(EvaluationError) as caught:
        expr({"keywords": [str(i) for i in range(1_001)]})
    assert caught.value.message == STEPS
    assert expr({"keywords": ["a", "b"]}) == small


def test_list_functions_outside_a_loop_spend_nothing() -> None:
    expr = compile_expression("count(keywords, 'a') + len(keywords)", SCOPE)
    assert expr({"keywords": ["a"] * 100_000}) == 200_000
    checker = Checker(parse("'a' in keywords"), SCOPE)
    checker.visit(checker.parsed.tree.body)  # type: ignore[union-attr]
    assert generated_source(checker) == {
        "fast": "('a' in r['keywords'])",
        "safe": "(_n_in('a', r.get('keywords')))",
    }


def test_the_null_safe_retry_gets_a_fresh_budget() -> None:
    # 990 + 990 * 990 steps: within one budget, not within what the fast path left
    # before the missing stock_days sent it to the null-safe path.
    expr = compile_expression(
        "count(k in keywords for k in keywords) + coalesce(stock_days + 1, 0)", SCOPE
    )
    many = [str(i) for i in range(990)]
    assert expr({"keywords": many, "stock_days": None}) == 990


def test_each_expression_of_a_group_has_its_own_budget() -> None:
    group = compile_group(
        ["count(k in keywords for k in keywords)", "count(k in keywords for k in keywords)"],
        SCOPE,
    )
    assert group({"keywords": [str(i) for i in range(990)]}, {}) == (990, 990)
    assert group({"keywords": [str(i) for i in range(1_001)]}, {}) == (None, None)


def test_integer_power_is_bounded_at_run_time() -> None:
    expr = compile_expression("stock_days ** score", SCOPE)
    assert expr({"stock_days": 2, "score": 10}) == 1024
    with pytest.raises(EvaluationError, match="number that is too large"):
        expr({"stock_days": 10, "score": 100000})


def test_text_formatting_with_percent_is_refused_at_run_time() -> None:
    expr = compile_expression("extra % 3", SCOPE)
    assert expr({"extra": 10}) == 1
    with pytest.raises(EvaluationError, match="'%' needs numbers, not text"):
        expr({"extra": "%s%s"})


def test_wrong_run_time_types_raise_evaluation_error() -> None:
    expr = compile_expression("extra + 1", SCOPE)
    with pytest.raises(EvaluationError, match="a value has the wrong type"):
        expr({"extra": "text"})


def test_group_returns_every_value_and_absorbs_a_failing_one() -> None:
    group = compile_group(
        ["score * 2", "'x' * score", "quote_price / stock_days", "'invoice' in keywords"], SCOPE
    )
    record = full_record()
    assert group(record, CONTEXT) == (180, "x" * 90, 4.0, True)
    record.update(score=10**6, stock_days=0)
    assert group(record, CONTEXT) == (2 * 10**6, None, None, True)
    assert group({}, CONTEXT) == (None, None, None, False)
    assert compile_group([], SCOPE)({}, EMPTY) == ()


def test_generated_code_has_no_builtins_and_only_helpers() -> None:
    expr = compile_expression("len(keywords) + sum(l.amount for l in lines)", SCOPE)
    namespace = expr.fn.__globals__
    assert namespace["__builtins__"] == {}
    assert all(name.startswith("_") for name in namespace)


def test_constants_are_folded_and_not_read_from_the_record() -> None:
    expr = compile_expression("region == params.region and score > params.threshold", SCOPE)
    assert expr.names == {"region", "score"}
    assert expr({"region": "north", "score": 71, "params": "ignored"}) is True
    assert "north" in expr.fn.__code__.co_consts


def test_check_expression_returns_type_and_names() -> None:
    assert check_expression("score * 1.5 + stock_days", SCOPE) == (
        T.NUMBER,
        frozenset({"score", "stock_days"}),
    )
    assert check_expression("lookup('price_caps', 'A', region)", SCOPE)[0].kind == "record"


def test_records_may_be_any_mapping() -> None:
    expr = compile_expression(BENCH, SCOPE)
    record = MappingProxyType({"tier": "VIP", "score": 90, "keywords": [], "stock_days": 1})
    assert expr(record) is True
    assert expr(MappingProxyType({})) is False


def test_multiline_source_evaluates() -> None:
    source = "\n  tier == 'VIP'\n  and score > 50\n"
    assert compile_expression(source, SCOPE)({"tier": "VIP", "score": 60}) is True


def test_now_comes_from_the_context() -> None:
    later = {"now": NOW + dt.timedelta(hours=10)}
    expr = compile_expression("hours_since(stage_entered_at)", SCOPE)
    assert expr({"stage_entered_at": NOW}, later) == 10.0


def test_scope_without_context_or_tables_compiles() -> None:
    expr = compile_expression("a * 2", Scope(record={"a": T.NUMBER}))
    assert expr({"a": 2.5}) == 5.0


def test_range_tables_accept_iso_texts_as_bounds() -> None:
    table = TableSig(
        "rates",
        (),
        {"start": T.DATE, "end": T.DATE, "rate": T.NUMBER},
        ({"start": "2026-01-01", "end": "2026-06-30", "rate": 1.0},),
        range=("start", "end"),
    )
    scope = Scope(record={"day": T.DATE}, tables={"rates": table})
    expr = compile_expression("lookup('rates', day).rate", scope)
    assert expr({"day": dt.date(2026, 6, 30)}) == 1.0
    assert expr({"day": "2026-01-01"}) == 1.0
    with pytest.raises(MissingRow, match="no row of table 'rates' for the date 2026-07-01"):
        expr({"day": dt.date(2026, 7, 1)})


def test_bad_table_rows_are_a_compile_error() -> None:
    table = TableSig(
        "rates",
        (),
        {"start": T.DATE, "end": T.DATE},
        ({"start": 5, "end": None},),
        ("start", "end"),
    )
    scope = Scope(record={"day": T.DATE}, tables={"rates": table})
    with pytest.raises(ExpressionError) as caught:
        compile_expression("lookup('rates', day)", scope)
    assert [(i.code, i.message) for i in caught.value.issues] == [
        ("type-mismatch", "table 'rates' has bad rows: 5 is not a date")
    ]


def test_fast_body_is_the_hand_written_expression() -> None:
    parsed = parse(BENCH)
    assert parsed.tree is not None
    checker = Checker(parsed, SCOPE)
    checker.visit(parsed.tree.body)
    assert generated_source(checker)["fast"] == (
        "((r['tier'] == 'VIP') and (r['score'] >= 82) and "
        "(('invoice' in r['keywords']) or (r['stock_days'] < 7)))"
    )


_PLUS8 = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # stage_entered_at 2026-02-07 08:00 +08:00 is 00:00 UTC; now is naive UTC 02-10 12:00.
        ("hours_between(stage_entered_at, now)", 84.0),
        ("days_since(stage_entered_at)", 3.5),
        ("hours_between(now, stage_entered_at)", -84.0),
        # A date against an aware datetime counts as its midnight UTC.
        ("hours_between(order_date, stage_entered_at)", 144.0),
        ("date(stage_entered_at)", dt.date(2026, 2, 7)),
        ("weekday(stage_entered_at)", 6),
    ],
)
def test_datetime_functions_take_aware_values_as_their_utc_instant(
    source: str, expected: Any
) -> None:
    record = {
        **full_record(),
        "stage_entered_at": dt.datetime(2026, 2, 7, 8, 0, tzinfo=_PLUS8),
    }
    assert compile_expression(source, SCOPE)(record, CONTEXT) == expected


def test_the_day_of_an_aware_datetime_is_its_utc_day() -> None:
    # 2026-02-08 07:59 in UTC+8 is still 02-07 in UTC (a Saturday, month 2).
    late = dt.datetime(2026, 2, 8, 7, 59, tzinfo=_PLUS8)
    record = {**full_record(), "stage_entered_at": late}
    assert run("date(stage_entered_at)", record) == dt.date(2026, 2, 7)
    assert run("weekday(stage_entered_at)", record) == 6
    assert run("month(stage_entered_at) + year(stage_entered_at)", record) == 2028


def test_hours_in_stage_reads_stage_entry_and_now() -> None:
    later = {"now": NOW + dt.timedelta(hours=10)}
    expr = compile_expression("hours_in_stage()", SCOPE)
    assert expr.names == frozenset({"stage_entered_at"})
    assert expr({"stage_entered_at": NOW}, later) == 10.0
    assert expr({"stage_entered_at": None}, later) is None


def test_hours_in_stage_needs_a_record() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("hours_in_stage() > 1", Scope(record={"a": T.NUMBER}))
    assert [(i.code, i.offset) for i in caught.value.issues] == [("unknown-name", 0)]
    assert "hours_in_stage() reads a record's stage entry time" in caught.value.issues[0].message


@pytest.mark.parametrize(
    ("source", "clock"),
    [
        ("hours_in_stage() > 1", True),
        ("days_since(order_date)", True),
        ("now", True),
        ("date(now) > order_date", True),
        ("stage_entered_at", False),
        ("hours_between(stage_entered_at, stage_entered_at)", False),
    ],
)
def test_clock_marks_time_dependent_expressions(source: str, clock: bool) -> None:
    assert compile_expression(source, SCOPE).clock is clock


def test_assignee_names_a_known_assignment_as_fixed_text() -> None:
    from expr_scopes import SMALL

    LEAD = SCOPE
    with pytest.raises(ExpressionError, match="'reviwer' is not a named assignment"):
        compile_expression("assignee('reviwer')", LEAD)
    with pytest.raises(ExpressionError, match="fixed text"):
        compile_expression("assignee(region)", LEAD)
    with pytest.raises(ExpressionError, match="no record is available"):
        compile_expression("assignee('reviewer')", SMALL)
    assert compile_expression("assignee('reviewer')", LEAD).type.kind == "string"
    assert compile_expression("assignee('reviewer')", LEAD).assignments
    assert not compile_expression("region", LEAD).assignments
    # without a provider (no record in the context) nobody holds it
    assert compile_expression("assignee('reviewer')", LEAD)({}, {}) is None
