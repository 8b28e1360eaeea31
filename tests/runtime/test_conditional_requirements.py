"""Conditional requirements: `when` on required fields, evidence and guards (issue 11).

Every test runs on SQLite and PostgreSQL (the `store` fixture) against a small bundle
written here: a requirement applies only while its `when` holds for the record as it is
at the check, a failing `when` leaves it in force and is recorded, and the guide lists
only what applies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.guide import guide_of
from runtime.records import RecordView
from runtime.store import Store
from tests.runtime.helpers import PDF, make_runtime
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: conditional-requirements
timezone: UTC
roles: [rep]
users:
  ann: {name: Ann, roles: [rep]}
""",
    "forms/deal.yaml": """
kind: form
version: 1
entity: deal
fields:
  amount: {type: integer}
  copies: {type: integer}
  label: {type: string}
  work: {type: string}
  survey_done: {type: boolean}
  reason: {type: string}
  owner_note: {type: string}
""",
    "workflows/deal_flow.yaml": """
kind: workflow
version: 1
name: deal_flow
entity: deal
stages:
  - id: review
    require:
      - owner_note
      - {field: reason, when: "amount > 100000"}
    evidence:
      - {kind: nda, title: Signed NDA, types: [application/pdf], when: "amount > 100000"}
      - {kind: tally, title: Tally, when: "len(label * copies) == 0"}
    guards:
      - refuse_if: "not survey_done"
        when: "work == 'install'"
        message: "An installation needs a site survey."
  - id: done
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("conditional"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def deal(rt: Runtime, **data: Any) -> RecordView:
    base = {"owner_note": "ok", "label": "x", "copies": 1, "work": "visit"}
    return rt.create("deal", {**base, **data}, actor="ann")


def refusal(rt: Runtime, record: RecordView) -> list[tuple[str, str]]:
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, "done", actor="ann")
    return [(p.code, p.message) for p in caught.value.problems]


def checklist(rt: Runtime, record: RecordView) -> tuple[list[str], list[str]]:
    stage = guide_of(rt, record.id, "ann")["stage"]
    return [e["kind"] for e in stage["evidence"]], [r["field"] for r in stage["require"]]


def test_a_false_when_lets_the_record_leave_without_the_requirement(rt: Runtime) -> None:
    record = deal(rt, amount=90000)
    assert checklist(rt, record) == ([], ["owner_note"])
    assert rt.check_transition(record.id, "done", actor="ann") == []
    assert rt.transition(record.id, "done", actor="ann").stage == "done"


def test_a_true_when_asks_for_the_field_the_file_and_runs_the_guard(rt: Runtime) -> None:
    record = deal(rt, amount=200000, work="install", survey_done=False)
    assert checklist(rt, record) == (["nda"], ["owner_note", "reason"])
    assert refusal(rt, record) == [
        ("required-field", "'reason' must be filled in before leaving"),
        ("missing-evidence", "Signed NDA: 0 of 1 attached (application/pdf)"),
        ("guard-refused", "An installation needs a site survey."),
    ]
    rt.update(record.id, {"reason": "strategic", "survey_done": True}, actor="ann")
    rt.attach_evidence(record.id, "nda", PDF, file_name="nda.pdf", media_type="application/pdf")
    assert rt.transition(record.id, "done", actor="ann").stage == "done"


def test_when_is_read_on_the_record_as_it_is_at_the_move(rt: Runtime) -> None:
    record = deal(rt, amount=200000)
    assert [c for c, _ in refusal(rt, record)] == ["required-field", "missing-evidence"]
    rt.update(record.id, {"amount": 100000}, actor="ann")  # no longer over the line
    assert checklist(rt, record) == ([], ["owner_note"])
    assert rt.transition(record.id, "done", actor="ann").stage == "done"


def test_a_when_that_fails_keeps_the_requirement_and_is_recorded(rt: Runtime) -> None:
    record = deal(rt, amount=10, label="abcdefghij", copies=100000)  # text too long
    assert checklist(rt, record) == (["tally"], ["owner_note"])
    assert refusal(rt, record) == [("missing-evidence", "Tally: 0 of 1 attached")]
    rt.attach_evidence(record.id, "tally", PDF, file_name="t.pdf", media_type="application/pdf")
    assert rt.transition(record.id, "done", actor="ann").stage == "done"
    failed = [d for d in rt.explain(record.id) if d["kind"] == "evaluation_failed"]
    assert [(d["rule"], d["outcome"]) for d in failed] == [("deal_flow.review", "requirement")]
    assert failed[0]["detail"]["expression"] == "len(label * copies) == 0"
    assert failed[0]["detail"]["field"] == "when"
