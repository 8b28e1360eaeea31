"""Hostile expressions (issue 10): refused at compile time where they stand, or stopped by
a bound when they run.

Each compile-time case states every issue: code, offset into the source and message. In a
bundle, each stands at its own file:line:col and no Bundle is built (tests/api/
test_hostile_definitions.py: a running server keeps serving its version, nothing stored
changes). Run-time cases hit the bounds of engine/expr/limits.py and raise an
EvaluationError naming the bound. The fuzzer (tests/fuzz/, docs/testing.md "Fuzzing")
draws many more; these are the ones worth reading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from expr_scopes import CONTEXT, SCOPE, full_record

from engine.compiler.pipeline import compile_bundle
from engine.expr import EvaluationError, ExpressionError, compile_expression
from engine.expr.limits import MAX_COMPREHENSION_LENGTH, MAX_SOURCE_LENGTH, MAX_STRING_LENGTH
from tests.fuzz.hostile import HOSTILE, TOO_LONG, VALUE_COL, in_bundle, validations


@pytest.mark.parametrize(("source", "issues"), [pytest.param(s, i, id=n) for n, s, i in HOSTILE])
def test_a_hostile_expression_is_refused_at_its_character(
    source: str, issues: list[tuple[str, int, str]]
) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(source, SCOPE)
    assert [(i.code, i.offset, i.message) for i in caught.value.issues] == issues


def test_the_cases_are_distinct() -> None:
    sources = [s for _, s, _ in HOSTILE]
    assert len(set(sources)) == len(sources) == 35
    assert len("score + " * 500 + "1") == MAX_SOURCE_LENGTH + 1


def _bundle_with(sources: list[str]) -> str:
    """A one-file bundle: a form and one validation per expression."""
    docs = [
        "kind: bundle\nversion: 1\nname: hostile\ntimezone: UTC\nroles: [rep]\n",
        "kind: form\nversion: 1\nentity: lead\nfields:\n"
        "  name: {type: string}\n  score: {type: integer}\n"
        "  keywords: {type: list, of: string}\n",
        *validations(sources),
    ]
    return "---\n".join(docs)


def test_in_a_bundle_each_hostile_expression_is_located_and_no_bundle_is_built(
    tmp_path: Path,
) -> None:
    picked = in_bundle()
    text = _bundle_with([s for s, _ in picked])
    (tmp_path / "all.yaml").write_text(text, encoding="utf-8")
    result = compile_bundle(tmp_path, display_root="b")
    assert result.bundle is None
    lines = text.splitlines()
    starts = [n for n, line in enumerate(lines, 1) if line.startswith("refuse_if: ")]
    expected = sorted(
        ("b/all.yaml", row, VALUE_COL + offset, code, message)
        for row, (_, issues) in zip(starts, picked, strict=True)
        for code, offset, message in issues
    )
    found = sorted((d.path, d.line, d.col, d.code, d.message) for d in result.diagnostics)
    # The bundle's scope has fewer names and a refuse_if must be a condition: a few more
    # issues (unknown 'lines', a list where a bool is expected), each on its own line too.
    assert [f for f in expected if f not in found] == []
    assert {row for _, row, *_ in found} == set(starts)
    assert len(picked) >= 28


def _evaluate(source: str, **values: Any) -> Any:
    return compile_expression(source, SCOPE)({**full_record(), **values}, CONTEXT)


BIG = ["k"] * (MAX_COMPREHENSION_LENGTH + 1)
LOOP = f"a loop over {len(BIG)} items; the limit is {MAX_COMPREHENSION_LENGTH}"
NUMBER = "the result would be a number that is too large"
RUN_TIME = [
    ("score ** score", {"score": 10**6}, NUMBER),
    ("score ** stock_days", {"score": 2, "stock_days": 2000}, NUMBER),
    ("quote_price ** score", {"quote_price": 10.5, "score": 100_000}, NUMBER),
    ("name * score", {"name": "ab", "score": 60_000}, TOO_LONG),
    ("keywords * score", {"keywords": ["a", "b"], "score": 60_000}, TOO_LONG),
    ("name + name", {"name": "x" * 60_000}, TOO_LONG),
    ("[k for k in keywords]", {"keywords": BIG}, LOOP),
    ("[[y for y in keywords] for x in keywords]", {"keywords": BIG}, LOOP),
    ("len([k for k in keywords]) > 0", {"keywords": BIG}, LOOP),
    ("[x for x in keywords * score]", {"keywords": ["a"], "score": 10_001}, "a loop over 10001 items; the limit is 10000"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "values", "message"), RUN_TIME)
def test_a_hostile_evaluation_stops_at_its_bound(
    source: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(EvaluationError) as caught:
        _evaluate(source, **values)
    assert (caught.value.source, caught.value.message) == (source, message)


def test_just_under_the_bounds_the_same_expressions_run() -> None:
    assert _evaluate("score ** stock_days", score=2, stock_days=512) == 2**512
    assert len(_evaluate("name * score", name="ab", score=50_000)) == MAX_STRING_LENGTH
    keywords = ["k"] * MAX_COMPREHENSION_LENGTH
    assert len(_evaluate("[k for k in keywords]", keywords=keywords)) == MAX_COMPREHENSION_LENGTH
