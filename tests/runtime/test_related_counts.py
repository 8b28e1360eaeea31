"""An expression counts related records of another entity through a metric, no counter field.

`metric('refused_refunds', customer_id)` counts the refunds of the record's customer that
were refused, read from the store when the command runs: on SQLite and PostgreSQL (the
`store` fixture), against a small bundle written here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.store import Store
from tests.runtime.helpers import make_runtime
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: related-counts
timezone: UTC
roles: [rep]
users:
  ann: {name: Ann, roles: [rep]}
""",
    "forms/refund.yaml": """
kind: form
version: 1
entity: refund
fields:
  customer_id: {type: string, required: true}
  decision: {type: enum, values: [pending, refused, paid], default: pending}
""",
    "forms/complaint.yaml": """
kind: form
version: 1
entity: complaint
fields:
  customer_id: {type: string, required: true}
  wants_refund: {type: boolean, default: false}
""",
    "rules/checks.yaml": """
kind: metric
version: 1
name: refused_refunds
entity: refund
measure: count
where: {decision: refused}
group_by: [customer_id]
---
kind: validation
version: 1
name: no_refund_after_two_refusals
entity: complaint
on: [save]
refuse_if: "wants_refund and coalesce(metric('refused_refunds', customer_id), 0) >= 2"
message: "Two refunds of this customer were refused: a manager decides."
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("related_counts"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def refund(rt: Runtime, customer: str, decision: str) -> None:
    rt.create("refund", {"customer_id": customer, "decision": decision}, actor="ann")


def complaint(rt: Runtime, customer: str) -> str:
    record = rt.create("complaint", {"customer_id": customer, "wants_refund": True}, actor="ann")
    return str(record.id)


def test_refusals_of_the_same_customer_are_counted_when_the_command_runs(rt: Runtime) -> None:
    refund(rt, "c1", "refused")
    refund(rt, "c1", "paid")
    refund(rt, "c2", "refused")
    refund(rt, "c2", "refused")
    first = complaint(rt, "c1")  # one refusal of c1: the two of c2 do not count
    assert rt.get(first).data["wants_refund"] is True
    with pytest.raises(Refused) as caught:
        complaint(rt, "c2")
    assert [p.message for p in caught.value.problems] == [
        "Two refunds of this customer were refused: a manager decides."
    ]


def test_a_later_refusal_counts_without_a_counter_field(rt: Runtime) -> None:
    refund(rt, "c3", "refused")
    kept = complaint(rt, "c3")
    refund(rt, "c3", "refused")
    with pytest.raises(Refused) as caught:
        rt.update(kept, {"wants_refund": True, "customer_id": "c3"}, actor="ann")
    assert caught.value.problems[0].message.startswith("Two refunds of this customer")
    assert rt.update(kept, {"wants_refund": False}, actor="ann").data["wants_refund"] is False
