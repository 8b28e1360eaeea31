"""Conditional stages (`only_when`) and the stage path (issue 11).

Every test runs on SQLite and PostgreSQL (the `store` fixture) against a small bundle
written here: a stage whose `only_when` is false is skipped by `forward: next` and a
move into it is refused; the condition is read on the record at each move until the
record reaches the stage, and no longer once it is there; a failing condition makes the
stage apply and is recorded; the path says which stages apply and why.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.bundle import Bundle
from runtime import stage_path
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.guide import guide_of, path_of
from runtime.records import RecordView
from runtime.reports import funnel
from runtime.store import Store
from tests.runtime.helpers import make_runtime
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: conditional-stages
timezone: UTC
roles: [rep]
users:
  ann: {name: Ann, roles: [rep]}
""",
    "forms/contract.yaml": """
kind: form
version: 1
entity: contract
fields:
  customer: {type: string}
  amount: {type: integer}
  label: {type: string}
  copies: {type: integer}
  legal_contact: {type: string}
""",
    "workflows/contract_flow.yaml": """
kind: workflow
version: 1
name: contract_flow
entity: contract
stages:
  - id: intake
  - id: legal_review
    title: Legal review
    only_when: "amount > 100000"
    require: [legal_contact]
    forecast_weight: 0.4
  - id: bulk_check
    only_when: "len(label * copies) > 3"
  - id: signing
    forecast_weight: 0.8
exits:
  - {id: signed, outcome: won, from: [signing]}
  - {id: dropped, outcome: lost}
moves:
  back: any
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("conditional_stages"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def contract(rt: Runtime, **data: Any) -> RecordView:
    base = {"customer": "Kangle", "label": "x", "copies": 1}
    return rt.create("contract", {**base, **data}, actor="ann")


def move(rt: Runtime, record: RecordView, target: str) -> str | None:
    return rt.transition(record.id, target, actor="ann").stage


def refusal(rt: Runtime, record: RecordView, target: str) -> list[tuple[str, str]]:
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, target, actor="ann")
    return [(p.code, p.message) for p in caught.value.problems]


def states(rt: Runtime, record: RecordView) -> dict[str, str]:
    return {p["id"]: p["state"] for p in path_of(rt, record.id, "ann")["path"]}


def test_a_false_only_when_is_skipped_by_forward_next(rt: Runtime) -> None:
    record = contract(rt, amount=5000)
    assert states(rt, record) == {
        "intake": "current",
        "legal_review": "skipped",
        "bulk_check": "skipped",
        "signing": "ahead",
        "signed": "exit",
        "dropped": "exit",
    }
    assert guide_of(rt, record.id, "ann")["stage"]["moves"] == ["dropped", "signing"]
    assert rt.check_transition(record.id, "signing", actor="ann") == []
    assert move(rt, record, "signing") == "signing"
    assert states(rt, record)["intake"] == "done"
    assert states(rt, record)["legal_review"] == "skipped"
    stays = [(h["stage"], h["to_stage"]) for h in rt.history(record.id)]
    assert stays == [("intake", "signing"), ("signing", None)]


def test_exactly_at_the_threshold_the_stage_is_skipped_one_above_it_applies(
    rt: Runtime,
) -> None:
    at = contract(rt, amount=100000)
    above = contract(rt, amount=100001)
    assert states(rt, at)["legal_review"] == "skipped"
    assert states(rt, above)["legal_review"] == "ahead"
    assert move(rt, at, "signing") == "signing"
    assert refusal(rt, above, "signing") == [
        (
            "move-not-allowed",
            "contract_flow does not allow 'intake' -> 'signing'; from here: dropped, legal_review",
        )
    ]
    assert move(rt, above, "legal_review") == "legal_review"


def test_an_unset_field_reads_as_missing_and_the_stage_is_skipped(rt: Runtime) -> None:
    record = rt.create("contract", {"customer": "Kangle"}, actor="ann")
    path = {p["id"]: p for p in path_of(rt, record.id, "ann")["path"]}
    assert path["legal_review"]["why"] == "amount > 100000: amount = not set"
    assert (path["legal_review"]["state"], path["legal_review"]["applies"]) == ("skipped", False)
    assert move(rt, record, "signing") == "signing"
    assert not [d for d in rt.explain(record.id) if d["kind"] == "evaluation_failed"]
    rt.update(record.id, {"label": "y" * 100}, actor="ann")
    why = path_of(rt, record.id, "ann")["path"][2]["why"]
    assert why == f"len(label * copies) > 3: copies = not set, label = '{'y' * 57}...'"


def test_a_move_into_a_stage_that_does_not_apply_is_refused_with_the_values(
    rt: Runtime,
) -> None:
    record = contract(rt, amount=5000)
    message = (
        "stage 'legal_review' does not apply to this record: "
        "only_when amount > 100000: amount = 5000 is false"
    )
    assert refusal(rt, record, "legal_review") == [("stage-not-applicable", message)]
    problems = rt.check_transition(record.id, "legal_review", actor="ann")
    assert problems[0].rule == "contract_flow.legal_review"
    assert problems[0].expression == "amount > 100000"
    assert move(rt, record, "signing") == "signing"
    # A back move to the skipped stage is refused the same way; to intake it is not.
    assert [c for c, _ in refusal(rt, record, "legal_review")] == ["stage-not-applicable"]
    assert move(rt, record, "intake") == "intake"


def test_a_field_change_before_the_stage_brings_it_in_and_takes_it_out(rt: Runtime) -> None:
    record = contract(rt, amount=5000)
    rt.update(record.id, {"amount": 250000}, actor="ann")
    assert states(rt, record)["legal_review"] == "ahead"
    assert [c for c, _ in refusal(rt, record, "signing")] == ["move-not-allowed"]
    rt.update(record.id, {"amount": 20}, actor="ann")
    assert states(rt, record)["legal_review"] == "skipped"
    assert move(rt, record, "signing") == "signing"


def test_once_reached_a_stage_stays_when_its_condition_turns_false(rt: Runtime) -> None:
    record = contract(rt, amount=250000)
    assert move(rt, record, "legal_review") == "legal_review"
    rt.update(record.id, {"amount": 10}, actor="ann")
    assert rt.get(record.id).stage == "legal_review"
    path = {p["id"]: p for p in path_of(rt, record.id, "ann")["path"]}
    assert path["legal_review"]["state"] == "current"
    assert path["legal_review"]["applies"] is False
    assert path["legal_review"]["why"] == "amount > 100000: amount = 10"
    # It leaves as any stage does: its requirements apply.
    assert refusal(rt, record, "signing") == [
        ("required-field", "'legal_contact' must be filled in before leaving")
    ]
    rt.update(record.id, {"legal_contact": "Li"}, actor="ann")
    assert move(rt, record, "signing") == "signing"
    assert states(rt, record)["legal_review"] == "done"


def test_an_only_when_that_fails_makes_the_stage_apply_and_is_recorded(rt: Runtime) -> None:
    record = contract(rt, amount=5, label="abcdefghij", copies=100000)  # text too long
    path = {p["id"]: p for p in path_of(rt, record.id, "ann")["path"]}
    assert path["bulk_check"]["state"] == "ahead"
    assert path["bulk_check"]["applies"] is True
    assert "could not be evaluated" in path["bulk_check"]["why"]
    assert [c for c, _ in refusal(rt, record, "signing")] == ["move-not-allowed"]
    assert not [d for d in rt.explain(record.id) if d["kind"] == "evaluation_failed"]
    assert move(rt, record, "bulk_check") == "bulk_check"
    failed = [d for d in rt.explain(record.id) if d["kind"] == "evaluation_failed"]
    assert [(d["rule"], d["outcome"]) for d in failed] == [("contract_flow.bulk_check", "stage")]
    assert failed[0]["detail"]["field"] == "only_when"
    assert failed[0]["detail"]["expression"] == "len(label * copies) > 3"


def test_the_path_says_why_and_a_closed_record_keeps_its_path(rt: Runtime) -> None:
    record = contract(rt, amount=5000)
    path = path_of(rt, record.id, "ann")
    assert path["stage"] == "intake"
    assert path["path"][0] == {
        "id": "intake",
        "title": "intake",
        "state": "current",
        "applies": True,
        "why": None,
    }
    assert path["path"][1] == {
        "id": "legal_review",
        "title": "Legal review",
        "state": "skipped",
        "applies": False,
        "why": "amount > 100000: amount = 5000",
    }
    assert path["path"][2]["why"] == "len(label * copies) > 3: copies = 1, label = 'x'"
    move(rt, record, "signing")
    move(rt, record, "signed")
    after = states(rt, record)
    assert after == {
        "intake": "done",
        "legal_review": "skipped",
        "bulk_check": "skipped",
        "signing": "done",
        "signed": "current",
        "dropped": "exit",
    }
    assert guide_of(rt, record.id, "ann")["path"] == path_of(rt, record.id, "ann")["path"]


def test_funnel_conversion_steps_over_conditional_stages(rt: Runtime, store: Store) -> None:
    for amount in (5000, 6000, 250000):
        record = contract(rt, amount=amount)
        target = "legal_review" if amount > 100000 else "signing"
        move(rt, record, target)
    with store.read() as conn:
        stages = funnel(conn, rt.bundle.workflows["contract_flow"])["stages"]
    got = {s["stage"]: (s["reached"], s["conversion"]) for s in stages}
    assert got == {
        "intake": (3, None),
        "legal_review": (1, 0.3333),
        "bulk_check": (0, 0.0),
        "signing": (2, 0.6667),
    }


HIDDEN = {
    "forms/claim.yaml": """
kind: form
version: 1
entity: claim
fields:
  amount: {type: integer}
  risk: {type: string, read: [reviewer]}
""",
    "workflows/claim_flow.yaml": """
kind: workflow
version: 1
name: claim_flow
entity: claim
stages:
  - id: filed
  - id: audit
    only_when: "risk == 'high' or amount > 10"
  - id: paid
""",
}


def test_why_shows_a_restricted_field_only_to_its_readers_and_never_in_a_refusal(
    store: Store, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    files = {name: text.lstrip() for name, text in HIDDEN.items()}
    rt = make_runtime(store, tmp_path, small_bundle(tmp_path_factory.mktemp("hidden"), files))
    record = rt.create("claim", {"amount": 5, "risk": "high"}, actor="ann")
    for reader, risk in (("ann", "(hidden)"), ("rita", "'high'")):
        audit = path_of(rt, record.id, reader)["path"][1]
        assert (audit["state"], audit["applies"]) == ("ahead", True)
        assert audit["why"] == f"risk == 'high' or amount > 10: amount = 5, risk = {risk}"
    with pytest.raises(Refused):
        rt.transition(record.id, "paid", actor="ann")
    rt.update(record.id, {"risk": "low"}, actor="ann")
    problems = rt.check_transition(record.id, "audit", actor="ann")
    assert [p.message for p in problems] == [
        "stage 'audit' does not apply to this record: only_when risk == 'high' or "
        "amount > 10: amount = 5, risk = (hidden) is false"
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (4200.0, "4200"),
        (Decimal("4200.50"), "4200.5"),
        (0.1, "0.1"),
        (1e-7, "0.0000001"),
        (True, "True"),
        (7, "7"),
        (None, "not set"),
        ("x", "'x'"),
    ],
)
def test_a_number_in_why_reads_as_a_person_writes_it(value: object, shown: str) -> None:
    assert stage_path._shown(value) == shown
