"""Templates that shape structure (issue 11, F3): instances of one template run different steps.

Every test runs on SQLite and PostgreSQL (the `store` fixture). One signing template is
made into three regional workflows whose params keep or leave out a site-visit stage, a
bank-guarantee document and the intake stage (`include_if`, decided once per workflow).
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
name: template-structure
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
  region: {type: enum, values: [east, north, west]}
  visit_report: {type: string}
""",
    "workflows/signing.yaml": """
kind: workflow_template
version: 1
name: signing
params:
  region: {type: string}
  fast_track: {type: boolean, default: false}
  site_visit: {type: boolean, default: false}
  needs_guarantee: {type: boolean, default: false}
workflow:
  entity: deal
  applies_when: "region == params.region"
  stages:
    - id: intake
      include_if: "not params.fast_track"
    - id: site_visit
      include_if: "params.site_visit"
      require: [visit_report]
    - id: contract
      evidence:
        - {kind: signed_contract, title: Signed contract}
        - {kind: bank_guarantee, title: Bank guarantee, include_if: "params.needs_guarantee"}
  exits:
    - {id: signed, outcome: won, from: [contract]}
---
kind: workflow
version: 1
name: signing_east
template: signing
params: {region: east, site_visit: true, needs_guarantee: true}
---
kind: workflow
version: 1
name: signing_north
template: signing
params: {region: north}
---
kind: workflow
version: 1
name: signing_west
template: signing
params: {region: west, fast_track: true, site_visit: true}
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("template_structure"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def deal(rt: Runtime, region: str, **data: Any) -> RecordView:
    return rt.create("deal", {"region": region, **data}, actor="ann")


def attach(rt: Runtime, record: RecordView, kind: str) -> None:
    rt.attach_evidence(record.id, kind, PDF, file_name=f"{kind}.pdf", media_type="application/pdf")


def refused(rt: Runtime, record: RecordView, to: str) -> list[tuple[str, str]]:
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, to, actor="ann")
    return [(p.code, p.message) for p in caught.value.problems]


def walk(rt: Runtime, record: RecordView, stages: list[str]) -> list[str | None]:
    seen = [record.stage]
    for stage in stages:
        seen.append(rt.transition(record.id, stage, actor="ann").stage)
    return seen


def evidence_asked(rt: Runtime, record: RecordView) -> list[str]:
    return [e["kind"] for e in guide_of(rt, record.id, "ann")["stage"]["evidence"]]


def test_two_instances_of_one_template_run_different_stage_sequences(rt: Runtime) -> None:
    east = deal(rt, "east", visit_report="fine")
    north = deal(rt, "north")
    assert (east.workflow, north.workflow) == ("signing_east", "signing_north")
    # east may not skip its site visit; north has none to go to.
    assert refused(rt, east, "contract") == [
        (
            "move-not-allowed",
            "signing_east does not allow 'intake' -> 'contract'; from here: site_visit",
        )
    ]
    assert refused(rt, north, "site_visit") == [
        ("unknown-stage", "'site_visit' is not a stage of signing_north (intake, contract, signed)")
    ]
    assert walk(rt, east, ["site_visit", "contract"]) == ["intake", "site_visit", "contract"]
    assert walk(rt, north, ["contract"]) == ["intake", "contract"]


def test_evidence_left_out_is_neither_asked_for_nor_needed(rt: Runtime) -> None:
    east = deal(rt, "east", visit_report="fine")
    north = deal(rt, "north")
    walk(rt, east, ["site_visit", "contract"])
    walk(rt, north, ["contract"])
    assert evidence_asked(rt, east) == ["signed_contract", "bank_guarantee"]
    assert evidence_asked(rt, north) == ["signed_contract"]
    attach(rt, east, "signed_contract")
    attach(rt, north, "signed_contract")
    assert refused(rt, east, "signed") == [("missing-evidence", "Bank guarantee: 0 of 1 attached")]
    assert rt.transition(north.id, "signed", actor="ann").status == "won"
    attach(rt, east, "bank_guarantee")
    assert rt.transition(east.id, "signed", actor="ann").status == "won"


def test_a_left_out_first_stage_starts_records_in_the_first_stage_kept(rt: Runtime) -> None:
    west = deal(rt, "west")
    assert (west.workflow, west.stage) == ("signing_west", "site_visit")
    assert refused(rt, west, "contract") == [
        ("required-field", "'visit_report' must be filled in before leaving")
    ]
    rt.update(west.id, {"visit_report": "done"}, actor="ann")
    assert walk(rt, west, ["contract"]) == ["site_visit", "contract"]
