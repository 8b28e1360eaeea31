"""A lookup that finds no row refuses the command (or gives the table's default row)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.core import Runtime
from runtime.errors import Problem, Refused
from runtime.store import T_RECORD, Store
from tests.runtime.helpers import count, make_runtime

BUNDLE = """\
kind: bundle
version: 1
name: caps
timezone: Asia/Shanghai
roles: [rep]
user_fields:
  region: {type: string}
users:
  li.wei: {name: Li Wei, roles: [rep], region: sichuan}
tables:
  caps:
    key: [kind, region]
    columns: {kind: string, region: string, max_price: decimal}
    rows:
      - {kind: herbal, region: sichuan, max_price: 38.5}
  rates:
    key: [region]
    columns: {region: string, rate: decimal}
    rows:
      - {region: sichuan, rate: 0.1}
    default: {rate: 0.25}
  owners:
    key: [region]
    columns: {region: string, owner_region: string}
    rows:
      - {region: sichuan, owner_region: sichuan}
"""
FORMS = """\
kind: form
version: 1
entity: order
title: Order
fields:
  kind: {type: string, required: true}
  region: {type: string, required: true}
  price: {type: decimal}
  cap: {type: decimal, computed: "lookup('caps', kind, region).max_price"}
  tax: {type: decimal, computed: "price * lookup('rates', region).rate"}
---
kind: form
version: 1
entity: visit
title: Visit
fields:
  region: {type: string, required: true}
  price: {type: decimal}
---
kind: form
version: 1
entity: quote
title: Quote
fields:
  region: {type: string, required: true}
  price: {type: decimal}
  tax: {type: decimal, computed: "price * lookup('rates', region).rate"}
---
kind: form
version: 1
entity: deal
title: Deal
fields:
  region: {type: string, required: true}
  fit: {type: decimal}
---
kind: scoring
version: 1
name: deal_fit
entity: deal
title: Deal fit
output: fit
missing: zero
features:
  rate: {value: "lookup('owners', region).owner_region == 'sichuan'", weight: 1}
---
kind: form
version: 1
entity: claim
title: Claim
fields:
  region: {type: string, required: true}
  desk: {type: string}
---
kind: decision_table
version: 1
name: claim_desk
entity: claim
title: Claim desk
inputs: ["lookup('owners', region).owner_region"]
outputs: [desk]
rows:
  - [sichuan, west]
  - ["*", central]
---
kind: validation
version: 1
name: visit_cap
entity: visit
title: Price cap
on: [save]
refuse_if: "price > lookup('caps', 'herbal', region).max_price"
message: "Price {{ price }} is above the cap."
---
kind: form
version: 1
entity: lead
title: Lead
fields:
  region: {type: string, required: true}
---
kind: routing
version: 1
name: lead_routing
entity: lead
title: Lead routing
candidates: {role: rep}
eligible: "candidate.region == lookup('owners', region).owner_region"
strategy: least_loaded
fallback_queue: unrouted
"""

SICHUAN_HERBAL = {"kind": "herbal", "region": "sichuan", "price": 10.0}


def caps_bundle(tmp: Path) -> Bundle:
    root = tmp / "defs"
    (root / "forms").mkdir(parents=True)
    (root / "bundle.yaml").write_text(BUNDLE + "queues:\n  unrouted: {title: Unrouted}\n")
    (root / "forms" / "order.yaml").write_text(FORMS)
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    return make_runtime(store, tmp_path, caps_bundle(tmp_path))


def test_a_computed_lookup_reads_the_row(rt: Runtime) -> None:
    record = rt.create("order", SICHUAN_HERBAL)
    assert (record.data["cap"], record.data["tax"]) == (38.5, 1.0)


def test_a_computed_lookup_without_a_row_refuses_the_create(rt: Runtime, store: Store) -> None:
    with pytest.raises(Refused) as caught:
        rt.create("order", {**SICHUAN_HERBAL, "kind": "antibiotics", "region": "tibet"})
    message = "no row of table 'caps' for ('antibiotics', 'tibet')"
    assert caught.value.message == f"{message} (computed field 'cap')"
    assert caught.value.problems == [
        Problem(
            "no-row",
            message,
            field="cap",
            expression="lookup('caps', kind, region).max_price",
            detail={"table": "caps", "key": ["antibiotics", "tibet"]},
        )
    ]
    assert count(store, T_RECORD) == 0


def test_a_computed_lookup_without_a_row_refuses_the_update(rt: Runtime) -> None:
    record = rt.create("order", SICHUAN_HERBAL)
    with pytest.raises(Refused) as caught:
        rt.update(record.id, {"kind": "antibiotics"})
    assert [(p.code, p.field) for p in caught.value.problems] == [("no-row", "cap")]
    assert rt.get(record.id).data["kind"] == "herbal"


def test_a_table_default_row_answers_when_no_row_fits(rt: Runtime) -> None:
    # 'rates' has a row for sichuan (0.1) and a default row (0.25) for every other region.
    assert rt.create("quote", {"region": "sichuan", "price": 100.0}).data["tax"] == 10.0
    tibet = rt.create("quote", {"region": "tibet", "price": 100.0})
    assert tibet.data["tax"] == 25.0
    assert rt.update(tibet.id, {"price": 20.0}).data["tax"] == 5.0
    # 'caps' has no default row: the same region is refused there.
    with pytest.raises(Refused) as caught:
        rt.create("order", {"kind": "herbal", "region": "tibet", "price": 100.0})
    assert caught.value.problems[0].message == "no row of table 'caps' for ('herbal', 'tibet')"


def test_a_validation_lookup_without_a_row_refuses_with_the_rule(rt: Runtime) -> None:
    assert rt.create("visit", {"region": "sichuan", "price": 30.0}).data["price"] == 30.0
    with pytest.raises(Refused) as caught:
        rt.create("visit", {"region": "tibet", "price": 30.0})
    (problem,) = caught.value.problems
    assert (problem.code, problem.rule) == ("rule-refused", "visit_cap")
    assert problem.message == (
        "rule 'visit_cap' could not be checked: cannot evaluate "
        "\"price > lookup('caps', 'herbal', region).max_price\": "
        "no row of table 'caps' for ('herbal', 'tibet')"
    )


def test_a_routing_lookup_without_a_row_refuses_instead_of_routing_to_nobody(
    rt: Runtime, store: Store
) -> None:
    assert rt.create("lead", {"region": "sichuan"}).owner == "li.wei"
    with pytest.raises(Refused) as caught:
        rt.create("lead", {"region": "tibet"})
    assert caught.value.problems == [
        Problem(
            "no-row",
            "no row of table 'owners' for 'tibet'",
            expression="candidate.region == lookup('owners', region).owner_region",
            detail={"table": "owners", "key": ["tibet"]},
        )
    ]
    assert count(store, T_RECORD) == 1


def test_a_score_feature_lookup_without_a_row_refuses_instead_of_scoring_zero(
    rt: Runtime,
) -> None:
    assert rt.create("deal", {"region": "sichuan"}).data["fit"] == 100.0
    with pytest.raises(Refused) as caught:
        rt.create("deal", {"region": "tibet"})
    assert [(p.code, p.message, p.expression) for p in caught.value.problems] == [
        (
            "no-row",
            "no row of table 'owners' for 'tibet'",
            "lookup('owners', region).owner_region == 'sichuan'",
        )
    ]


def test_a_decision_table_lookup_without_a_row_refuses_instead_of_deciding_nothing(
    rt: Runtime, store: Store
) -> None:
    assert rt.create("claim", {"region": "sichuan"}).data["desk"] == "west"
    with pytest.raises(Refused) as caught:
        rt.create("claim", {"region": "tibet"})
    assert [(p.code, p.message, p.expression) for p in caught.value.problems] == [
        ("no-row", "no row of table 'owners' for 'tibet'", "lookup('owners', region).owner_region")
    ]
    assert count(store, T_RECORD) == 1
