"""Every trigger a rule accepts runs it: decision tables, scores and routing on
created, updated, stage_entered and evidence_attached (both backends)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.people import loads
from runtime.store import Store
from tests.runtime.helpers import PDF
from tests.runtime.small import small_bundle

CLAIM = """\
kind: form
version: 1
entity: claim
fields:
  amount: {type: integer}
  note: {type: string}
  step_tag: {type: string}
  evidence_tag: {type: string}
  created_tag: {type: string}
  stage_score: {type: decimal}
  evidence_score: {type: decimal}
  contract: {type: evidence, accept: [application/pdf]}
"""
FLOW = """\
kind: workflow
version: 1
name: claim_flow
entity: claim
stages:
  - id: intake
  - id: review
exits:
  - {id: done, outcome: closed}
moves:
  back: any
"""
RULES = """\
kind: decision_table
version: 1
name: stage_tag
entity: claim
on: [stage_entered]
inputs: [stage]
outputs: [step_tag]
rows:
  - [review, in review]
  - [done, finished]
---
kind: decision_table
version: 1
name: evidence_tag
entity: claim
on: [evidence_attached]
inputs: [amount]
outputs: [evidence_tag]
rows:
  - ["*", seen]
---
kind: decision_table
version: 1
name: created_tag
entity: claim
on: [created]
inputs: [amount]
outputs: [created_tag]
rows:
  - ["*", new]
---
kind: scoring
version: 1
name: stage_score
entity: claim
on: [stage_entered]
output: stage_score
features:
  in_review: {value: "stage == 'review'", weight: 1}
---
kind: scoring
version: 1
name: evidence_score
entity: claim
on: [evidence_attached]
output: evidence_score
features:
  attached: {value: "1", weight: 1}
---
kind: routing
version: 1
name: intake_routing
entity: claim
on: [created]
candidates: {role: rep}
strategy: least_loaded
fallback_queue: overflow
---
kind: routing
version: 1
name: review_routing
entity: claim
on: [stage_entered]
when: "stage == 'review'"
candidates: {role: reviewer}
fallback_queue: overflow
---
kind: routing
version: 1
name: contract_routing
entity: claim
on: [evidence_attached]
candidates: {users: [bob]}
fallback_queue: overflow
"""


NOTE = """\
kind: form
version: 1
entity: note
fields:
  ready: {type: boolean, default: false}
---
kind: routing
version: 1
name: note_routing
entity: note
on: [updated]
when: "ready"
candidates: {users: [bob, ann]}
fallback_queue: overflow
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return small_bundle(
        tmp_path / "defs",
        {
            "forms/claim.yaml": CLAIM,
            "workflows/claim.yaml": FLOW,
            "rules/claim.yaml": RULES,
            "forms/note.yaml": NOTE,
        },
    )


@pytest.fixture
def rt(bundle: Bundle, store: Store, tmp_path: Path) -> Runtime:
    clock = FakeClock(datetime(2026, 3, 2, 9, 0))
    return Runtime(bundle, store, clock, evidence_dir=tmp_path / "evidence")


def load_of(rt: Runtime) -> dict[str, int]:
    with rt.store.read() as conn:
        return {u: n for u, (n, _) in loads(conn, ["ann", "bob", "rita"]).items()}


def test_each_trigger_runs_the_rules_that_name_it(rt: Runtime) -> None:
    claim = rt.create("claim", {"amount": 5})
    tags = ("created_tag", "step_tag", "evidence_tag", "stage_score", "evidence_score")
    assert [claim.data.get(k) for k in tags] == ["new", None, None, None, None]
    assert claim.owner == "ann"
    assert load_of(rt) == {"ann": 1, "bob": 0, "rita": 0}

    updated = rt.update(claim.id, {"note": "checked"})  # nothing reacts to updated
    assert [updated.data.get(k) for k in tags] == ["new", None, None, None, None]
    assert updated.owner == "ann"

    moved = rt.transition(claim.id, "review")
    assert [moved.data.get(k) for k in tags] == ["new", "in review", None, 100.0, None]
    assert moved.owner == "rita"  # stage_entered routes again: the rule's pick holds it
    assert load_of(rt) == {"ann": 0, "bob": 0, "rita": 1}

    rt.attach_evidence(claim.id, "contract", PDF, file_name="c.pdf", media_type="application/pdf")
    after = rt.get(claim.id)
    assert [after.data.get(k) for k in tags] == ["new", "in review", "seen", 100.0, 100.0]
    assert after.owner == "bob"
    assert load_of(rt) == {"ann": 0, "bob": 1, "rita": 0}

    done = rt.transition(claim.id, "done")
    assert done.data["step_tag"] == "finished"
    assert done.owner == "bob"  # review_routing's `when` does not hold; it is closed
    assert load_of(rt) == {"ann": 0, "bob": 0, "rita": 0}


def test_routing_on_stage_entered_skips_stages_its_when_rejects(rt: Runtime) -> None:
    claim = rt.create("claim", {"amount": 5})
    back = rt.transition(claim.id, "review")
    assert back.owner == "rita"
    again = rt.transition(claim.id, "intake")
    assert again.owner == "rita"  # when: stage == 'review' fails: nobody re-routes


def test_routing_on_updated_gives_an_unowned_record_an_owner_once(rt: Runtime) -> None:
    note = rt.create("note", {})
    assert (note.owner, note.queue) == (None, None)  # not routed on created
    assert rt.update(note.id, {"ready": False}).owner is None  # unchanged: nothing runs
    ready = rt.update(note.id, {"ready": True})
    assert ready.owner == "bob"  # best match: a tie, broken by the higher name
    rt.assign(note.id, user="ann")
    assert rt.update(note.id, {"ready": False}).owner == "ann"
    assert rt.update(note.id, {"ready": True}).owner == "ann"  # owned: left alone
    assert load_of(rt) == {"ann": 1, "bob": 0, "rita": 0}
