"""The Bundle keeps every compiled expression for the runtime, found by the spec part."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compiler.pipeline import compile_bundle

ROOT = Path(__file__).resolve().parents[2]


def test_expressions_are_found_by_their_spec_part() -> None:
    bundle = compile_bundle(ROOT / "definitions").bundle
    assert bundle is not None
    routing = bundle.routings["lead_routing"]
    eligible = bundle.expr(routing, "eligible")
    assert eligible.source == routing.eligible
    candidate = {"specialty": ["otc"]}
    assert eligible.fn({"specialty": "otc"}, {"candidate": candidate}) is True
    alert = bundle.alerts["stock_below_safety"]
    assert bundle.expr(alert, "when").fn({"stock_days": 3}, {}) is True
    assert bundle.expr(alert, "resolve_when").fn({"stock_days": 3}, {}) is False


def test_a_template_body_reads_params_from_the_context() -> None:
    bundle = compile_bundle(ROOT / "definitions").bundle
    assert bundle is not None
    east, north = bundle.workflows["signing_east"], bundle.workflows["signing_north"]
    guard = east.body.stages[1].guards[0]
    assert north.body.stages[1].guards[0] is guard  # one template body, shared
    refuse = bundle.expr(guard, "refuse_if").fn
    record = {"accepted_clauses": ["return_policy"]}
    assert refuse(record, {"params": dict(east.params)}) is True
    assert refuse(record, {"params": dict(north.params)}) is False


def test_an_unknown_part_is_a_lookup_error() -> None:
    bundle = compile_bundle(ROOT / "definitions").bundle
    assert bundle is not None
    with pytest.raises(LookupError, match="no compiled expression 'when'"):
        bundle.expr(object(), "when")
