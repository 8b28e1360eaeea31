"""Guards, validations and routing read the stage, `hours_in_stage()` and `evidence_count()`.

Every test runs on SQLite and PostgreSQL (the `store` fixture) against a small bundle written
here; the clock is a FakeClock, so the hours in a stage are exact.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Refused
from runtime.records import RecordView
from runtime.store import Store
from tests.runtime.helpers import JPEG
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: stage-time
timezone: UTC
roles: [rep, reviewer]
users:
  ann: {name: Ann, roles: [rep]}
  bob: {name: Bob, roles: [reviewer]}
queues:
  unrouted: {title: Unrouted}
""",
    "forms/claim.yaml": """
kind: form
version: 1
entity: claim
fields:
  title: {type: string, required: true}
  note: {type: string}
  photos: {type: evidence, accept: ["image/*"]}
""",
    "workflows/claim_sop.yaml": """
kind: workflow
version: 1
name: claim_sop
entity: claim
stages:
  - id: cooling
    guards:
      - refuse_if: "hours_in_stage() < 24"
        message: "A claim cools off for 24 hours."
  - id: review
  - id: done
moves: {back: any}
""",
    "rules/checks.yaml": """
kind: validation
version: 1
name: no_late_notes_in_review
entity: claim
on: [save]
refuse_if: "stage == 'review' and is_set(note) and hours_in_stage() > 2"
message: "Notes in review are taken in its first 2 hours."
---
kind: routing
version: 1
name: review_routing
entity: claim
on: [evidence_attached]
when: "stage == 'review' and hours_in_stage() < 1 and evidence_count('photos') >= 2"
candidates: {role: reviewer}
strategy: least_loaded
fallback_queue: unrouted
""",
}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    return small_bundle(tmp_path_factory.mktemp("stage_time"), files)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle, clock: FakeClock) -> Runtime:
    return Runtime(bundle, store, clock, evidence_dir=tmp_path / "evidence")


def claim(rt: Runtime) -> RecordView:
    return rt.create("claim", {"title": "Dent"}, actor="ann")


def refusal(rt: Runtime, record: RecordView, target: str) -> list[tuple[str, str]]:
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, target, actor="ann")
    return [(p.code, p.message) for p in caught.value.problems]


def test_a_guard_counts_the_hours_in_the_stage_at_the_command_time(
    rt: Runtime, clock: FakeClock
) -> None:
    record = claim(rt)
    assert record.stage == "cooling"
    clock.advance(hours=23, minutes=59)
    assert [m for _, m in refusal(rt, record, "review")] == ["A claim cools off for 24 hours."]
    clock.advance(minutes=1)
    assert rt.transition(record.id, "review", actor="ann").stage == "review"


def test_coming_back_starts_the_hours_again(rt: Runtime, clock: FakeClock) -> None:
    record = claim(rt)
    clock.advance(hours=30)
    rt.transition(record.id, "review", actor="ann")
    clock.advance(hours=1)
    rt.transition(record.id, "cooling", actor="ann")
    clock.advance(hours=5)  # 36 h since created, 5 h in this stay of 'cooling'
    assert [m for _, m in refusal(rt, record, "review")] == ["A claim cools off for 24 hours."]


def test_a_validation_reads_the_stage_and_the_hours_in_it(rt: Runtime, clock: FakeClock) -> None:
    record = claim(rt)
    clock.advance(hours=30)
    assert rt.update(record.id, {"note": "in cooling"}, actor="ann").data["note"] == "in cooling"
    rt.transition(record.id, "review", actor="ann")
    clock.advance(hours=2)
    assert rt.update(record.id, {"note": "at 2 h"}, actor="ann").data["note"] == "at 2 h"
    clock.advance(minutes=1)
    with pytest.raises(Refused) as caught:
        rt.update(record.id, {"note": "too late"}, actor="ann")
    assert [p.message for p in caught.value.problems] == [
        "Notes in review are taken in its first 2 hours."
    ]
    assert rt.get(record.id).data["note"] == "at 2 h"


def photo(rt: Runtime, record: RecordView, n: int) -> None:
    data = JPEG + f"-{n}".encode()
    rt.attach_evidence(record.id, "photos", data, file_name=f"{n}.jpg", media_type="image/jpeg")


def test_routing_reads_stage_hours_in_stage_and_evidence_count(
    rt: Runtime, clock: FakeClock
) -> None:
    record = claim(rt)
    photo(rt, record, 1)
    photo(rt, record, 2)  # two photos, but in 'cooling': not routed (its creator holds it)
    assert rt.get(record.id).owner == "ann"
    clock.advance(hours=24)
    rt.transition(record.id, "review", actor="ann")
    photo(rt, record, 3)  # one photo of this stay in 'review'
    assert rt.get(record.id).owner == "ann"
    clock.advance(minutes=59)
    photo(rt, record, 4)  # two in this stay, 59 minutes in the stage
    assert rt.get(record.id).owner == "bob"


def test_routing_stops_after_the_first_hour_in_the_stage(rt: Runtime, clock: FakeClock) -> None:
    record = claim(rt)
    clock.advance(hours=24)
    rt.transition(record.id, "review", actor="ann")
    photo(rt, record, 1)
    clock.advance(hours=1)
    photo(rt, record, 2)  # two in this stay, but an hour in the stage
    assert rt.get(record.id).owner == "ann"
