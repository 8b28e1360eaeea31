"""The edges of mapping a scalar's character back to the file (engine/compiler/positions.py,
context.py): rows outside the text, white space inside a quoted value, a value running off
the end, a word looked for on a line past the last."""

from __future__ import annotations

from engine.compiler.context import _find, _line_offset, find_on_line
from engine.compiler.positions import folded, quoted


def test_a_folded_scalar_row_outside_the_lines_gives_a_line_inside() -> None:
    assert folded(["  one", "  two"], 0, 3) == (1, 1)
    assert folded(["  one", "  two"], 5, 0) == (4, 1)
    assert folded(["  one", "  two"], 1, 4) == (2, 3)  # past "one" and its folded space


def test_a_quoted_scalar_whose_row_is_past_the_text_gives_its_own_position() -> None:
    assert quoted(['k: "abc"'], 3, 4, 1) == (3, 4)


def test_a_character_inside_a_run_of_spaces_lands_on_that_space() -> None:
    line = 'k: "a   b"'  # the opening quote is column 4
    assert quoted([line], 1, 4, 2) == (1, 7)  # the value's third character: second space
    assert quoted([line], 1, 4, 4) == (1, 9)  # the value's "b"
    assert quoted([line], 1, 4, 9) == (1, 10)  # past the end: the closing quote


def test_a_quoted_value_left_open_to_the_end_of_the_file_gives_the_quote() -> None:
    assert quoted(['k: "ab', "", "  "], 1, 4, 7) == (1, 4)


def test_a_word_on_a_line_past_the_end_falls_back_to_the_last_line_start() -> None:
    assert _line_offset("ab\ncd", 9) == 3
    assert _line_offset("ab\ncd", 0) == 0
    assert find_on_line("ab\ncd", "zz", 9) == 3
    assert find_on_line("ab\ncd x", "x", 2) == 6
    assert find_on_line("ab\ncd\nef", "e", 2) == 3  # "e" is on line 3, not 2
    assert _find("{{ a }} b", "b") == 0  # outside every tag: not found
    assert _find("x {{ b }}", "b") == 5
    assert _find("{{ a.b }}", "b") == 0  # an attribute, not the name
