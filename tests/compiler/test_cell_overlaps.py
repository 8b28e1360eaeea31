"""When two decision-table cells surely match one value: the proof hit: unique relies on."""

from __future__ import annotations

import pytest

from engine.compiler.cells import Matcher, cells_overlap, parse_cell


@pytest.mark.parametrize(
    ("cell", "matcher"),
    [
        ("'3'", Matcher("==", "3")),
        ('"a b"', Matcher("==", "a b")),
        ("== '7'", Matcher("==", "7")),
        ("has 'x y'", Matcher("has", "x y")),
    ],
)
def test_a_quoted_literal_stays_text(cell: str, matcher: Matcher) -> None:
    assert parse_cell(cell) == matcher


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("> 1.5", "< 2", True),  # only a value between the literals shows it: 1.75
        ("> 1", "< 2", False),  # whole numbers: no integer lies between (not proven)
        ("has a", "has b", True),  # a list holding both
        ("has a", "has a", True),
        ("has a", "== x", False),
        ("*", "has a", True),
    ],
)
def test_cells_overlap_only_with_a_witness(a: str, b: str, overlap: bool) -> None:
    assert cells_overlap(parse_cell(a), parse_cell(b)) is overlap
    assert cells_overlap(parse_cell(b), parse_cell(a)) is overlap
