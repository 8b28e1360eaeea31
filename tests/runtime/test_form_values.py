"""Field constraints the form declares hold at run time: multi_enum values, text lengths,
decimal precision, datetime bounds with a time (found by the form conformance cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.errors import Invalid, Refused
from runtime.store import Store
from tests.runtime.helpers import make_runtime

MANIFEST = """\
kind: bundle
version: 1
name: form-values
timezone: Asia/Shanghai
roles: [rep]
tables:
  kinds:
    key: [code]
    columns: {code: string}
    rows: [{code: otc}, {code: rx}]
"""
FORM = """\
kind: form
version: 1
entity: item
fields:
  picks: {type: multi_enum, values: [a, b]}
  kinds: {type: multi_enum, values_from: kinds.code}
  code: {type: string, min_length: 2, max_length: 3}
  price: {type: decimal, precision: 2, max: 10}
  at: {type: datetime, max: "2026-12-31T18:00:00"}
---
kind: form
version: 1
entity: counted
fields:
  n: {type: integer, min: 5, max: 9, required: true}
"""


def _bundle(tmp_path: Path) -> Bundle:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "bundle.yaml").write_text(MANIFEST, encoding="utf-8")
    (root / "form.yaml").write_text(FORM, encoding="utf-8")
    result = compile_bundle(root)
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


def _messages(exc: Invalid) -> list[str]:
    return [p.message for p in exc.problems]


def test_multi_enum_refuses_values_it_does_not_list(store: Store, tmp_path: Path) -> None:
    runtime = make_runtime(store, tmp_path, _bundle(tmp_path))
    assert runtime.create("item", {"picks": ["a", "b"], "kinds": ["rx"]}).data["picks"] == [
        "a",
        "b",
    ]
    with pytest.raises(Invalid) as refused:
        runtime.create("item", {"picks": ["a", "c"]})
    assert _messages(refused.value) == ["picks.1: must be one of: 'a' or 'b'"]
    with pytest.raises(Invalid) as refused:
        runtime.create("item", {"kinds": ["food"]})
    assert _messages(refused.value) == ["kinds.0: must be one of: 'otc' or 'rx'"]


def test_text_lengths_count_characters(store: Store, tmp_path: Path) -> None:
    runtime = make_runtime(store, tmp_path, _bundle(tmp_path))
    assert runtime.create("item", {"code": "ab"}).data["code"] == "ab"
    assert runtime.create("item", {"code": "abc"}).data["code"] == "abc"
    with pytest.raises(Invalid) as refused:
        runtime.create("item", {"code": "a"})
    assert _messages(refused.value) == ["code: String should have at least 2 characters"]
    with pytest.raises(Invalid) as refused:
        runtime.create("item", {"code": "abcd"})
    assert _messages(refused.value) == ["code: String should have at most 3 characters"]


def test_decimal_keeps_its_precision_rounding_halves_up(store: Store, tmp_path: Path) -> None:
    runtime = make_runtime(store, tmp_path, _bundle(tmp_path))
    assert runtime.create("item", {"price": 3.14159}).data["price"] == 3.14
    assert runtime.create("item", {"price": 2.675}).data["price"] == 2.68
    assert runtime.create("item", {"price": 9.994}).data["price"] == 9.99
    record = runtime.create("item", {"price": 10.004})  # rounds to 10.0: at the max
    assert record.data["price"] == 10.0
    assert runtime.update(record.id, {"price": 1.005}).data["price"] == 1.01
    with pytest.raises(Invalid) as refused:
        runtime.create("item", {"price": 10.005})
    assert _messages(refused.value) == ["price: Input should be less than or equal to 10"]


def test_datetime_bound_with_a_time(store: Store, tmp_path: Path) -> None:
    runtime = make_runtime(store, tmp_path, _bundle(tmp_path))
    assert runtime.create("item", {"at": "2026-12-31T18:00:00"}).data["at"].hour == 18
    with pytest.raises(Invalid) as refused:
        runtime.create("item", {"at": "2026-12-31T18:00:01"})
    assert _messages(refused.value) == [
        "at: Input should be less than or equal to 2026-12-31T18:00:00+00:00"
    ]


def test_a_legacy_record_missing_a_required_field_says_it_is_required(
    store: Store, tmp_path: Path
) -> None:
    root = tmp_path / "legacy"
    root.mkdir()
    (root / "bundle.yaml").write_text(MANIFEST, encoding="utf-8")
    (root / "form.yaml").write_text(
        "kind: form\nversion: 1\nentity: survey\nschema_version: 2\nfields:\n"
        "  outlet: {type: string, required: true}\n"
        "  visits: {type: integer, required: true, since: 2}\n",
        encoding="utf-8",
    )
    result = compile_bundle(root)
    assert result.bundle is not None
    runtime = make_runtime(store, tmp_path, result.bundle)
    old = runtime.import_legacy("survey", {"outlet": "Kang"}, 1)
    assert old.read_only
    with pytest.raises(Refused) as refused:
        runtime.update(old.id, {"outlet": "Kangle"})
    assert [p.message for p in refused.value.problems] == ["visits: Field required"]


def test_a_required_integer_keeps_its_bounds(store: Store, tmp_path: Path) -> None:
    """A required integer's min/max held only when the field was optional (the 64-bit
    limits of every integer overrode them): both edges, and one past each."""
    runtime = make_runtime(store, tmp_path, _bundle(tmp_path))
    assert runtime.create("counted", {"n": 5}).data["n"] == 5
    assert runtime.create("counted", {"n": 9}).data["n"] == 9
    for value, message in (
        (4, "n: Input should be greater than or equal to 5"),
        (10, "n: Input should be less than or equal to 9"),
    ):
        with pytest.raises(Invalid) as refused:
            runtime.create("counted", {"n": value})
        assert _messages(refused.value) == [message]
