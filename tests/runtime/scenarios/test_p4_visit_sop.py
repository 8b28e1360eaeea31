"""P4 pharmacy visit SOP: six stages in order, each naming the evidence it needs."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import Invalid, Refused
from tests.runtime.scenarios.support import REP, VISIT_STAGES, jpeg, pdf, png, walk_visit

PHARMACY = {"pharmacy_name": "Kangda Pharmacy", "region": "sichuan", "pharmacy_tier": "chain"}
QUOTE = {"product_class": "antibiotics", "quote_price": 48.0}


def messages(problems: list[Any]) -> list[str]:
    return [p.message for p in problems]


def test_the_six_stages_run_in_order_and_history_keeps_each_stay(
    runtime: Runtime, clock: FakeClock
) -> None:
    """P4: appointment -> inventory count -> competitor analysis -> proposal demo -> quote ->
    payment tracking, then won; every stay is in the history with its evidence."""
    record = runtime.create("opportunity", PHARMACY, actor=REP)
    assert (record.workflow, record.stage, record.owner) == ("pharmacy_visit", "appointment", REP)

    for stage in VISIT_STAGES[1:]:
        clock.advance(days=1)
        record = walk_visit(runtime, record, stage, quote=QUOTE)
    record = runtime.transition(record.id, "won", actor=REP)

    assert record.status == "won"
    history = runtime.history(record.id)
    assert [h["stage"] for h in history] == list(VISIT_STAGES)
    assert [h["to_stage"] for h in history] == [*VISIT_STAGES[1:], "won"]
    assert [h["dwell_seconds"] for h in history] == [86400.0] * 5 + [0.0]
    kinds = {h["stage"]: h["evidence_kind"] for h in history}
    assert kinds["inventory_count"] == "shelf_photo,inventory_list"
    assert kinds["competitor_analysis"] == "price_comparison"
    assert len(runtime.evidence(record.id)) == 5


def test_leaving_without_the_evidence_is_refused_naming_what_is_missing(
    runtime: Runtime,
) -> None:
    """P4: the refusal names each missing piece with its type and minimum count, and only
    what is still missing once some files are attached."""
    record = runtime.create("opportunity", PHARMACY, actor=REP)
    record = runtime.transition(record.id, "inventory_count", actor=REP)

    with pytest.raises(Refused) as refused:
        runtime.transition(record.id, "competitor_analysis", actor=REP)
    assert messages(refused.value.problems) == [
        "Shelf photos: 0 of 3 attached (image/jpeg, image/png)",
        "Inventory list screenshot: 0 of 1 attached (image/*, application/pdf)",
    ]
    assert [p.detail for p in refused.value.problems] == [
        {"kind": "shelf_photo", "have": 0, "min": 3},
        {"kind": "inventory_list", "have": 0, "min": 1},
    ]

    # A PDF is no shelf photo: refused at upload, whatever the client claims it is.
    with pytest.raises(Invalid) as wrong_type:
        runtime.attach_evidence(
            record.id,
            "shelf_photo",
            pdf(),
            file_name="shelf.jpg",
            media_type="image/jpeg",
            actor=REP,
        )
    assert str(wrong_type.value) == "a application/pdf file is not accepted as shelf_photo"

    for _ in range(2):
        runtime.attach_evidence(record.id, "shelf_photo", jpeg(), file_name="s.jpg", actor=REP)
    runtime.attach_evidence(record.id, "inventory_list", png(), file_name="l.png", actor=REP)
    assert messages(runtime.check_transition(record.id, "competitor_analysis", actor=REP)) == [
        "Shelf photos: 2 of 3 attached (image/jpeg, image/png)"
    ]
    runtime.attach_evidence(record.id, "shelf_photo", jpeg(), file_name="s3.jpg", actor=REP)
    assert runtime.check_transition(record.id, "competitor_analysis", actor=REP) == []
    moved = runtime.transition(record.id, "competitor_analysis", actor=REP)

    assert moved.stage == "competitor_analysis"
    with pytest.raises(Refused) as next_refused:
        runtime.transition(record.id, "proposal_demo", actor=REP)
    assert messages(next_refused.value.problems) == [
        "Price comparison sheet: 0 of 1 attached (application/pdf, image/*)"
    ]
    # Refused moves are kept with the record, with their reasons.
    refusals = runtime.explain(record.id, kind="transition")
    assert [(r["rule"], r["outcome"]) for r in refusals] == [
        ("competitor_analysis", "refused"),
        ("proposal_demo", "refused"),
    ]
    assert refusals[0]["detail"]["problems"][0]["message"] == (
        "Shelf photos: 0 of 3 attached (image/jpeg, image/png)"
    )


def test_stages_cannot_be_skipped_and_the_quote_needs_its_fields(runtime: Runtime) -> None:
    """P4: one stage at a time; the quote stage names the fields it needs before leaving."""
    record = runtime.create("opportunity", PHARMACY, actor=REP)

    with pytest.raises(Refused) as skipped:
        runtime.transition(record.id, "quote", actor=REP)
    assert messages(skipped.value.problems) == [
        "pharmacy_visit does not allow 'appointment' -> 'quote'; from here: inventory_count, lost"
    ]
    assert runtime.get(record.id).stage == "appointment"

    record = walk_visit(runtime, record, "quote")
    with pytest.raises(Refused) as missing:
        runtime.transition(record.id, "payment_tracking", actor=REP)
    assert messages(missing.value.problems) == [
        "'quote_price' must be filled in before leaving",
        "'product_class' must be filled in before leaving",
    ]
    # Going back to the demo is an allowed move and needs nothing.
    assert runtime.transition(record.id, "proposal_demo", actor=REP).stage == "proposal_demo"
