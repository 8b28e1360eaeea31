"""An error inside a folded block scalar (`>-`) points at its line and column."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.compiler.pipeline import compile_bundle

REPO = Path(__file__).resolve().parents[2]


def test_an_unknown_name_in_a_folded_expression_points_at_each_use(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(REPO / "definitions", bundle)
    form = bundle / "forms" / "replenishment_request.yaml"
    text = form.read_text(encoding="utf-8")
    line = "  pharmacy_name: {type: string, required: true, normalize: [trim, collapse_spaces]}\n"
    assert line in text
    form.write_text(text.replace(line, ""), encoding="utf-8")
    rules = (bundle / "rules" / "replenishment.yaml").read_text(encoding="utf-8").splitlines()
    found = [
        (d.line, d.col)
        for d in compile_bundle(bundle).diagnostics
        if d.path.endswith("replenishment.yaml") and d.code == "unknown-name"
    ]
    folded = [
        (row, col)
        for row, col in found
        if rules[row - 2].strip() == "when: >-" or rules[row - 3].strip() == "when: >-"
    ]
    assert len(folded) == 3, found
    for row, col in folded:
        assert rules[row - 1][col - 1 :].startswith("pharmacy_name"), (row, col, rules[row - 1])
