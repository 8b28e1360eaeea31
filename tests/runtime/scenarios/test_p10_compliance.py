"""P10 same-day compliance rule: quotes above a regional price cap are blocked at the quote stage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.compiler.pipeline import compile_bundle
from runtime.core import Runtime
from runtime.errors import Refused
from tests.runtime.scenarios.support import REP, walk_visit

ROOT = Path(__file__).resolve().parents[3]
CAP_MESSAGE = "Quote 45.0 is above the sichuan cap for herbal_pieces."


def at_quote(runtime: Runtime, region: str, product_class: str, price: float) -> str:
    record = runtime.create(
        "opportunity", {"pharmacy_name": f"{region} store", "region": region}, actor=REP
    )
    quote = {"product_class": product_class, "quote_price": price}
    return walk_visit(runtime, record, "quote", quote=quote).id


def test_a_quote_above_the_cap_is_blocked_at_the_quote_stage_with_the_reason(
    runtime: Runtime,
) -> None:
    """P10: 45 for herbal pieces in Sichuan (cap 38.5) cannot leave the quote stage, nor be
    saved while there; the refusal names the rule and shows the reason."""
    record_id = at_quote(runtime, "sichuan", "herbal_pieces", 45.0)

    with pytest.raises(Refused) as refused:
        runtime.transition(record_id, "payment_tracking", actor=REP)
    problems = refused.value.problems
    assert [(p.code, p.message) for p in problems] == [
        ("guard-refused", CAP_MESSAGE),
        ("rule-refused", CAP_MESSAGE),
    ]
    assert problems[1].rule == "herbal_price_cap"
    assert runtime.get(record_id).stage == "quote"

    with pytest.raises(Refused) as on_save:
        runtime.update(record_id, {"quote_price": 40.0}, actor=REP)
    [problem] = on_save.value.problems
    assert (problem.rule, problem.message) == (
        "herbal_price_cap",
        "Quote 40.0 is above the sichuan cap for herbal_pieces.",
    )

    runtime.update(record_id, {"quote_price": 38.5}, actor=REP)  # at the cap is allowed
    moved = runtime.transition(record_id, "payment_tracking", actor=REP)
    assert moved.stage == "payment_tracking" and moved.data["quote_price"] == 38.5


def test_a_cap_added_today_applies_at_once_to_new_and_open_quotes(
    runtime: Runtime, tmp_path: Path
) -> None:
    """P10: a new regional cap (antibiotics in Chongqing) is one table row; once the edited
    bundle is loaded, the same day, an open quote above it is blocked."""
    record_id = at_quote(runtime, "chongqing", "antibiotics", 60.0)
    assert runtime.check_transition(record_id, "payment_tracking", actor=REP) == []

    edited = tmp_path / "definitions"
    shutil.copytree(ROOT / "definitions", edited)
    manifest = edited / "bundle.yaml"
    row = "      - {product_class: antibiotics, region: sichuan, max_unit_price: 52.0}\n"
    text = manifest.read_text(encoding="utf-8")
    assert row in text
    new_row = "      - {product_class: antibiotics, region: chongqing, max_unit_price: 55.0}\n"
    manifest.write_text(text.replace(row, row + new_row), encoding="utf-8")
    result = compile_bundle(edited)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    runtime.swap(result.bundle)

    problems = runtime.check_transition(record_id, "payment_tracking", actor=REP)
    assert [p.message for p in problems] == [
        "Quote 60.0 is above the chongqing cap for antibiotics."
    ] * 2
    with pytest.raises(Refused):
        runtime.transition(record_id, "payment_tracking", actor=REP)
    runtime.update(record_id, {"quote_price": 55.0}, actor=REP)
    assert runtime.transition(record_id, "payment_tracking", actor=REP).stage == "payment_tracking"
