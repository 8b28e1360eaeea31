"""The `reevaluate` block: its defaults and the bound on `batch`, pinned at both edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.compiler.pipeline import compile_bundle
from tests.runtime.small import diagnostics, write

FORM = """\
kind: form
version: 1
entity: lead
fields:
  orders: {type: integer}
  score: {type: decimal}
"""


def scoring(block: str) -> str:
    return f"""\
kind: scoring
version: 1
name: lead_score
entity: lead
output: score
features:
  orders: {{value: "clamp(orders / 10, 0, 1)", weight: 1}}
{block}"""


def test_without_the_block_nothing_is_re_evaluated(tmp_path: Path) -> None:
    result = compile_bundle(write(tmp_path, {"forms/l.yaml": FORM, "rules/s.yaml": scoring("")}))
    assert result.bundle is not None
    assert result.bundle.scorings["lead_score"].spec.reevaluate is None


def test_the_defaults_are_records_none_and_batch_200(tmp_path: Path) -> None:
    files = {"forms/l.yaml": FORM, "rules/s.yaml": scoring("reevaluate: {}\n")}
    result = compile_bundle(write(tmp_path, files))
    assert result.bundle is not None
    block = result.bundle.scorings["lead_score"].spec.reevaluate
    assert block is not None and (block.records, block.batch, block.where) == ("none", 200, None)


@pytest.mark.parametrize(
    ("batch", "error"),
    [
        (1, None),
        (5000, None),
        (0, "'reevaluate.batch' must be at least 1, got 0"),
        (5001, "'reevaluate.batch' must be at most 5000, got 5001"),
    ],
)
def test_batch_is_bounded_at_compile_time(tmp_path: Path, batch: int, error: str | None) -> None:
    block = f"reevaluate: {{records: open, batch: {batch}}}\n"
    found = diagnostics(tmp_path, {"forms/l.yaml": FORM, "rules/s.yaml": scoring(block)})
    if error is None:
        assert found == []
    else:
        assert len(found) == 1 and error in found[0] and "error[invalid]" in found[0]
        assert found[0].startswith("rules/s.yaml:8:")
