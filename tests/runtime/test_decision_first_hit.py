"""A `hit: first` table through the runtime, on both backends: the generated decide path
keeps the explain payload whole (rows used, outputs, outcome) at bounds and on no match."""

from __future__ import annotations

from datetime import datetime
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
entity: deal
fields:
  segment: {type: enum, values: [enterprise, smb]}
  amount: {type: integer}
  tier: {type: string}
  rate: {type: decimal}
"""
TABLE = """\
kind: decision_table
version: 1
name: tier
entity: deal
inputs: [segment, amount]
outputs: [tier, rate]
rows:
  - [enterprise, ">= 100", gold, 0.1]
  - [enterprise, "10..99", silver, "= amount / 1000"]
  - ["*", "< 10", small, 0]
default: [none, 0]
"""


@pytest.fixture
def rt(tmp_path: Path, store: Store) -> Runtime:
    bundle: Bundle = small_bundle(
        tmp_path / "defs", {"forms/deal.yaml": FORM, "rules/tier.yaml": TABLE}
    )
    return Runtime(bundle, store, FakeClock(datetime(2026, 3, 2, 9, 0)), evidence_dir=tmp_path)


def decided(rt: Runtime, data: dict[str, Any]) -> tuple[Any, ...]:
    record = rt.create("deal", data)
    found = rt.explain(record.id, "decision_table")[-1]
    return record.data.get("tier"), found["outcome"], found["detail"]


def test_the_first_matching_row_decides_at_each_bound(rt: Runtime) -> None:
    assert decided(rt, {"segment": "enterprise", "amount": 100}) == (
        "gold",
        "['gold', 0.1]",
        {"inputs": ["segment", "amount"], "rows": [1], "outputs": ["gold", 0.1]},
    )
    tier, outcome, detail = decided(rt, {"segment": "enterprise", "amount": 99})
    assert (tier, outcome) == ("silver", "['silver', 0.099]")
    assert (detail["rows"], detail["outputs"]) == ([2], ["silver", 0.099])
    assert detail["computed"] == [
        {"row": 2, "output": "rate", "expression": "amount / 1000", "value": 0.099}
    ]
    assert decided(rt, {"segment": "enterprise", "amount": 9})[2]["rows"] == [3]
    assert decided(rt, {"segment": "smb", "amount": 10})[:2] == ("none", "['none', 0]")


def test_a_missing_input_matches_only_stars(rt: Runtime) -> None:
    assert decided(rt, {"amount": 150})[2] == {
        "inputs": ["segment", "amount"],
        "rows": [],
        "outputs": ["none", 0],
    }
    assert decided(rt, {"segment": "enterprise"})[:2] == ("none", "['none', 0]")
    assert decided(rt, {"amount": 5})[2]["rows"] == [3]
