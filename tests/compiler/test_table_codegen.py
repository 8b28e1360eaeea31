"""Decision tables compiled to one generated function (engine/tablecode.py).

Each hit policy, values exactly at a boundary, no row matching, missing inputs, `*`
cells, and hypothesis comparing the generated function with the interpreter it
replaced (every row tested with its cells' Matchers) on random tables and records.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.bundle import CompiledDecisionTable, OutputError, TableResult, UniqueHitError
from engine.compiler.cells import output_expression, parse_cell
from engine.expr import EvaluationError, ExprType, Scope, compile_expression
from engine.spec import DecisionTableSpec
from engine.tablecode import MAX_NESTING, _Code, cell_test, plain_field, table_source

T = ExprType
SCOPE = Scope(record={"tier": T.ANY, "size": T.ANY, "tags": T.ANY, "n": T.NUMBER})
INPUTS = ("tier", "size", "tags")


def make(
    rows: list[list[Any]],
    hit: str = "first",
    *,
    inputs: tuple[str, ...] = INPUTS,
    outputs: tuple[str, ...] = ("out",),
    default: list[Any] | None = None,
    aggregate: Any = None,
) -> CompiledDecisionTable:
    """Build a compiled table as the compiler does: inputs, matchers, output expressions."""
    spec = DecisionTableSpec(
        kind="decision_table",
        version=1,
        name="t",
        entity="e",
        hit=hit,  # type: ignore[arg-type]
        aggregate=aggregate,
        inputs=list(inputs),
        outputs=list(outputs),
        rows=rows,
        default=default,
    )
    width = len(inputs)

    def cells(values: list[Any]) -> tuple[Any, ...]:
        return tuple(
            compile_expression(written[0], SCOPE) if (written := output_expression(v)) else None
            for v in values
        )

    return CompiledDecisionTable(
        spec,
        tuple(compile_expression(source, SCOPE) for source in inputs),
        tuple(tuple(parse_cell(cell) for cell in row[:width]) for row in rows),
        tuple(cells(row[width:]) for row in rows),
        cells(default) if default is not None else (),
    )


def interpreted(table: CompiledDecisionTable, r: dict[str, Any]) -> TableResult:
    """The interpreter the generated code replaced: every row, one Matcher per cell."""
    values = [expr.fn(r, {}) for expr in table.inputs]
    matched = [
        i for i, row in enumerate(table.rows) if all(m(v) for m, v in zip(row, values, strict=True))
    ]
    return table.finish(matched, r, {})


def outcome(fn: Any, table: CompiledDecisionTable, r: dict[str, Any]) -> Any:
    """Return what deciding gives: the result, or the exception's type and message."""
    try:
        return fn(table, r)
    except (EvaluationError, UniqueHitError) as exc:
        return type(exc).__name__, str(exc)


def generated(table: CompiledDecisionTable, r: dict[str, Any]) -> TableResult:
    return table.evaluate(r, {})


def rec(tier: Any = None, size: Any = None, tags: Any = None) -> dict[str, Any]:
    return {"tier": tier, "size": size, "tags": tags}


# -- hit: first ------------------------------------------------------------------------


FIRST = [
    ["vip", ">= 10", "*", "big vip"],
    ["vip", "*", "-", "vip"],
    ["*", "1..5", "has urgent", "small urgent"],
    ["!= trial", "< 1", "", "tiny"],
]


def test_first_returns_the_first_matching_row_only() -> None:
    table = make(FIRST, default=["none"])
    assert table.evaluate(rec("vip", 12), {}) == TableResult([0], ["big vip"], False, [])
    assert table.evaluate(rec("vip", 9), {}) == TableResult([1], ["vip"], False, [])
    assert table.evaluate(rec("normal", 3, ["urgent"]), {}) == TableResult(
        [2], ["small urgent"], False, []
    )
    assert table.evaluate(rec("normal", 0), {}) == TableResult([3], ["tiny"], False, [])
    assert table.evaluate(rec("trial", 0), {}) == TableResult([], ["none"], True, [])


class Exploding:
    """An input value whose ordering comparisons fail loudly (not a TypeError)."""

    def __ge__(self, other: object) -> bool:
        raise RuntimeError("row 2 was tested")


def test_first_stops_testing_rows_at_the_first_match() -> None:
    table = make([["vip", "*", "*", "a"], ["*", ">= 3", "*", "b"]])
    r = rec("vip", Exploding())
    assert table.evaluate(r, {}) == TableResult([0], ["a"], False, [])
    with pytest.raises(RuntimeError, match="row 2 was tested"):
        interpreted(table, r)  # the interpreter tested every row
    with pytest.raises(RuntimeError, match="row 2 was tested"):
        table.evaluate(rec("normal", Exploding()), {})


def test_first_computes_only_the_outputs_of_the_row_used() -> None:
    table = make([["vip", "*", "*", "= size + 1"], ["*", "*", "*", "= tier + 1"]], default=["= 0"])
    # Row 2's expression fails on a text tier; row 1 is used, so it never runs.
    assert table.evaluate(rec("vip", 4), {}) == TableResult(
        [0], [5], False, [{"row": 1, "output": "out", "expression": "size + 1", "value": 5}]
    )
    with pytest.raises(OutputError) as caught:
        table.evaluate(rec("normal", 4), {})
    assert caught.value.output == "out"


def test_a_row_of_stars_ends_a_first_table() -> None:
    table = make([["vip", "*", "*", "a"], ["*", "-", "", "b"], ["normal", "*", "*", "c"]])
    assert table.evaluate(rec("normal"), {}) == TableResult([1], ["b"], False, [])
    assert table.evaluate({}, {}) == TableResult([1], ["b"], False, [])
    source, _ = table_source(table, TableResult)
    assert "'c'" not in source and "[2]" not in source
    assert source.endswith(
        "        return _make([0], ['a'], False, [])\n    return _make([1], ['b'], False, [])\n"
    )


def test_no_row_and_no_default_gives_no_values() -> None:
    table = make([["vip", "*", "*", "a"]])
    assert table.evaluate(rec("normal"), {}) == TableResult([], None, False, [])
    assert make([["vip", "*", "*", "a"]], "collect").evaluate(rec("x"), {}) == TableResult(
        [], None, False, []
    )


def test_a_computed_default_runs_when_no_row_matches() -> None:
    table = make([["vip", "*", "*", "a"]], default=["= size * 2"])
    assert table.evaluate(rec("x", 4), {}) == TableResult(
        [],
        [8],
        True,
        [{"row": "default", "output": "out", "expression": "size * 2", "value": 8}],
    )


# -- boundaries and cells ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "size", "matches"),
    [
        ("1..5", 1, True),
        ("1..5", 5, True),
        ("1..5", 0, False),
        ("1..5", 6, False),
        ("1..5", 5.0001, False),
        ("1..5", 0.9999, False),
        ("-2.5..-1", -2.5, True),
        ("-2.5..-1", -1, True),
        ("-2.5..-1", -0.5, False),
        (">= 5", 5, True),
        (">= 5", 4.99, False),
        ("> 5", 5, False),
        ("> 5", 5.01, True),
        ("<= 5", 5, True),
        ("<= 5", 5.01, False),
        ("< 5", 5, False),
        ("< 5", 4.99, True),
        ("== 5", 5, True),
        ("== 5", 5.0, True),
        ("== 5", 6, False),
        (5, 5, True),
        (5, "5", False),
        ("!= 5", 5, False),
        ("!= 5", 4, True),
        ("in [1, 2]", 2, True),
        ("in [1, 2]", 3, False),
        ("not in [1, 2]", 2, False),
        ("not in [1, 2]", 3, True),
        ("< 5", "4", False),  # text against a number: no match, not an error
        ("1..5", "3", False),
        (True, True, True),
        (True, 1, True),  # Python's True == 1, as the interpreter had it
        (">= inf", float("inf"), True),
        ("< inf", 1e308, True),
    ],
)
def test_a_cell_matches_as_its_matcher_does(cell: Any, size: Any, matches: bool) -> None:
    table = make([["*", cell, "*", "hit"]])
    r = rec(size=size)
    assert table.evaluate(r, {}).rows == ([0] if matches else [])
    assert parse_cell(cell)(size) is matches
    assert interpreted(table, r) == table.evaluate(r, {})


@pytest.mark.parametrize(
    ("cell", "tags", "matches"),
    [
        ("has urgent", ["urgent", "x"], True),
        ("has urgent", ["x"], False),
        ("has urgent", "very urgent", True),  # a text contains a text
        ("has urgent", 3, False),
        ("has 2", [1, 2], True),
        ("in [a, b]", ["a"], False),  # a list is not one of the values
        ("not in [a, b]", ["a"], True),
    ],
)
def test_list_cells(cell: str, tags: Any, matches: bool) -> None:
    table = make([["*", "*", cell, "hit"]])
    assert table.evaluate(rec(tags=tags), {}).rows == ([0] if matches else [])


@pytest.mark.parametrize(
    "cell", ["vip", "!= vip", "not in [vip]", "in [vip]", ">= 1", "1..3", "has v", "== vip"]
)
@pytest.mark.parametrize("record", [rec(None, 2, ["v"]), {"size": 2, "tags": ["v"]}])
def test_a_missing_input_matches_only_stars(cell: str, record: dict[str, Any]) -> None:
    table = make([[cell, "*", "*", "cell"], ["*", "*", "*", "star"]])
    assert table.evaluate(record, {}) == TableResult([1], ["star"], False, [])


@pytest.mark.parametrize("star", ["*", "-", "", None, "  *  "])
def test_every_spelling_of_any_matches_a_missing_input(star: Any) -> None:
    table = make([[star, "*", "*", "any"]])
    assert table.evaluate({}, {}).rows == [0]


def test_literals_python_cannot_write_inline_are_bound() -> None:
    day = dt.date(2026, 1, 2)
    table = make([["*", day, "*", day], ["*", "*", "*", float("nan")]])
    source, namespace = table_source(table, TableResult)
    assert "2026" not in source
    assert [name for name, value in namespace.items() if value is day] == ["_k6", "_k7"]
    assert "v1 == _k6" in source
    assert table.evaluate(rec(size=day), {}).values == [day]
    result = table.evaluate(rec(size=dt.date(2026, 1, 3)), {})
    assert result.rows == [1] and result.values is not None and math.isnan(result.values[0])


def test_literal_outputs_are_fresh_lists_holding_the_cells_values() -> None:
    table = make([["*", "*", "*", [1, 2], {"a": 1}]], outputs=("out", "more"))
    first = table.evaluate({}, {})
    first.rows.append(9)
    assert first.values is not None
    first.values.append(9)
    again = table.evaluate({}, {})
    assert again == TableResult([0], [[1, 2], {"a": 1}], False, [])
    assert again.values is not None and again.values[0] is table.spec.rows[0][3]


# -- hit: unique and collect -------------------------------------------------------------


UNIQUE = [["vip", "*", "*", "a"], ["normal", "< 5", "*", "b"], ["*", ">= 5", "*", "c"]]


def test_unique_gives_the_only_matching_row() -> None:
    table = make(UNIQUE, "unique", default=["none"])
    assert table.evaluate(rec("normal", 4), {}) == TableResult([1], ["b"], False, [])
    assert table.evaluate(rec("trial", 4), {}) == TableResult([], ["none"], True, [])


def test_unique_refuses_two_matching_rows_naming_every_one() -> None:
    table = make([*UNIQUE, ["vip", "*", "*", "d"]], "unique")
    with pytest.raises(UniqueHitError) as caught:
        table.evaluate(rec("vip", 7), {})
    assert caught.value.rows == [1, 3, 4]
    assert str(caught.value) == "decision table 't' (hit: unique) matched rows 1, 3 and 4"


def test_collect_lists_or_aggregates_every_matching_row() -> None:
    rows = [
        ["*", ">= 1", "*", "one", 1, 1, 1, "x"],
        ["*", ">= 10", "*", "ten", 10, 10, 10, "x"],
        ["vip", "*", "*", "vip", "= size", 100, 100, "x"],
    ]
    table = make(
        rows,
        "collect",
        outputs=("tags", "points", "top", "low", "hits"),
        aggregate={"points": "sum", "top": "max", "low": "min", "hits": "count"},
        default=[["none"], 0, 0, 0, 0],
    )
    assert table.evaluate(rec("vip", 12), {}) == TableResult(
        [0, 1, 2],
        [["one", "ten", "vip"], 23, 100, 1, 3],
        False,
        [{"row": 3, "output": "points", "expression": "size", "value": 12}],
    )
    assert table.evaluate(rec("normal", 0), {}) == TableResult([], [["none"], 0, 0, 0, 0], True, [])


def test_collect_with_a_row_of_stars_still_tests_the_rows_below() -> None:
    table = make([["*", "*", "*", "all"], ["vip", "*", "*", "vip"]], "collect")
    assert table.evaluate(rec("vip"), {}).values == [["all", "vip"]]
    assert table.evaluate(rec("x"), {}).values == [["all"]]


# -- inputs ------------------------------------------------------------------------------


def test_plain_fields_are_read_inline_and_expressions_through_their_function() -> None:
    assert plain_field(compile_expression("tier", SCOPE)) == "tier"
    assert plain_field(compile_expression(" tier ", SCOPE)) == "tier"
    assert plain_field(compile_expression("n * 2", SCOPE)) is None
    assert plain_field(compile_expression("now", Scope(record={}, context={"now": T.ANY}))) is None
    assert plain_field(compile_expression("True", SCOPE)) is None


def test_an_input_expression_is_evaluated_and_its_failure_propagates() -> None:
    table = make([["> 10", "a"], ["*", "b"]], inputs=("n * 2",))
    assert table.evaluate({"n": 6}, {}).values == ["a"]
    assert table.evaluate({"n": 5}, {}).values == ["b"]
    assert table.evaluate({}, {}).values == ["b"]  # missing: the expression gives None
    broken = make([["*", "a"]], inputs=("tier + 1",))
    with pytest.raises(EvaluationError):
        broken.evaluate({"tier": "x"}, {})
    with pytest.raises(EvaluationError):
        interpreted(broken, {"tier": "x"})


def test_a_record_lacking_a_plain_field_reads_none_for_it() -> None:
    table = make([["vip", "*", "*", "a"], ["*", 3, "*", "b"], ["-", "*", "*", "c"]])
    assert table.evaluate({"size": 3}, {}).values == ["b"]
    assert table.evaluate({"tier": "vip"}, {}).values == ["a"]


def test_the_function_is_generated_once_per_table() -> None:
    table = make(FIRST)
    assert table.evaluate is table.evaluate


# -- the generated source ------------------------------------------------------------------


def test_cell_tests_as_python() -> None:
    src, _ = table_source(make([["*", "*", "*", "x"]]), TableResult)
    code = _Code()
    assert cell_test(code, parse_cell("*"), "v") is None
    assert cell_test(code, parse_cell("vip"), "v") == "v == 'vip'"
    assert cell_test(code, parse_cell("!= vip"), "v") == "v is not None and v != 'vip'"
    assert cell_test(code, parse_cell(">= 3"), "v") == "v >= 3"
    assert cell_test(code, parse_cell("< 2.5"), "v") == "v < 2.5"
    assert cell_test(code, parse_cell("1..3"), "v") == "1 <= v <= 3"
    assert cell_test(code, parse_cell("in [a, 2]"), "v") == "v in ('a', 2, )"
    assert cell_test(code, parse_cell("not in [a]"), "v") == "v is not None and v not in ('a', )"
    assert cell_test(code, parse_cell("has x"), "v") == "'x' in v"
    assert cell_test(code, parse_cell(False), "v") == "v == False"
    assert src.startswith("def _decide(r, c=_EMPTY):\n")


def test_the_whole_generated_function_of_a_first_table() -> None:
    table = make(
        [["vip", ">= 10", "*", "a"], ["*", "*", "*", "= size"]], inputs=("tier", "size", "n * 2")
    )
    source, namespace = table_source(table, TableResult)
    assert source == (
        "def _decide(r, c=_EMPTY):\n"
        "    try:\n"
        "        v0 = r['tier']\n"
        "        v1 = r['size']\n"
        "    except _ABSENT:\n"
        "        v0 = r.get('tier')\n"
        "        v1 = r.get('size')\n"
        "    v2 = _in6(r, c)\n"
        "    try:\n"
        "        hit = (v0 == 'vip') and (v1 >= 10)\n"
        "    except _TypeError:\n"
        "        hit = False\n"
        "    if hit:\n"
        "        return _make([0], ['a'], False, [])\n"
        "    return _finish([1], r, c)\n"
    )
    assert namespace["_in6"] is table.inputs[2].fn
    assert namespace["_finish"] == table.finish
    assert namespace["_make"] is TableResult
    assert namespace["__builtins__"] == {}


def test_the_whole_generated_function_of_a_collect_table() -> None:
    table = make([["vip", "*", "*", "a"], ["*", "*", "*", "b"]], "collect", inputs=("n * 2",) * 3)
    source, _ = table_source(table, TableResult)
    assert source == (
        "def _decide(r, c=_EMPTY):\n"
        "    v0 = _in5(r, c)\n"
        "    v1 = _in6(r, c)\n"
        "    v2 = _in7(r, c)\n"
        "    m = []\n"
        "    try:\n"
        "        hit = (v0 == 'vip')\n"
        "    except _TypeError:\n"
        "        hit = False\n"
        "    if hit:\n"
        "        m.append(0)\n"
        "    m.append(1)\n"
        "    return _finish(m, r, c)\n"
    )


def test_a_literal_default_is_built_inline() -> None:
    source, _ = table_source(make([["vip", "*", "*", "a"]], default=["z"]), TableResult)
    assert source.endswith("    return _make([], ['z'], True, [])\n")
    source, _ = table_source(make([["vip", "*", "*", "a"]]), TableResult)
    assert source.endswith("    return _make([], None, False, [])\n")


def test_rows_sharing_a_test_are_nested_under_it() -> None:
    table = make(
        [
            ["vip", ">= 10", "*", "a"],
            ["vip", "*", "*", "b"],
            ["vip", "*", "*", "never"],
            ["normal", "< 3", "*", "c"],
            ["normal", "< 3", "has x", "d"],
            ["*", "< 3", "*", "e"],
        ],
        default=["z"],
        inputs=("tier", "size", "n * 1"),
    )
    source, _ = table_source(table, TableResult)
    body = source.split("    v2 = _in6(r, c)\n", 1)[1]
    assert body == (
        "    try:\n"
        "        hit = v0 == 'vip'\n"
        "    except _TypeError:\n"
        "        hit = False\n"
        "    if hit:\n"
        "        try:\n"
        "            hit = (v1 >= 10)\n"
        "        except _TypeError:\n"
        "            hit = False\n"
        "        if hit:\n"
        "            return _make([0], ['a'], False, [])\n"
        "        return _make([1], ['b'], False, [])\n"
        "    try:\n"
        "        hit = v1 < 3\n"
        "    except _TypeError:\n"
        "        hit = False\n"
        "    if hit:\n"
        "        try:\n"
        "            hit = v0 == 'normal'\n"
        "        except _TypeError:\n"
        "            hit = False\n"
        "        if hit:\n"
        "            return _make([3], ['c'], False, [])\n"
        "        return _make([5], ['e'], False, [])\n"
        "    return _make([], ['z'], True, [])\n"
    )
    assert table.evaluate({"tier": "vip", "size": 1}, {}).rows == [1]
    assert table.evaluate({"tier": "normal", "size": 2}, {}).rows == [3]
    assert table.evaluate({"tier": "trial", "size": 2}, {}).rows == [5]
    assert table.evaluate({"tier": "normal", "size": 3}, {}).rows == []
    assert table.evaluate({"tier": "vip", "size": "x"}, {}).rows == [1]


def test_of_two_tests_shared_as_long_the_first_column_nests() -> None:
    table = make([["vip", 3, "*", "a"], ["vip", 3, "*", "b"], ["x", "*", "*", "c"]])
    source, _ = table_source(table, TableResult)
    assert "    try:\n        hit = v0 == 'vip'\n" in source
    assert "hit = v1 == 3\n" in source and "hit = (v1 == 3)" not in source
    assert table.evaluate(rec("vip", 3), {}).rows == [0]


def test_a_guard_python_refuses_skips_its_rows_and_goes_on() -> None:
    table = make([["*", ">= 3", "vip", "a"], ["*", ">= 3", "*", "b"], ["*", "*", "*", "c"]])
    assert table.evaluate(rec(size="x", tags="vip"), {}) == TableResult([2], ["c"], False, [])
    assert table.evaluate(rec(size=3, tags="no"), {}) == TableResult([1], ["b"], False, [])


def test_collect_and_unique_nest_shared_tests_too() -> None:
    rows = [["vip", "*", "*", "a"], ["vip", "*", "*", "b"], ["*", "*", "*", "c"]]
    collect = make(rows, "collect")
    source, _ = table_source(collect, TableResult)
    assert "        m.append(0)\n        m.append(1)\n    m.append(2)\n" in source
    assert collect.evaluate(rec("vip"), {}).values == [["a", "b", "c"]]
    assert collect.evaluate(rec("x"), {}).values == [["c"]]
    with pytest.raises(UniqueHitError) as caught:
        make(rows, "unique").evaluate(rec("vip"), {})
    assert caught.value.rows == [1, 2, 3]


def test_nesting_stops_at_its_depth_limit() -> None:
    width = MAX_NESTING + 3
    inputs = tuple(f"n + {j}" for j in range(width))
    rows = [[j for j in range(width)] + ["deep"], [*range(width - 1), "*", "shallow"]]
    table = make(rows, inputs=inputs)
    source, _ = table_source(table, TableResult)
    deepest = max(len(line) - len(line.lstrip()) for line in source.splitlines())
    assert deepest == 4 * (MAX_NESTING + 1)
    assert table.evaluate({"n": 0}, {}).values == ["deep"]
    shallow = make(list(reversed(rows)), inputs=inputs)
    assert shallow.evaluate({"n": 0}, {}).values == ["shallow"]
    assert make(rows, inputs=inputs).evaluate({"n": 1}, {}).values is None


# -- against the interpreter, on random tables ------------------------------------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.floats(-3, 12, allow_nan=False),
    st.sampled_from(["vip", "normal", "trial", "urgent", "", "5"]),
)
VALUES = st.one_of(
    SCALARS, st.lists(st.sampled_from(["urgent", "vip", 1, 2]), max_size=3), st.just("very urgent")
)
NUM = st.integers(-2, 10)
WORD = st.sampled_from(["vip", "normal", "trial", "urgent", "1", "true"])
CELLS = st.one_of(
    st.sampled_from(["*", "-", "", None]),
    st.sampled_from(["vip", ">= 3", "1..5", "has urgent", "!= trial"]),  # shared by rows
    st.builds(lambda op, v: f"{op} {v}", st.sampled_from([">=", "<=", ">", "<", "==", "!="]), NUM),
    st.builds(lambda op, w: f"{op} {w}", st.sampled_from(["==", "!="]), WORD),
    st.builds(lambda a, b: f"{min(a, b)}..{max(a, b)}", NUM, NUM),
    st.builds(
        lambda op, ws: f"{op} [{', '.join(ws)}]",
        st.sampled_from(["in", "not in"]),
        st.lists(WORD | NUM.map(str), min_size=1, max_size=3),
    ),
    st.builds(lambda w: f"has {w}", WORD | NUM.map(str)),
    WORD,
    NUM,
    st.booleans(),
)
OUTPUTS = st.one_of(NUM, WORD, st.sampled_from(["= size + 1", "= tier", "= 7"]))


@st.composite
def tables(draw: st.DrawFn) -> CompiledDecisionTable:
    hit = draw(st.sampled_from(["first", "unique", "collect"]))
    inputs = draw(st.sampled_from([INPUTS, ("tier", "size * 1", "tags"), ("size", "size")]))
    rows = draw(
        st.lists(
            st.tuples(st.lists(CELLS, min_size=len(inputs), max_size=len(inputs)), OUTPUTS),
            min_size=1,
            max_size=6,
        )
    )
    default = draw(st.none() | OUTPUTS.map(lambda v: [v]))
    return make([[*cells, out] for cells, out in rows], hit, inputs=inputs, default=default)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(["tier", "size", "tags"]), unique=True))
    return {key: draw(VALUES) for key in keys}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.lists(records(), min_size=1, max_size=6))
def test_the_generated_function_decides_as_the_interpreter(
    table: CompiledDecisionTable, batch: list[dict[str, Any]]
) -> None:
    for r in batch:
        assert outcome(generated, table, r) == outcome(interpreted, table, r)
