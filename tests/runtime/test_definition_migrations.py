"""Definition migrations (runtime/evolve.py): renames and removals carried into the data.

Version 1 of a small bundle stores `insurance_claim` records; version 2 renames the
entity (`claim`), a field (`amount` -> `amount_due`) and a stage (`triage` ->
`assessment`), removes a field that held data (`legacy_code`) and a stage that holds a
record (`quality_check`, its records to `payout`). Each change is pinned with its count,
the pre-flight rehearses without writing, a failure midway writes nothing, and a second
run changes nothing. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from engine.bundle import Bundle
from runtime import evolve
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.preflight import blocking, rehearse
from runtime.reports import dwell
from runtime.store import T_EVENT, T_EVIDENCE, T_RECORD, T_STAY, T_TIMER, Store
from tests.runtime.helpers import JPEG
from tests.runtime.small import small_bundle

V1_FORM = """\
kind: form
version: 1
entity: insurance_claim
fields:
  title: {type: string}
  amount: {type: decimal}
  legacy_code: {type: string}
  photos: {type: evidence, accept: [image/jpeg]}
"""
V1_FLOW = """\
kind: workflow
version: 1
name: claim_flow
entity: insurance_claim
stages:
  - id: triage
    sla: {within: 2h}
  - id: quality_check
  - id: payout
    sla: {within: 4h}
exits:
  - {id: closed, outcome: closed}
moves: {forward: any_later}
"""
V2_FORM = """\
kind: form
version: 1
entity: claim
renamed_from: insurance_claim
fields:
  title: {type: string}
  amount_due: {type: decimal, renamed_from: amount}
  pictures: {type: evidence, accept: [image/jpeg], renamed_from: photos}
removed_fields:
  legacy_code: {note: replaced by category}
"""
V2_FLOW = """\
kind: workflow
version: 1
name: claim_flow
entity: claim
stages:
  - id: assessment
    renamed_from: triage
    sla: {within: 2h}
  - id: payout
    sla: {within: 4h}
exits:
  - {id: closed, outcome: closed}
moves: {forward: any_later}
removed_stages:
  quality_check: {move_to: payout, note: merged into payout}
"""


def v1(tmp_path: Path) -> Bundle:
    return small_bundle(tmp_path / "v1", {"forms/claim.yaml": V1_FORM, "flow.yaml": V1_FLOW})


def v2(tmp_path: Path, form: str = V2_FORM, flow: str = V2_FLOW) -> Bundle:
    return small_bundle(tmp_path / "v2", {"forms/claim.yaml": form, "flow.yaml": flow})


def seeded(store: Store, tmp_path: Path, clock: FakeClock) -> dict[str, str]:
    """Three v1 records: a (triage, legacy_code, photo), b (quality_check), c (triage)."""
    rt = Runtime(v1(tmp_path), store, clock, evidence_dir=tmp_path / "evidence")
    a = rt.create("insurance_claim", {"title": "A", "amount": 10.5, "legacy_code": "X1"}).id
    rt.attach_evidence(a, "photos", JPEG, file_name="a.jpg", media_type="image/jpeg")
    b = rt.create("insurance_claim", {"title": "B", "amount": 20}).id
    rt.transition(b, "quality_check")
    c = rt.create("insurance_claim", {"title": "C", "legacy_code": None}).id
    return {"a": a, "b": b, "c": c}


def rows(store: Store, table: Any, *where: Any) -> list[dict[str, Any]]:
    with store.read() as conn:
        query = select(table).where(*where).order_by(*table.primary_key.columns)
        return [dict(r._mapping) for r in conn.execute(query).all()]


def record(store: Store, record_id: str) -> dict[str, Any]:
    (row,) = rows(store, T_RECORD, T_RECORD.c.id == record_id)
    return row


PLAN = [
    ("entity-renamed", None, "insurance_claim", "claim", 3),
    ("field-renamed", None, "amount", "amount_due", 2),
    ("field-renamed", None, "photos", "pictures", 1),
    ("field-removed", None, "legacy_code", None, 1),
    ("stage-renamed", "claim_flow", "triage", "assessment", 2),
    ("stage-moved", "claim_flow", "quality_check", "payout", 1),
]


def plan_of(changes: list[evolve.Change]) -> list[tuple[Any, ...]]:
    return sorted((c.kind, c.workflow, c.old, c.new, c.count) for c in changes)


def test_the_preflight_plans_every_change_with_counts_and_writes_nothing(
    store: Store, tmp_path: Path
) -> None:
    clock = FakeClock()
    ids = seeded(store, tmp_path, clock)
    before = rows(store, T_RECORD)
    for old in (v1(tmp_path), None):  # a reload (old bundle served) and a start-up
        findings, planned = rehearse(store, old, v2(tmp_path))
        assert blocking(findings) == []
        assert plan_of(planned) == sorted(PLAN)
    assert rows(store, T_RECORD) == before
    assert record(store, ids["a"])["entity"] == "insurance_claim"


def test_apply_renames_moves_and_keeps_removed_values_in_history(
    store: Store, tmp_path: Path
) -> None:
    clock = FakeClock()
    ids = seeded(store, tmp_path, clock)
    new = v2(tmp_path)
    clock.advance(timedelta(minutes=30))
    done = evolve.migrate(store, new, clock.now())
    assert plan_of(done) == sorted(PLAN)
    a, b, c = (record(store, ids[k]) for k in "abc")
    assert {r["entity"] for r in (a, b, c)} == {"claim"}
    assert a["data"]["amount_due"] == 10.5 and "amount" not in a["data"]
    assert "legacy_code" not in a["data"] and "legacy_code" not in c["data"]
    assert (a["stage"], b["stage"], c["stage"]) == ("assessment", "payout", "assessment")
    # the removed field's value is in the record's history, with the note
    (removed,) = rows(store, T_EVENT, T_EVENT.c.kind == "field_removed")
    assert removed["record_id"] == ids["a"] and removed["entity"] == "claim"
    assert removed["detail"] == {
        "field": "legacy_code",
        "value": "X1",
        "note": "replaced by category",
    }
    # the move is audited with the bundle version; the stays follow
    (move,) = rows(store, T_EVENT, T_EVENT.c.kind == "migration_move")
    assert move["record_id"] == ids["b"] and move["bundle_hash"] == new.hash
    assert move["detail"]["source"] == "quality_check" and move["detail"]["target"] == "payout"
    assert move["detail"]["note"] == "merged into payout"
    stays = rows(store, T_STAY, T_STAY.c.record_id == ids["b"])
    assert [(s["stage"], s["to_stage"], s["outcome"]) for s in stays] == [
        ("assessment", "quality_check", None),  # its first stay, renamed from triage
        ("quality_check", "payout", "migrated"),
        ("payout", None, None),
    ]
    assert [s["stage"] for s in rows(store, T_STAY, T_STAY.c.record_id == ids["a"])] == [
        "assessment"
    ]
    # SLA timers: a's follows the rename; b's payout SLA starts at the move
    (timer,) = rows(store, T_TIMER, T_TIMER.c.record_id == ids["a"], T_TIMER.c.fired.is_(False))
    assert timer["ref"] == "assessment" and timer["payload"]["stage"] == "assessment"
    (timer,) = rows(store, T_TIMER, T_TIMER.c.record_id == ids["b"], T_TIMER.c.fired.is_(False))
    assert timer["ref"] == "payout" and timer["due_at"] == (
        clock.now() + timedelta(hours=4)
    ).replace(tzinfo=None)
    # files of the renamed evidence field take its new name
    (photo,) = rows(store, T_EVIDENCE, T_EVIDENCE.c.record_id == ids["a"])
    assert photo["kind"] == "pictures" and photo["stage"] == "assessment"
    assert a["data"]["pictures"] == [photo["id"]]
    # one audit entry per change maps old names to new
    mapped = rows(store, T_EVENT, T_EVENT.c.kind == "definition_migrated")
    assert sorted((e["detail"]["old"], e["detail"]["count"]) for e in mapped) == sorted(
        (p[2], p[4]) for p in PLAN
    )
    # the runtime on version 2 works with the migrated records
    rt = Runtime(new, store, clock, evidence_dir=tmp_path / "evidence")
    assert rt.update(ids["a"], {"amount_due": 11}).data["amount_due"] == 11
    assert rt.transition(ids["a"], "payout").stage == "payout"
    assert rt.get(ids["b"]).stage == "payout"


def test_a_second_run_changes_nothing(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    seeded(store, tmp_path, clock)
    new = v2(tmp_path)
    assert evolve.migrate(store, new, clock.now())
    before = (rows(store, T_RECORD), len(rows(store, T_EVENT)), rows(store, T_STAY))
    assert evolve.migrate(store, new, clock.now()) == []
    assert rehearse(store, None, new) == ([], [])
    assert (rows(store, T_RECORD), len(rows(store, T_EVENT)), rows(store, T_STAY)) == before


def test_renames_of_names_no_record_holds_are_no_ops(store: Store, tmp_path: Path) -> None:
    new = v2(tmp_path)
    assert evolve.migrate(store, new, FakeClock().now()) == []
    assert rows(store, T_EVENT) == []


def test_a_failure_midway_writes_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    ids = seeded(store, tmp_path, clock)
    before = (rows(store, T_RECORD), rows(store, T_EVENT), rows(store, T_STAY))

    def broken(*_: Any) -> list[evolve.Change]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(evolve, "_move", broken)  # after the renames ran
    with pytest.raises(RuntimeError, match="disk full"):
        evolve.migrate(store, v2(tmp_path), clock.now())
    assert (rows(store, T_RECORD), rows(store, T_EVENT), rows(store, T_STAY)) == before
    assert record(store, ids["a"])["data"]["amount"] == 10.5


def test_what_is_still_refused(store: Store, tmp_path: Path) -> None:
    clock = FakeClock()
    seeded(store, tmp_path, clock)
    old = v1(tmp_path)
    # a stage that holds a record, removed without `removed_stages`
    flow = V2_FLOW.replace(
        "removed_stages:\n  quality_check: {move_to: payout, note: merged into payout}\n", ""
    )
    findings, planned = rehearse(store, old, v2(tmp_path, flow=flow))
    assert [(f.code, f.stage, f.count) for f in blocking(findings)] == [
        ("stage-removed", "quality_check", 1)
    ]
    assert "removed_stages" in findings[0].hint
    assert "stage-moved" not in {c.kind for c in planned}
    # a renamed field whose new type refuses the values it takes over (10.5 is no integer)
    form = V2_FORM.replace("amount_due: {type: decimal", "amount_due: {type: integer")
    findings, _ = rehearse(store, old, v2(tmp_path, form=form))
    assert [(f.code, f.field, f.count) for f in blocking(findings)] == [
        ("type-changed", "amount_due", 1)
    ]
    # a field with data removed without `removed_fields`: kept aside (a warning), as before
    form = V2_FORM.replace("removed_fields:\n  legacy_code: {note: replaced by category}\n", "")
    findings, _ = rehearse(store, old, v2(tmp_path, form=form))
    assert blocking(findings) == []
    assert [(f.code, f.field, f.count) for f in findings] == [("field-removed", "legacy_code", 1)]
    assert "removed_fields" in findings[0].hint


def test_dwell_and_breaches_of_a_renamed_stage_carry_on_under_its_new_id(
    store: Store, tmp_path: Path
) -> None:
    clock = FakeClock()
    ids = seeded(store, tmp_path, clock)
    rt = Runtime(v1(tmp_path), store, clock, evidence_dir=tmp_path / "evidence")
    clock.advance(timedelta(hours=2, minutes=1))
    rt.tick(clock.now())  # a's and c's triage SLA (2h) breached: events name 'triage'
    new = v2(tmp_path)
    evolve.migrate(store, new, clock.now())
    with store.read() as conn:
        rows_ = {r["stage"]: r for r in dwell(conn, new.workflows["claim_flow"], clock.now())}
    assert rows_["assessment"]["sla_breaches"] == 2
    assert rows_["assessment"]["stays"] == 3  # a, c, and b's first stay
    assert rows_["payout"]["stays"] == 1 and rows_["payout"]["sla_breaches"] == 0
    assert ids


def test_when_both_names_hold_a_value_the_new_one_wins_and_the_old_goes_to_history(
    store: Store, tmp_path: Path
) -> None:
    clock = FakeClock()
    ids = seeded(store, tmp_path, clock)
    with store.begin(clock.now()) as tx:  # a value under the new name already (an import)
        data = {**record(store, ids["b"])["data"], "amount_due": 99}
        tx.conn.execute(T_RECORD.update().where(T_RECORD.c.id == ids["b"]).values(data=data))
    done = evolve.migrate(store, v2(tmp_path), clock.now())
    assert ("field-renamed", None, "amount", "amount_due", 2) in plan_of(done)
    assert record(store, ids["b"])["data"]["amount_due"] == 99
    kept = rows(store, T_EVENT, T_EVENT.c.kind == "field_removed", T_EVENT.c.record_id == ids["b"])
    assert [e["detail"] for e in kept] == [
        {"field": "amount", "value": 20, "note": "renamed to 'amount_due', which was set"}
    ]
