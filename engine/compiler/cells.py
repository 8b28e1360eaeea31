"""Decision-table cells: parse `'>= 3'`, `'1..3'`, `'in [a, b]'`, `'has x'`, `'*'` into matchers."""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    "==": operator.eq,
    ">": operator.gt,
    "<": operator.lt,
}
_COMPARE = re.compile(r"^(>=|<=|!=|==|>|<)\s*(.+)$")
_RANGE = re.compile(r"^(-?\d+(?:\.\d+)?)\s*\.\.\s*(-?\d+(?:\.\d+)?)$")
_MEMBER = re.compile(r"^(not\s+in|in)\s*\[(.*)\]$")
_HAS = re.compile(r"^has\s+(.+)$")
ANY_CELL = ("*", "-", "")


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


@dataclass(frozen=True)
class Matcher:
    """One cell's test of its input value."""

    op: str
    value: Any = None

    def __call__(self, subject: Any) -> bool:
        """Tell whether the input value satisfies this cell (missing values match only '*')."""
        if self.op == "any":
            return True
        if subject is None:
            return False
        try:
            return self._test(subject)
        except TypeError:
            return False

    def _test(self, subject: Any) -> bool:
        if self.op == "range":
            low, high = self.value
            return bool(low <= subject <= high)
        if self.op == "in":
            return subject in self.value
        if self.op == "not in":
            return subject not in self.value
        if self.op == "has":
            return self.value in subject
        return _OPS[self.op](subject, self.value)

    def literals(self) -> list[Any]:
        """Return the values this cell compares with (for type and enum checks)."""
        if self.op == "any":
            return []
        if self.op in ("in", "not in", "range"):
            return list(self.value)
        return [self.value]


def parse_cell(cell: Any) -> Matcher:
    """Parse one input cell; raise ValueError with the reason when it cannot be read."""
    if cell is None or (isinstance(cell, str) and cell.strip() in ANY_CELL):
        return Matcher("any")
    if not isinstance(cell, str):
        if isinstance(cell, (list, dict)):
            raise ValueError("a cell is a value or a test like '>= 3', '1..3', 'in [a, b]'")
        return Matcher("==", cell)
    text = cell.strip()
    if match := _RANGE.match(text):
        low, high = _literal(match.group(1)), _literal(match.group(2))
        if low > high:
            raise ValueError(f"range '{text}' runs backwards")
        return Matcher("range", (low, high))
    if match := _MEMBER.match(text):
        items = tuple(_literal(p) for p in match.group(2).split(",") if p.strip())
        op = "not in" if match.group(1).startswith("not") else "in"
        return Matcher(op, items)
    if re.match(r"^(not\s+)?in\s*\[", text):
        raise ValueError(f"'{text}' opens '[' but does not close it")
    if match := _HAS.match(text):
        return Matcher("has", _literal(match.group(1)))
    if match := _COMPARE.match(text):
        return Matcher(match.group(1), _literal(match.group(2)))
    return Matcher("==", _literal(text))


def _near(value: Any) -> list[Any]:
    """Return values next to a literal, of its own kind (ints stay ints)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [value]
    return [value - 1, value, value + 1]


def _witnesses(a: Matcher, b: Matcher) -> list[Any]:
    """Return values that may match both cells, built only from the cells' own literals."""
    literals = a.literals() + b.literals()
    found: list[Any] = []
    for value in literals:
        found += _near(value)
    numbers = sorted(v for v in literals if isinstance(v, (int, float)) and not isinstance(v, bool))
    if any(isinstance(v, float) for v in numbers):
        found += [(x + y) / 2 for x, y in itertools.pairwise(numbers)]
    for cell in (a, b):
        if cell.op == "has":
            found.append([cell.value])
    if a.op == "has" and b.op == "has":
        found.append([a.value, b.value])
    return found


def cells_overlap(a: Matcher, b: Matcher) -> bool:
    """Tell whether some input value surely matches both cells.

    True only with proof: one cell is '*', or a value made of the cells' own literals
    (or a neighbour of the same kind) passes both. False means 'not shown', not 'never'.
    """
    if a.op == "any" or b.op == "any":
        return True
    return any(a(value) and b(value) for value in _witnesses(a, b))


def rows_overlap(a: tuple[Matcher, ...], b: tuple[Matcher, ...]) -> bool:
    """Tell whether some inputs surely match both rows (every column overlaps)."""
    return all(cells_overlap(x, y) for x, y in zip(a, b, strict=True))


def output_expression(cell: Any) -> tuple[str, int] | None:
    """Return (source, offset) of an output cell written `= expression`, else None.

    Only text whose first non-blank character is `=` is an expression; any other cell is
    a literal value. `offset` is where the expression starts in the cell's text.
    """
    if not isinstance(cell, str) or not cell.lstrip().startswith("="):
        return None
    rest = cell[cell.index("=") + 1 :]
    source = rest.lstrip()
    return source, len(cell) - len(source)
