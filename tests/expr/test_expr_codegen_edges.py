"""Generated code and table indexes, pinned where the mutation run found them loose.

The exact code each body gets (plain operators or limited helpers, lazy aggregates), the
globals it binds, how a table is indexed (one key column by value, several by tuple, ranges
sorted by start) and the cache of table indexes.
"""

from __future__ import annotations

import datetime as dt

import pytest
from expr_scopes import PRICE_CAPS, SCOPE

from engine.expr import (
    EMPTY,
    EvaluationError,
    ExprType,
    MissingRow,
    Scope,
    TableSig,
    compile_expression,
)
from engine.expr import tables as tb
from engine.expr.checker import Checker
from engine.expr.codegen import build_paths, generated_source
from engine.expr.limits import TABLE_INDEX_CACHE
from engine.expr.parse import parse

T = ExprType


def checked(source: str, scope: Scope = SCOPE) -> Checker:
    parsed = parse(source)
    assert parsed.tree is not None
    checker = Checker(parsed, scope)
    checker.visit(parsed.tree.body)
    return checker


# --- generated code and table indexes -----------------------------------------------------

ONE_KEY = TableSig(
    name="regions",
    key=("region",),
    columns={"region": T.STRING, "manager": T.STRING},
    rows=({"region": "north", "manager": "ann"}, {"region": "north", "manager": "bob"}),
)
TABLES = Scope(
    record={"region": T.STRING, "product_class": T.STRING, "t": T.DATETIME},
    context={"now": T.DATETIME},
    tables={"regions": ONE_KEY, "price_caps": PRICE_CAPS},
)


def test_a_one_column_key_is_looked_up_by_its_value_on_the_fast_path() -> None:
    fast, safe = build_paths(checked("lookup('regions', region).manager", TABLES))
    assert fast({"region": "north"}, EMPTY) == "ann"  # the first row of a key wins
    assert safe({"region": "north"}, EMPTY) == "ann"
    assert (
        compile_expression("lookup('regions', region).manager", TABLES)({"region": "north"})
        == "ann"
    )


def test_a_two_column_key_is_looked_up_by_its_tuple_on_the_fast_path() -> None:
    source = "lookup('price_caps', product_class, region).max_unit_price"
    fast, _ = build_paths(checked(source, TABLES))
    assert fast({"product_class": "B", "region": "north"}, EMPTY) == 20.0


@pytest.mark.parametrize(
    ("source", "fast", "safe"),
    [
        ("+score", "(+r['score'])", "_n_pos(r.get('score'))"),
        ("-score", "(-r['score'])", "_n_neg(r.get('score'))"),
        ("score + 1", "(r['score'] + 1)", "_n_add(r.get('score'), 1)"),
        ("name + 'x'", "_s_add(r['name'], 'x')", "_n_add(r.get('name'), 'x')"),
        ("score ** 2", "_pow(r['score'], 2)", "_n_pow(r.get('score'), 2)"),
        ("score % 7", "(r['score'] % 7)", "_n_mod(r.get('score'), 7)"),
        ("extra % 3", "_mod(r['extra'], 3)", "_n_mod(r.get('extra'), 3)"),
        ("'a' in keywords", "('a' in r['keywords'])", "(_n_in('a', r.get('keywords')))"),
        (
            "'a' not in keywords",
            "('a' not in r['keywords'])",
            "((not _n_in('a', r.get('keywords'))))",
        ),
        ("-5", "-5", "-5"),
        ("+5", "5", "5"),
        ("-None", "None", "None"),
    ],
)
def test_generated_operators(source: str, fast: str, safe: str) -> None:
    assert generated_source(checked(source)) == {"fast": fast, "safe": safe}


def test_generated_code_names_its_globals() -> None:
    source = "matches(region, '^n') and lookup('regions', region).manager == 'ann'"
    expr = compile_expression(source, TABLES)
    assert expr({"region": "north"}) is True
    names = {name for name in expr.fn.__globals__ if name[:2] != "__"}
    assert names == {
        "_expr", "_EMPTY", "_ABSORBED", "_Error", "_fail", "_rx0", "_t1", "_ts2",
        "_fn_matches", "_fs_matches", "_n_lookup", "_n_get",
    }  # fmt: skip
    source = "hours_since(t)"
    assert generated_source(checked(source, TABLES)) == {
        "fast": "_fn_hours_since(r['t'], c['now'])",
        "safe": "_fs_hours_since(r.get('t'), c.get('now'))",
    }


def test_a_bound_constant_and_the_code_object_name() -> None:
    source = "order_date > date(2026, 1, 1) and name != " + repr("x" * 70)
    expr = compile_expression(source, SCOPE)
    assert expr({"order_date": dt.date(2026, 1, 2), "name": "y"}) is True
    assert expr.fn.__globals__["_k0"] == dt.date(2026, 1, 1)
    assert expr.fn.__code__.co_filename == f"<expression {source[:60]!r}>"


def test_a_range_table_uses_its_range_helper() -> None:
    source = "lookup('seasonal', region, order_date).coef"
    expr = compile_expression(source, SCOPE)
    assert expr({"region": "north", "order_date": dt.date(2026, 2, 1)}) == 1.2
    assert "_n_lookup_range" in expr.fn.__globals__


def test_a_list_as_a_key_value_is_in_no_table() -> None:
    expr = compile_expression("lookup('price_caps', extra, region)", SCOPE)
    with pytest.raises(MissingRow) as caught:
        expr({"extra": ["A"], "region": "north"})
    assert caught.value.key == (["A"], "north")


def test_ranges_with_the_same_start_take_the_later_row() -> None:
    table = TableSig(
        "rates",
        (),
        {"start": T.DATE, "end": T.DATE, "rate": T.NUMBER},
        (
            {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 1, 31), "rate": 1.0},
            {"start": dt.date(2026, 1, 1), "end": None, "rate": 2.0},
        ),
        range=("start", "end"),
    )
    expr = compile_expression(
        "lookup('rates', day).rate", Scope(record={"day": T.DATE}, tables={"rates": table})
    )
    assert expr({"day": dt.date(2026, 1, 15)}) == 2.0


def test_table_indexes_are_cached_and_the_oldest_is_dropped() -> None:
    tables = [
        TableSig(f"t{n}", ("k",), {"k": T.INTEGER}, ({"k": n},))
        for n in range(TABLE_INDEX_CACHE + 1)
    ]
    first = tb.table_index(tables[0])
    assert tb.table_index(tables[0]) is first
    for table in tables[1:]:
        tb.table_index(table)
    assert len(tb._TABLE_INDEXES) == TABLE_INDEX_CACHE
    assert id(tables[0]) not in tb._TABLE_INDEXES
    assert tb._TABLE_INDEXES[id(tables[-1])][0] is tables[-1]
    assert tb.table_index(tables[0]) is not first
    assert tb.table_index(tables[0]) == {0: {"k": 0}}


def test_a_list_display_of_fields_is_built_in_both_bodies() -> None:
    assert generated_source(checked("[score, stock_days]")) == {
        "fast": "[r['score'], r['stock_days']]",
        "safe": "[r.get('score'), r.get('stock_days')]",
    }
    expr = compile_expression("[score, stock_days]", SCOPE)
    assert [expr({"score": 1, "stock_days": 2}), expr({})] == [[1, 2], [None, None]]


def test_the_safe_path_asks_for_evidence_and_keeps_a_missing_sign() -> None:
    counter = {"evidence_count": lambda kind, stays: {"shelf_photo": 2}.get(kind, 0)}
    total = compile_expression("score + evidence_count('shelf_photo')", SCOPE)
    assert [total({}, counter), total({"score": 1}, counter)] == [None, 3]
    plus = compile_expression("+score", SCOPE)
    assert [plus({}), plus({"score": 2})] == [None, 2]
    with pytest.raises(EvaluationError) as caught:
        compile_expression("evidence_count('shelf_photo')", SCOPE)({}, {})
    assert caught.value.message == (
        "evidence_count('shelf_photo') needs a record's files in the context"
    )
