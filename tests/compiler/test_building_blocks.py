"""Durations, cron fields and decision-table cells."""

from __future__ import annotations

import pytest

from engine.compiler.cells import Matcher, output_expression, parse_cell
from engine.spec import parse_duration
from engine.spec.signals import check_cron


@pytest.mark.parametrize(
    ("text", "seconds", "working"),
    [
        ("72h", 72 * 3600, False),
        ("14 days", 14 * 86400, False),
        ("1h30m", 5400, False),
        ("2 working days", 2 * 86400, True),
        ("1.5h", 5400, False),
        ("3 weeks", 3 * 604800, False),
    ],
)
def test_durations(text: str, seconds: float, working: bool) -> None:
    duration = parse_duration(text)
    assert (duration.seconds, duration.working, str(duration)) == (seconds, working, text)


def test_a_parsed_duration_reads_as_itself() -> None:
    duration = parse_duration("2 working days")
    assert parse_duration(duration) is duration


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (72, "'72' has no unit; write e.g. '72h' or '72 days'"),
        ("0h", "'0h' must be longer than zero"),
        ("soon", "'soon' is not a duration; write e.g. '72h', '14 days', '1h30m'"),
        (True, "a duration is text like '72h', '14 days' or '2 working days'"),
    ],
)
def test_bad_durations(value: object, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_duration(value)
    assert str(exc.value) == message


@pytest.mark.parametrize("text", ["0 9 * * mon-fri", "*/15 * * * *", "0 0 1 jan,jul *"])
def test_valid_cron(text: str) -> None:
    assert check_cron(text) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 9 * *", "'0 9 * *' has 4 fields; cron takes 5: minute hour day month weekday"),
        ("61 * * * *", "'61' is out of range for minute (0-59)"),
        ("0 9 * * funday", "'funday' is out of range for day of week (0-7)"),
    ],
)
def test_bad_cron(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        check_cron(text)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("cell", "matches", "misses"),
    [
        ("*", ["x", None, 3], []),
        (None, [1], []),
        ("VIP", ["VIP"], ["vip", None]),
        (1, [1], [2]),
        (">= 3", [3, 4], [2, None, "a"]),
        ("1..3", [1, 2, 3], [0, 4]),
        ("in [a, b]", ["a", "b"], ["c"]),
        ("not in [a, b]", ["c"], ["a"]),
        ("has invoice", [["invoice", "x"]], [["x"]]),
        ("!= trial", ["VIP"], ["trial"]),
    ],
)
def test_cells(cell: object, matches: list[object], misses: list[object]) -> None:
    matcher = parse_cell(cell)
    assert all(matcher(v) for v in matches)
    assert not any(matcher(v) for v in misses)


def test_cell_literals_for_checks() -> None:
    assert parse_cell("in [VIP, trial]").literals() == ["VIP", "trial"]
    assert parse_cell("*") == Matcher("any")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("3..1", "range '3..1' runs backwards"),
        (["a"], "a cell is a value or a test like '>= 3', '1..3', 'in [a, b]'"),
    ],
)
def test_bad_cells(cell: object, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_cell(cell)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("cell", "read"),
    [
        ("= max(rate * qty, 50)", ("max(rate * qty, 50)", 2)),
        ("=rate", ("rate", 1)),
        ("  =   rate", ("rate", 6)),  # the offset points at the expression in the cell
        ("= '=minimum'", ("'=minimum'", 2)),
        ("==", ("=", 1)),
        ("list price", None),  # a literal
        ("a = b", None),  # `=` elsewhere than first: a literal
        (50, None),
        (None, None),
        (["= x"], None),
    ],
)
def test_output_expression_cells(cell: object, read: tuple[str, int] | None) -> None:
    assert output_expression(cell) == read
