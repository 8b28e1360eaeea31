"""What one template render may spend: steps, the size of a value, text written.

The numbers are in engine/templates.py (docs/language.md gives them). The sandbox
(runtime/sandbox.py) and its checks (runtime/template_checks.py) count through here; a
render past a bound raises BoundExceeded, a jinja2 SecurityError.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from decimal import Decimal
from typing import Any

from jinja2.exceptions import SecurityError

from engine.templates import (
    MAX_STEPS,
    MAX_VALUE,
    MAX_WRITTEN,
    STEP_SIZE,
    printf_problem,
    printf_specs,
)


class BoundExceeded(SecurityError):
    """A render went past one of its bounds: steps, the size of a value, text written."""


class Budget:
    """What one render has spent: steps, and characters written."""

    __slots__ = ("steps", "written")

    def __init__(self) -> None:
        self.steps = 0
        self.written = 0

    def step(self, count: int = 1) -> None:
        """Count steps; stop the render past MAX_STEPS."""
        self.steps += count
        if self.steps > MAX_STEPS:
            raise BoundExceeded(
                f"it takes more than {MAX_STEPS:,} steps (loop turns, calls, filters, lookups)"
            )

    def write(self, count: int) -> None:
        """Count `count` characters written; stop the render past MAX_WRITTEN."""
        self.written += count
        if self.written > MAX_WRITTEN:
            raise BoundExceeded(f"it writes more than {MAX_WRITTEN:,} characters")


_BUDGET: ContextVar[Budget | None] = ContextVar("sopflow_template_budget", default=None)


@contextlib.contextmanager
def budget() -> Iterator[Budget]:
    """Give the renders inside the block one budget (the runtime renders inside one)."""
    spent = Budget()
    token = _BUDGET.set(spent)
    try:
        yield spent
    finally:
        _BUDGET.reset(token)


def begin() -> Token[Budget | None]:
    """Give the renders from here a budget of their own (`budget()` without a block)."""
    return _BUDGET.set(Budget())


def end(token: Token[Budget | None]) -> None:
    """Go back to the budget before `begin()`."""
    _BUDGET.reset(token)


def step(size: int = 0) -> None:
    """Count a step, and one more per STEP_SIZE characters (or items) of `size`."""
    spent = _BUDGET.get()
    if spent is not None:
        spent.steps += 1 + size // STEP_SIZE
        if spent.steps > MAX_STEPS:
            spent.step(0)  # raises


def write(count: int) -> None:
    """Count `count` characters written (and the steps writing them takes)."""
    spent = _BUDGET.get()
    if spent is not None:
        spent.steps += 1 + count // STEP_SIZE
        spent.written += count
        if spent.steps > MAX_STEPS:
            spent.step(0)  # raises
        if spent.written > MAX_WRITTEN:
            spent.write(0)  # raises


def size_of(value: Any, limit: int = MAX_VALUE) -> int:
    """Return the characters (text) or items (lists, mappings, nested ones counted) of a
    value; the count stops soon after passing `limit`, so it costs at most that much."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (int, float, Decimal, bool)) or value is None:
        return 1
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item)
        elif isinstance(item, Mapping):
            total += len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            total += len(item)
            if total <= limit:
                stack.extend(item)
        else:
            total += 1
        if total > limit:
            return total
    return total


def refuse(problem: str | None) -> None:
    if problem:
        raise BoundExceeded(problem)


def check_built(what: str, value: Any) -> Any:
    """Refuse a value past MAX_VALUE; count its size in steps."""
    size = size_of(value)
    if size > MAX_VALUE:
        raise BoundExceeded(f"{what} builds a value longer than {MAX_VALUE:,} characters or items")
    step(size)
    return value


def over(what: str, estimate: int) -> None:
    if estimate > MAX_VALUE:
        raise BoundExceeded(f"{what} would build more than {MAX_VALUE:,} characters")


def decimal_problem(value: Any, spec: str) -> str | None:
    """A decimal with a large exponent written out in full (`{:f}`) is as long as it."""
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and spec[-1:] in ("f", "F", "%")
        and value.adjusted() > MAX_VALUE
    ):
        return f"the format spec '{spec[:40]}' writes out a number too long"
    return None


def printf_size(fmt: str, args: Any) -> int:
    """Return at most how long `fmt % args` is (widths, values; numbers as 400 digits)."""
    total, position = len(fmt), 0
    for spec in printf_specs(fmt):
        kind, key = spec.group("type"), spec.group("key")
        if kind == "%":
            continue
        if key is not None and isinstance(args, Mapping):
            value = args.get(key, "")
        elif isinstance(args, tuple):
            value = args[position] if position < len(args) else ""
            position += 1
        else:
            value = args
        width = int(spec.group("width") or 0)
        precision = int(spec.group("precision") or 0)
        if kind in "sra":
            length = size_of(value) * (4 if not isinstance(value, str) else 1)
        else:
            length = 400 + precision
        total += max(width, length)
        if total > MAX_VALUE:
            break
    return total


def check_printf(fmt: Any, args: Any) -> None:
    if isinstance(fmt, str):
        refuse(printf_problem(fmt))
        over("the %-format", printf_size(fmt, args))
