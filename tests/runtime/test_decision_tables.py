"""Decision tables at run time, per hit policy and aggregate, on both backends."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.store import T_DECISION, T_RECORD, Store
from tests.runtime.helpers import count
from tests.runtime.small import small_bundle

FORM = """\
kind: form
version: 1
entity: order
fields:
  tier: {type: enum, values: [vip, normal, trial]}
  size: {type: integer}
  desk: {type: string}
  tags: {type: list, of: string}
  points: {type: integer}
  top: {type: integer}
  low: {type: integer}
  hits: {type: integer}
  total: {type: integer}
  most: {type: integer}
"""
TABLES = """\
kind: decision_table
version: 1
name: desk
entity: order
hit: unique
inputs: [tier, size]
outputs: [desk]
rows:
  - ["!= vip", "1..5", small]
  - ["!= trial", ">= 5", big]
  - [vip, "< 5", vip]
---
kind: decision_table
version: 1
name: tags
entity: order
hit: collect
inputs: [tier, size]
outputs: [tags, points, top, low, hits]
aggregate: {points: sum, top: max, low: min, hits: count}
rows:
  - ["*", ">= 1", one, 1, 1, 1, x]
  - ["*", ">= 10", ten, 10, 10, 10, x]
  - [vip, "*", vip, 100, 100, 100, x]
default: [[none], 0, 0, 0, 0]
---
kind: decision_table
version: 1
name: totals
entity: order
hit: collect
aggregate: sum
inputs: [size]
outputs: [total]
rows:
  - [">= 1", 2]
  - [">= 2", 3]
---
kind: decision_table
version: 1
name: first
entity: order
inputs: [size]
outputs: [most]
rows:
  - [">= 1", 1]
  - [">= 2", 2]
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return small_bundle(tmp_path / "defs", {"forms/order.yaml": FORM, "rules/order.yaml": TABLES})


@pytest.fixture
def rt(bundle: Bundle, store: Store, tmp_path: Path) -> Runtime:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0))
    return Runtime(bundle, store, clock, evidence_dir=tmp_path / "evidence")


KEYS = ("desk", "tags", "points", "top", "low", "hits", "total", "most")


def test_each_hit_policy_and_aggregate(rt: Runtime) -> None:
    small = rt.create("order", {"tier": "normal", "size": 3})
    assert [small.data[k] for k in KEYS] == ["small", ["one"], 1, 1, 1, 1, 5, 1]
    big = rt.create("order", {"tier": "vip", "size": 12})
    assert [big.data[k] for k in KEYS] == [
        "big",
        ["one", "ten", "vip"],
        111,
        100,
        1,
        3,
        5,
        1,
    ]
    nothing = rt.create("order", {"tier": "trial", "size": 0})
    # unique: no row and no default leaves desk unset; collect: the default as written;
    # first and the summed table: nothing matched, nothing set
    assert [nothing.data.get(k) for k in KEYS] == [None, ["none"], 0, 0, 0, 0, None, None]


def test_unique_with_two_matching_rows_refuses_the_command(rt: Runtime, store: Store) -> None:
    with pytest.raises(Refused) as refused:
        rt.create("order", {"tier": "normal", "size": 5})  # rows 1 and 2 both match
    assert str(refused.value) == "decision table 'desk' (hit: unique) matched rows 1 and 2"
    assert [p.to_dict() for p in refused.value.problems] == [
        {
            "code": "overlapping-rows",
            "message": "make the rows exclusive, or use hit: first",
            "rule": "desk",
            "detail": {"rows": [1, 2]},
        }
    ]
    assert count(store, T_RECORD) == 0
    order = rt.create("order", {"tier": "normal", "size": 4})
    with pytest.raises(Refused):
        rt.update(order.id, {"size": 5})
    assert rt.get(order.id).data["size"] == 4  # the update did not happen
    with store.read() as conn:
        outcomes = conn.execute(
            select(T_DECISION.c.rule, T_DECISION.c.outcome, T_DECISION.c.detail).where(
                T_DECISION.c.rule == "desk"
            )
        ).all()
    assert [(r, o, d["rows"]) for r, o, d in outcomes] == [("desk", "['small']", [1])]
