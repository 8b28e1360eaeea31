"""docs/expressions.md stays in step with the code: tables, functions, examples."""

from __future__ import annotations

import re

import pytest
from expr_scopes import CONTEXT, SCOPE, full_record

from engine.expr import FUNCTIONS, compile_expression, limits
from engine.expr.docs import DOC, render

TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = [
    line.strip()
    for block in re.findall(r"```expression\n(.*?)```", TEXT, re.S)
    for line in block.splitlines()
    if line.strip()
]


def test_generated_tables_are_current() -> None:
    assert render(TEXT) == TEXT, "run: python -m engine.expr.docs"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_documented(name: str) -> None:
    assert f"| `{name}(" in TEXT


@pytest.mark.parametrize("name", [n for n in dir(limits) if n.isupper()])
def test_every_limit_is_documented(name: str) -> None:
    assert f"| `{name}` |" in TEXT


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 15


# What each documented example gives: (on full_record() at NOW, on an empty record). Worked by
# hand: the lead quotes 12.0 against a cap of 10.0 (A, north); it entered the stage 84 h before
# NOW (hours_in_stage() is 84, in stage 'quote'); stock_days 3 -> 3/14; north's seasonal
# coefficient on 2026-02-01 is 1.2 (12.0 * 1.2);
# won_rate(north) is 0.5; 2 shelf photos in this stay; the lines sum to 2.5 (None skipped);
# 2026-02-01 is a Sunday (ISO weekday 7); 2026-02-01 + 30 days is after NOW's date; " Ann Lee "
# is not 'acme'. A missing field makes a comparison False and arithmetic None (docs: missing values).
RESULTS: dict[str, tuple[object, object]] = {
    "quote_price > lookup('price_caps', product_class, region).max_unit_price": (True, False),
    "hours_since(stage_entered_at) > 72": (True, False),
    "'invoice' in keywords": (True, False),
    "tier == 'VIP' and score >= 82 and ('invoice' in keywords or stock_days < 7)": (True, False),
    "region == params.region and score > params.threshold": (True, False),
    "'urgent' in tags or days_since(order_date) > 30": (True, False),
    "clamp(stock_days / 14, 0, 1)": (pytest.approx(3 / 14), None),
    "(stock_days < 7) * 0.5 + (tier == 'VIP') * 0.5": (1.0, 0.0),
    "coalesce(quote_price, 0) * 1.2": (pytest.approx(14.4), 0.0),
    "lookup('seasonal', region, order_date).coef * quote_price": (pytest.approx(14.4), None),
    "metric('won_rate', region) < 0.25": (False, False),
    "evidence_count('shelf_photo') < 3": (True, True),
    "sum(l.amount for l in lines if l.sku != 'sample') > 1000": (False, False),
    "any(matches(k, '^inv') for k in keywords)": (True, False),
    "count(tags, 'urgent') + len(keywords) >= 2": (True, False),
    "order_date + days(30) < date(now)": (False, False),
    "in_hours(now - stage_entered_at) > 72": (True, False),
    "hours_in_stage() > 72": (True, False),
    # the context's assignee: reviewer rita, no approver (missing: is_missing is true)
    "is_missing(assignee('approver')) or assignee('approver') != assignee('reviewer')": (
        True,
        True,
    ),
    "stage == 'quote' and hours_in_stage() > 48": (True, False),
    "weekday(order_date) in [6, 7]": (True, False),
    "lower(trim(name)) == 'acme'": (False, False),
}


def test_every_documented_example_states_its_result() -> None:
    assert sorted(set(EXAMPLES)) == sorted(RESULTS)


@pytest.mark.parametrize("source", EXAMPLES)
def test_documented_examples_compile_and_run(source: str) -> None:
    expr = compile_expression(source, SCOPE)
    on_full, on_empty = RESULTS[source]
    full, empty = expr(full_record(), CONTEXT), expr({}, CONTEXT)
    assert (full, empty) == (on_full, on_empty)
    for got, want in ((full, on_full), (empty, on_empty)):
        assert isinstance(got, bool) is isinstance(want, bool)  # True is not 1.0
        assert (got is None) is (want is None)
