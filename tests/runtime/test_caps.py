"""Default safety caps of values (runtime/data.py) and the commit gate of the store
(runtime/store.py): what a form does not bound is bounded anyway, a declared
`max_length` replaces the cap, and a closed gate rolls a transaction back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.compiler.pipeline import compile_bundle
from runtime.data import MAX_ITEMS, MAX_TEXT, form_model
from runtime.errors import Invalid
from runtime.store import T_EVENT, Abandoned, CommitGate, Store, gated

NOW = datetime(2026, 1, 5, 9)
BUNDLE = """kind: bundle
version: 1
name: caps
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
"""
FORM = """kind: form
version: 1
entity: bag
fields:
  items: {type: list, of: string}
  picks: {type: multi_enum, values: [a, b]}
  many: {type: list, of: integer, max_length: 5000}
  note: {type: text}
  essay: {type: text, max_length: 200000}
"""


def _problems(model: object, data: dict[str, object]) -> list[tuple[str | None, str]]:
    with pytest.raises(Invalid) as refused:
        model.validate(data)  # type: ignore[attr-defined]
    return [(p.field, p.message) for p in refused.value.problems]


def test_undeclared_lengths_are_capped_and_declared_ones_replace_the_cap(
    tmp_path: Path,
) -> None:
    (tmp_path / "bundle.yaml").write_text(BUNDLE)
    (tmp_path / "bag.yaml").write_text(FORM)
    result = compile_bundle(tmp_path)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    model = form_model(result.bundle, "bag")
    full = {
        "items": ["x"] * MAX_ITEMS,
        "picks": ["a"] * MAX_ITEMS,
        "many": list(range(MAX_ITEMS + 1)),
        "note": "n" * MAX_TEXT,
        "essay": "e" * (MAX_TEXT + 1),
    }
    assert model.validate(full)["many"] == list(range(MAX_ITEMS + 1))
    over = {
        "items": ["x"] * (MAX_ITEMS + 1),
        "picks": ["a"] * (MAX_ITEMS + 1),
        "note": "n" * (MAX_TEXT + 1),
    }
    too_long = f"should have at most {MAX_ITEMS} items after validation, not {MAX_ITEMS + 1}"
    assert _problems(model, over) == [
        ("items", f"items: List {too_long}"),
        ("picks", f"picks: List {too_long}"),
        ("note", f"note: String should have at most {MAX_TEXT} characters"),
    ]
    assert _problems(model, {"many": [1] * 5001}) == [
        ("many", "many: List should have at most 5000 items after validation, not 5001")
    ]
    # The caps are part of the model, so the OpenAPI schema built from it shows them.
    schema = model.strict.model_json_schema()["properties"]
    assert [schema[f]["anyOf"][0].get("maxItems") for f in ("items", "picks", "many")] == [
        MAX_ITEMS,
        MAX_ITEMS,
        5000,
    ]
    assert [schema[f]["anyOf"][0].get("maxLength") for f in ("note", "essay")] == [
        MAX_TEXT,
        200_000,
    ]


def _events(store: Store) -> int:
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(T_EVENT)).scalar() or 0)


def test_a_closed_gate_rolls_the_transaction_back(store: Store) -> None:
    gate = CommitGate()
    with pytest.raises(Abandoned), gated(gate), store.begin(NOW) as tx:
        tx.event("probe", None, None)
        assert gate.close() is True  # the waiting side gives up before the commit
    assert _events(store) == 0
    with pytest.raises(Abandoned), gated(gate), store.begin(NOW):  # nothing more starts
        pass


def test_a_gate_a_commit_got_through_cannot_be_closed(store: Store) -> None:
    gate = CommitGate()
    with gated(gate), store.begin(NOW) as tx:
        tx.event("probe", None, None)
    assert gate.close() is False
    assert _events(store) == 1
