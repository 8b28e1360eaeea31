"""A move computes like a save (P14): what a stage's or exit's actions set, and the
record's new status, reach its computed fields.

Every test runs on SQLite and PostgreSQL (the `store` fixture).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.store import Store
from tests.runtime.helpers import make_runtime
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: move-computes
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
  closed_at: {type: datetime}
  cycle_days: {type: decimal, computed: "days_between(created_at, closed_at)"}
  won: {type: integer, computed: "1 if status == 'won' else 0"}
  stage_label: {type: string, computed: "upper(stage)"}
  tries: {type: integer}
  double_tries: {type: integer, computed: "(tries or 0) * 2"}
""",
    "workflows/deal_flow.yaml": """
kind: workflow
version: 1
name: deal_flow
entity: deal
stages:
  - id: intake
  - id: retry
    on_enter:
      - set: {fields: {tries: "2"}}
exits:
  - id: signed
    outcome: won
    on_enter:
      - set: {fields: {closed_at: "now"}}
  - {id: dropped, outcome: lost}
moves:
  forward: any_later
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("move_computes"), files)


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return make_runtime(store, tmp_path, bundle)


def test_an_exit_s_set_and_the_new_status_are_computed(rt: Runtime) -> None:
    deal = rt.create("deal", {}, actor="ann")
    assert (deal.data["won"], deal.data["cycle_days"], deal.data["stage_label"]) == (
        0,
        None,
        "INTAKE",
    )
    rt.clock.advance(hours=36)  # type: ignore[attr-defined]
    done = rt.transition(deal.id, "signed", actor="ann")
    assert done.status == "won"
    assert done.data["won"] == 1
    assert float(done.data["cycle_days"]) == 1.5
    assert done.data["stage_label"] == "SIGNED"
    assert rt.get(deal.id).data["won"] == 1  # stored, not only returned


def test_a_lost_exit_without_actions_still_recomputes(rt: Runtime) -> None:
    deal = rt.create("deal", {}, actor="ann")
    lost = rt.transition(deal.id, "dropped", actor="ann")
    assert (lost.status, lost.data["won"], lost.data["cycle_days"]) == ("lost", 0, None)
    assert lost.data["stage_label"] == "DROPPED"


def test_what_an_entered_stage_sets_reaches_the_computed_fields(rt: Runtime) -> None:
    deal = rt.create("deal", {}, actor="ann")
    moved = rt.transition(deal.id, "retry", actor="ann")
    assert (moved.data["tries"], moved.data["double_tries"], moved.data["stage_label"]) == (
        2,
        4,
        "RETRY",
    )
    assert rt.get(deal.id).data["double_tries"] == 4
