"""Decision-table output cells written `= expression`, on both backends."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.bundle import Bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import Store
from tests.runtime.small import small_bundle

FORM = """\
kind: form
version: 1
entity: order
fields:
  tier: {type: enum, values: [vip, normal]}
  quantity: {type: integer}
  rate: {type: decimal}
  charge: {type: decimal}
  note: {type: string}
  lines: {type: list, of: decimal}
  total: {type: decimal}
  banner: {type: string}
"""
TABLES = """\
kind: decision_table
version: 1
name: charge
entity: order
inputs: [tier, quantity]
outputs: [charge, note]
rows:
  - [vip, "*", "= 0", waived]
  - ["*", ">= 1", "= max(rate * quantity, 50)", "= 'list ' + lower(tier)"]
default: ["= 50", minimum]
---
kind: decision_table
version: 1
name: lines
entity: order
hit: collect
aggregate: {total: sum}
inputs: [quantity]
outputs: [lines, total]
rows:
  - [">= 1", "= rate * quantity", "= rate * quantity"]
  - [">= 10", "= -rate", "= -rate"]
---
kind: decision_table
version: 1
name: banner
entity: order
inputs: [quantity]
outputs: [banner]
rows:
  - [">= 1", "= 'x' * quantity"]
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return small_bundle(tmp_path / "defs", {"forms/order.yaml": FORM, "rules/order.yaml": TABLES})


@pytest.fixture
def rt(bundle: Bundle, store: Store, tmp_path: Path) -> Runtime:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0))
    return Runtime(bundle, store, clock, evidence_dir=tmp_path / "evidence")


def _decision(rt: Runtime, record_id: str, rule: str) -> dict[str, Any]:
    found = [d for d in rt.explain(record_id, "decision_table") if d["rule"] == rule]
    return {k: found[-1][k] for k in ("rule", "outcome", "detail")}


def test_the_matched_rows_expressions_give_the_outputs(rt: Runtime) -> None:
    order = rt.create("order", {"tier": "normal", "quantity": 12, "rate": "7.5"})
    assert [order.data[k] for k in ("charge", "note", "lines", "total", "banner")] == [
        Decimal("90.0"),
        "list normal",
        [Decimal("90.0"), Decimal("-7.5")],
        Decimal("82.5"),
        "x" * 12,
    ]
    small = rt.create("order", {"tier": "normal", "quantity": 2, "rate": "7.5"})
    assert (small.data["charge"], small.data["note"]) == (Decimal("50"), "list normal")
    vip = rt.create("order", {"tier": "vip", "quantity": 2, "rate": "7.5"})
    assert (vip.data["charge"], vip.data["note"]) == (Decimal("0"), "waived")
    none = rt.create("order", {"tier": "normal", "quantity": 0})
    assert (none.data["charge"], none.data["note"]) == (Decimal("50"), "minimum")


def test_explain_shows_each_expression_and_its_value(rt: Runtime) -> None:
    order = rt.create("order", {"tier": "normal", "quantity": 12, "rate": "7.5"})
    assert _decision(rt, order.id, "charge") == {
        "rule": "charge",
        "outcome": "[90.0, 'list normal']",
        "detail": {
            "inputs": ["tier", "quantity"],
            "rows": [2],
            "outputs": [90.0, "list normal"],
            "computed": [
                {
                    "row": 2,
                    "output": "charge",
                    "expression": "max(rate * quantity, 50)",
                    "value": 90.0,
                },
                {
                    "row": 2,
                    "output": "note",
                    "expression": "'list ' + lower(tier)",
                    "value": "list normal",
                },
            ],
        },
    }
    assert _decision(rt, order.id, "lines")["detail"]["computed"] == [
        {"row": 1, "output": "lines", "expression": "rate * quantity", "value": 90.0},
        {"row": 1, "output": "total", "expression": "rate * quantity", "value": 90.0},
        {"row": 2, "output": "lines", "expression": "-rate", "value": -7.5},
        {"row": 2, "output": "total", "expression": "-rate", "value": -7.5},
    ]
    none = rt.create("order", {"tier": "normal", "quantity": 0})
    assert _decision(rt, none.id, "charge")["detail"] == {
        "inputs": ["tier", "quantity"],
        "rows": [],
        "outputs": [50, "minimum"],
        "computed": [{"row": "default", "output": "charge", "expression": "50", "value": 50}],
    }
    # a table of literal outputs keeps its payload as before: no `computed`
    assert "computed" not in _decision(rt, none.id, "banner")["detail"]


def test_a_failing_output_expression_sets_nothing_and_is_recorded(rt: Runtime) -> None:
    order = rt.create("order", {"tier": "normal", "quantity": 100001, "rate": "1"})
    assert order.data.get("banner") is None
    assert order.data["charge"] == Decimal("100001")  # the other tables still decide
    error = "the result would be longer than 100000 characters or items"
    assert _decision(rt, order.id, "banner") == {
        "rule": "banner",
        "outcome": "failed",
        "detail": {"error": f"cannot evaluate \"'x' * quantity\": {error}"},
    }
    assert [
        (d["rule"], d["outcome"], d["detail"]) for d in rt.explain(order.id, "evaluation_failed")
    ] == [
        (
            "banner",
            "decision_table",
            {
                "where": "decision_table",
                "rule": "banner",
                "output": "banner",
                "expression": "'x' * quantity",
                "error": error,
            },
        )
    ]
