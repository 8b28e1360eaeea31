"""Pre-flight with no Bundle served: the store's entities, workflows and stages must exist."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.preflight import preflight
from runtime.store import Store

HEAD = """kind: bundle
version: 1
name: pre
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
---
kind: form
version: 1
entity: deal
fields:
  name: {type: string}
---
kind: form
version: 1
entity: lead
fields:
  name: {type: string}
"""
THING = """---
kind: form
version: 1
entity: thing
fields:
  name: {type: string}
"""
FLOW = """---
kind: workflow
version: 1
name: flow
entity: deal
stages:
STAGES"""
LEADS = """---
kind: workflow
version: 1
name: leads
entity: lead
stages:
  - id: new
"""


def _compile(tmp: Path, name: str, text: str) -> Bundle:
    (tmp / name).mkdir()
    (tmp / name / "bundle.yaml").write_text(text)
    bundle = compile_bundle(tmp / name).bundle
    assert bundle is not None
    return bundle


def test_removed_entities_workflows_and_stages_are_counted_with_examples(
    store: Store, tmp_path: Path
) -> None:
    stages = "  - id: s1\n  - id: s2\n"
    old = _compile(tmp_path, "old", HEAD + THING + FLOW.replace("STAGES", stages) + LEADS)
    rt = Runtime(old, store, FakeClock(datetime(2026, 1, 5, 9)), evidence_dir=tmp_path / "ev")
    deals = sorted(rt.create("deal", {"name": n}, actor="li.wei").id for n in "AB")
    things = [rt.create("thing", {"name": n}, actor="li.wei").id for n in "XYZ"]
    lead = rt.create("lead", {"name": "L"}, actor="li.wei").id
    new = _compile(tmp_path, "new", HEAD + FLOW.replace("STAGES", "  - id: s2\n"))
    found = {f.code: f for f in preflight(store, None, new, fields=False)}
    assert sorted(found) == ["entity-removed", "stage-removed", "workflow-removed"]
    gone = found["entity-removed"]
    assert (gone.entity, gone.count, gone.message) == (
        "thing",
        3,
        "no form for entity 'thing', but 3 record(s) have it",
    )
    assert sorted(gone.examples) == sorted(things)
    stage = found["stage-removed"]
    assert (stage.entity, stage.workflow, stage.stage, stage.count) == ("deal", "flow", "s1", 2)
    assert stage.message == "workflow 'flow' has no stage 's1', but 2 record(s) have it"
    assert sorted(stage.examples) == deals
    flow = found["workflow-removed"]
    assert (flow.entity, flow.workflow, flow.count, flow.examples) == ("lead", "leads", 1, (lead,))
    same = preflight(store, None, old, fields=False)
    assert same == []
