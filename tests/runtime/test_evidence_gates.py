"""Evidence gates count distinct files of the current stay; max, evidence fields, evidence_count().

Every test runs on SQLite and PostgreSQL (the `store` fixture) against a small bundle
written here, so the numbers the gates count are the ones the YAML says.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Invalid, Refused
from runtime.records import RecordView
from runtime.store import T_ALERT, T_EVIDENCE, Store
from tests.runtime.helpers import JPEG, PDF, count

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: evidence-gates
timezone: UTC
roles: [rep]
users:
  ann: {name: Ann, roles: [rep]}
""",
    "forms/visit.yaml": """
kind: form
version: 1
entity: visit
fields:
  store_name: {type: string, required: true}
  note: {type: string}
  receipts: {type: evidence, accept: ["image/*"]}
  photo_total: {type: integer, computed: "evidence_count('shelf_photo', 'any_stay')"}
""",
    "workflows/visit_sop.yaml": """
kind: workflow
version: 1
name: visit_sop
entity: visit
stages:
  - id: shelves
    evidence:
      - {kind: shelf_photo, title: Shelf photos, types: ["image/*"], min: 3, max: 4}
  - id: recheck
    evidence:
      - {kind: shelf_photo, title: All shelf photos, min: 4, from: any_stay}
    guards:
      - refuse_if: "evidence_count('receipts') < 1"
        message: "Attach a receipt during this stay."
  - id: done
exits:
  - id: signed
    outcome: won
    from: [done]
    evidence:
      - {kind: contract, title: Signed contract, types: [application/pdf], max: 1}
moves: {back: any}
""",
    "rules/checks.yaml": """
kind: validation
version: 1
name: done_needs_receipt
entity: visit
on: [save]
refuse_if: "note == 'done' and evidence_count('receipts', 'any_stay') == 0"
message: "A visit noted as done needs a receipt."
---
kind: alert
version: 1
name: many_photos
entity: visit
when: "evidence_count('shelf_photo', 'any_stay') >= 4"
severity: info
""",
}


def photo(n: int) -> bytes:
    """Return a distinct small JPEG for each n."""
    return JPEG + f"-{n}".encode()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    root = tmp_path_factory.mktemp("evidence_gates")
    for name, text in DEFINITIONS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text.lstrip(), encoding="utf-8")
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


@pytest.fixture
def rt(store: Store, tmp_path: Path, bundle: Bundle) -> Runtime:
    return Runtime(bundle, store, FakeClock(), evidence_dir=tmp_path / "evidence")


def visit(rt: Runtime) -> RecordView:
    return rt.create("visit", {"store_name": "Kang"}, actor="ann")


def attach(rt: Runtime, record: RecordView, kind: str, *numbers: int) -> list[str]:
    return [
        str(
            rt.attach_evidence(
                record.id, kind, photo(n), file_name=f"{n}.jpg", media_type="image/jpeg"
            )["id"]
        )
        for n in numbers
    ]


def refusal(rt: Runtime, record: RecordView, target: str) -> list[tuple[str, str]]:
    with pytest.raises(Refused) as caught:
        rt.transition(record.id, target, actor="ann")
    return [(p.code, p.message) for p in caught.value.problems]


def to_recheck(rt: Runtime, record: RecordView) -> RecordView:
    attach(rt, record, "shelf_photo", 1, 2, 3)
    return rt.transition(record.id, "recheck", actor="ann")


def test_exactly_min_distinct_files_let_the_record_move(rt: Runtime) -> None:
    record = visit(rt)
    attach(rt, record, "shelf_photo", 1, 2)
    assert refusal(rt, record, "recheck") == [
        ("missing-evidence", "Shelf photos: 2 of 3 attached (image/*)")
    ]
    attach(rt, record, "shelf_photo", 3)
    assert rt.transition(record.id, "recheck", actor="ann").stage == "recheck"


def test_the_same_file_attached_again_counts_once(rt: Runtime) -> None:
    record = visit(rt)
    attach(rt, record, "shelf_photo", 1, 2, 1)
    assert count(rt.store, T_EVIDENCE) == 3
    assert refusal(rt, record, "recheck") == [
        ("missing-evidence", "Shelf photos: 2 of 3 attached (image/*)")
    ]
    assert rt.check_transition(record.id, "recheck")[0].detail == {
        "kind": "shelf_photo",
        "have": 2,
        "min": 3,
    }


def test_files_of_an_earlier_stay_do_not_count_after_coming_back(rt: Runtime) -> None:
    record = to_recheck(rt, visit(rt))
    rt.transition(record.id, "shelves", actor="ann")
    assert refusal(rt, record, "recheck") == [
        ("missing-evidence", "Shelf photos: 0 of 3 attached (image/*)")
    ]
    attach(rt, record, "shelf_photo", 1, 2)  # the same photos again, in this stay: they count
    attach(rt, record, "shelf_photo", 4)
    assert rt.transition(record.id, "recheck", actor="ann").stage == "recheck"


def test_any_stay_counts_files_attached_in_earlier_stages(rt: Runtime) -> None:
    record = to_recheck(rt, visit(rt))
    attach(rt, record, "receipts", 9)
    assert refusal(rt, record, "done") == [
        ("missing-evidence", "All shelf photos: 3 of 4 attached")
    ]
    attach(rt, record, "shelf_photo", 3)  # a repeat of an earlier stay's file adds nothing
    assert [c for c, _ in refusal(rt, record, "done")] == ["missing-evidence"]
    attach(rt, record, "shelf_photo", 4)
    assert rt.transition(record.id, "done", actor="ann").stage == "done"


def test_a_file_beyond_max_is_refused_when_attached(rt: Runtime) -> None:
    record = visit(rt)
    attach(rt, record, "shelf_photo", 1, 2, 3, 4)
    with pytest.raises(Refused) as caught:
        attach(rt, record, "shelf_photo", 5)
    assert caught.value.message == "Shelf photos: 4 attached, at most 4"
    assert [(p.code, p.detail) for p in caught.value.problems] == [
        ("too-much-evidence", {"kind": "shelf_photo", "have": 4, "max": 4})
    ]
    attach(rt, record, "shelf_photo", 2)  # a repeat does not add a file: it is taken
    assert count(rt.store, T_EVIDENCE) == 5
    assert rt.transition(record.id, "recheck", actor="ann").stage == "recheck"


def test_max_of_a_stage_counts_only_the_current_stay(rt: Runtime) -> None:
    record = visit(rt)
    attach(rt, record, "shelf_photo", 1, 2, 3, 4)
    rt.transition(record.id, "recheck", actor="ann")
    attach(rt, record, "receipts", 9)
    rt.transition(record.id, "shelves", actor="ann")
    assert len(attach(rt, record, "shelf_photo", 5, 6, 7, 8)) == 4
    with pytest.raises(Refused, match="Shelf photos: 4 attached, at most 4"):
        attach(rt, record, "shelf_photo", 10)


def test_an_exit_beyond_max_refuses_the_move(rt: Runtime) -> None:
    record = to_recheck(rt, visit(rt))
    attach(rt, record, "shelf_photo", 4)
    attach(rt, record, "receipts", 9)
    rt.transition(record.id, "done", actor="ann")
    for n in (1, 2):
        rt.attach_evidence(record.id, "contract", PDF + bytes([n]), file_name=f"c{n}.pdf")
    assert refusal(rt, record, "signed") == [
        ("too-much-evidence", "Signed contract: 2 attached, at most 1")
    ]


def test_an_evidence_field_lists_the_ids_of_its_distinct_files(rt: Runtime) -> None:
    record = visit(rt)
    first, again, second = attach(rt, record, "receipts", 1, 1, 2)
    assert rt.get(record.id).data["receipts"] == [first, second]
    rt.update(record.id, {"receipts": [second]}, actor="ann")
    assert rt.get(record.id).data["receipts"] == [second]
    rt.update(record.id, {"receipts": [again, second]}, actor="ann")
    assert rt.get(record.id).data["receipts"] == [again, second]


def test_an_evidence_field_refuses_what_is_not_its_attachment(rt: Runtime) -> None:
    record = visit(rt)
    (photo_id,) = attach(rt, record, "shelf_photo", 1)
    for value in (["not-an-id"], [photo_id]):
        with pytest.raises(Invalid) as caught:
            rt.update(record.id, {"receipts": value}, actor="ann")
        assert [(p.code, p.field, p.message) for p in caught.value.problems] == [
            (
                "not-attached",
                "receipts",
                f"'receipts' lists '{value[0]}', which is not a file attached to this record "
                "as 'receipts'; attach the file as 'receipts' and its id is added",
            )
        ]
    with pytest.raises(Invalid, match="2 evidence values name no file attached to this record"):
        rt.create("visit", {"store_name": "Kang", "receipts": [photo_id, "x"]}, actor="ann")
    other = visit(rt)
    (foreign,) = attach(rt, other, "receipts", 5)
    with pytest.raises(Invalid, match="not a file attached to this record"):
        rt.update(record.id, {"receipts": [foreign]}, actor="ann")
    assert rt.get(record.id).data.get("receipts") is None


def test_a_guard_reads_evidence_count_of_the_current_stay(rt: Runtime) -> None:
    record = visit(rt)
    attach(rt, record, "receipts", 9)  # attached in `shelves`: not during the stay in recheck
    record = to_recheck(rt, record)
    attach(rt, record, "shelf_photo", 4)
    assert refusal(rt, record, "done") == [("guard-refused", "Attach a receipt during this stay.")]
    attach(rt, record, "receipts", 8)
    assert rt.transition(record.id, "done", actor="ann").stage == "done"


def test_a_validation_reads_evidence_count(rt: Runtime) -> None:
    record = visit(rt)
    with pytest.raises(Refused) as caught:
        rt.update(record.id, {"note": "done"}, actor="ann")
    assert [p.message for p in caught.value.problems] == ["A visit noted as done needs a receipt."]
    attach(rt, record, "receipts", 1)
    assert rt.update(record.id, {"note": "done"}, actor="ann").data["note"] == "done"


def test_an_alert_condition_reads_evidence_count(rt: Runtime) -> None:
    record = visit(rt)
    attach(rt, record, "shelf_photo", 1, 2, 3, 3)
    with rt.store.read() as conn:
        assert conn.execute(select(T_ALERT.c.state)).fetchall() == []
    attach(rt, record, "shelf_photo", 4)
    with rt.store.read() as conn:
        rows = conn.execute(select(T_ALERT.c.rule, T_ALERT.c.record_id, T_ALERT.c.state)).fetchall()
    assert [tuple(r) for r in rows] == [("many_photos", record.id, "firing")]


def test_an_unknown_kind_is_refused_naming_stage_kinds_and_evidence_fields(rt: Runtime) -> None:
    record = visit(rt)
    with pytest.raises(Invalid) as caught:
        attach(rt, record, "reciepts", 1)
    assert caught.value.message == "'reciepts' is not an evidence kind of this record"
    assert [p.message for p in caught.value.problems] == [
        "known kinds: contract, receipts, shelf_photo"
    ]
    assert count(rt.store, T_EVIDENCE) == 0


def test_a_computed_field_counts_evidence_when_a_file_is_attached(rt: Runtime) -> None:
    record = visit(rt)
    assert record.data["photo_total"] == 0
    attach(rt, record, "shelf_photo", 1, 2, 2)
    assert rt.get(record.id).data["photo_total"] == 2
