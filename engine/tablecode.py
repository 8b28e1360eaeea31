"""Generate one Python function per decision table: its rows in order, cells inlined.

The function reads every input once (a plain field as `r[...]`, anything else through
its compiled expression), then tests the rows top to bottom with each cell written as
Python (`v0 >= 3`, `1 <= v1 <= 5`, `v2 in ('a', 'b')`). Consecutive rows sharing a cell's
test are nested under it, so the test runs once for them all. `hit: first` returns at the
first row that matches; `unique` and `collect` list every matching row. A row whose outputs are
all literal values returns its result straight from the generated code; any other case
(expressions in the outputs, `unique`, `collect`) hands the matching rows to the table's
`finish`, which evaluates and aggregates as before (docs/decisions.md, "decision tables
compile to one function").

A cell means exactly what `engine.compiler.cells.Matcher` means: `*` matches anything, a
missing input (None) matches nothing else, and a test Python refuses (TypeError: a text
against a number) does not match. Each test (a row's, or one its rows share) runs under
`except TypeError`, which gives the rows the answer the matcher gives their first refusing
cell: no match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.compiler.cells import Matcher
from engine.expr import EMPTY, CompiledExpression

if TYPE_CHECKING:
    from engine.bundle import CompiledDecisionTable

Record = Mapping[str, Any]
Decide = Callable[[Record, Record], Any]
Make = Callable[[list[int], Any, bool, list[Any]], Any]

# Comparisons written as Python operators; `!=` also refuses a missing input.
_COMPARE = {"==": "==", ">=": ">=", "<=": "<=", ">": ">", "<": "<", "!=": "!="}
# Exceptions a plain read `r[name]` may raise for a record lacking the name.
_ABSENT = (LookupError, TypeError, AttributeError)


class _Code:
    """The generated source and the globals it reads (constants too odd for a literal)."""

    def __init__(self) -> None:
        self.globals: dict[str, Any] = {"__builtins__": {}, "_EMPTY": EMPTY}
        self.lines: list[str] = []

    def bind(self, value: Any, prefix: str) -> str:
        """Make `value` a global of the generated code; return its name."""
        name = f"{prefix}{len(self.globals)}"
        self.globals[name] = value
        return name

    def const(self, value: Any) -> str:
        """Emit a literal: plain scalars as Python literals, anything else as a global."""
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        return self.bind(value, "_k")

    def add(self, line: str, depth: int = 1) -> None:
        """Append one line at `depth` levels of indentation."""
        self.lines.append("    " * depth + line)


def plain_field(expr: CompiledExpression) -> str | None:
    """Return the field an input reads when it is just a record field name, else None."""
    name = expr.source.strip()
    if name.isidentifier() and expr.names == frozenset({name}):
        return name
    return None


def cell_test(code: _Code, cell: Matcher, var: str) -> str | None:
    """Return the Python test of one cell on input variable `var` (None: matches anything)."""
    op = cell.op
    if op == "any":
        return None
    if op == "range":
        low, high = cell.value
        return f"{code.const(low)} <= {var} <= {code.const(high)}"
    if op in ("in", "not in"):
        items = "(" + "".join(f"{code.const(item)}, " for item in cell.value) + ")"
        if op == "in":
            return f"{var} in {items}"
        return f"{var} is not None and {var} not in {items}"
    if op == "has":
        return f"{code.const(cell.value)} in {var}"
    if op == "!=":
        return f"{var} is not None and {var} != {code.const(cell.value)}"
    return f"{var} {_COMPARE[op]} {code.const(cell.value)}"


def _read_inputs(code: _Code, inputs: Sequence[CompiledExpression]) -> None:
    """Emit v0, v1, ...: plain fields read directly, other inputs through their functions.

    A plain field never fails (a missing one reads None, as its expression does), so
    plain fields are read first; the others then run in column order, and the first
    that fails raises its EvaluationError as before.
    """
    plain = [(j, name) for j, expr in enumerate(inputs) if (name := plain_field(expr))]
    if plain:
        code.globals["_ABSENT"] = _ABSENT
        code.add("try:")
        for j, name in plain:
            code.add(f"v{j} = r[{name!r}]", 2)
        code.add("except _ABSENT:")
        for j, name in plain:
            code.add(f"v{j} = r.get({name!r})", 2)
    done = {j for j, _ in plain}
    for j, expr in enumerate(inputs):
        if j not in done:
            code.add(f"v{j} = {code.bind(expr.fn, '_in')}(r, c)")


def _literal_result(code: _Code, rows: str, values: Sequence[Any], defaulted: bool) -> str:
    """Emit the construction of a result whose outputs are all literal values."""
    shown = "[" + ", ".join(code.const(v) for v in values) + "]"
    return f"_make({rows}, {shown}, {defaulted}, [])"


def _miss(code: _Code, table: CompiledDecisionTable) -> str:
    """Emit what the table gives when no row matches."""
    default = table.spec.default
    if default is None:
        return "_make([], None, False, [])"
    if any(cell is not None for cell in table.default_cells):
        return "_finish([], r, c)"
    return _literal_result(code, "[]", default, True)


def _hit(code: _Code, table: CompiledDecisionTable, i: int) -> str:
    """Emit what `hit: first` gives when row `i` (0-based) is the first to match."""
    if any(cell is not None for cell in table.row_cells(i)):
        return f"_finish([{i}], r, c)"
    return _literal_result(code, f"[{i}]", table.spec.rows[i][len(table.spec.inputs) :], False)


# Rows sharing a test are nested under it only above this depth (Python caps indentation).
MAX_NESTING = 8
Tests = list[str | None]


def _shared(rows: Sequence[tuple[int, Tests]], k: int) -> tuple[int, int]:
    """Return (column, count): the test of row k that the most rows from k on share."""
    best = (0, 1)
    for column, test in enumerate(rows[k][1]):
        if test is None:
            continue
        run = 1
        while k + run < len(rows) and rows[k + run][1][column] == test:
            run += 1
        if run > best[1]:
            best = (column, run)
    return best


def _test(code: _Code, test: str, depth: int) -> None:
    """Emit `if <test>:` where a TypeError in the test means no match."""
    code.add("try:", depth)
    code.add(f"hit = {test}", depth + 1)
    code.add("except _TypeError:", depth)
    code.add("hit = False", depth + 1)
    code.add("if hit:", depth)


def _rows(
    code: _Code, table: CompiledDecisionTable, rows: Sequence[tuple[int, Tests]], depth: int
) -> bool:
    """Emit `rows` (index, each cell's test) in order; tell whether the code always returns.

    Consecutive rows sharing one cell's test are nested under it: the test runs once, and
    a record failing it skips them all, as it would have failed each of them.
    """
    first = table.spec.hit == "first"
    k = 0
    while k < len(rows):
        column, run = _shared(rows, k) if depth < MAX_NESTING else (0, 1)
        if run > 1:
            guard = rows[k][1][column]
            assert guard is not None
            _test(code, guard, depth)
            inner = [
                (i, [None if c == column else t for c, t in enumerate(tests)])
                for i, tests in rows[k : k + run]
            ]
            _rows(code, table, inner, depth + 1)
            k += run
            continue
        i, tests = rows[k]
        then = f"return {_hit(code, table, i)}" if first else f"m.append({i})"
        live = [t for t in tests if t is not None]
        k += 1
        if not live:
            code.add(then, depth)
            if first:
                return True  # the rows below can never be the first to match
            continue
        _test(code, " and ".join(f"({t})" for t in live), depth)
        code.add(then, depth + 1)
    return False


def table_source(table: CompiledDecisionTable, make: Make) -> tuple[str, dict[str, Any]]:
    """Return the generated function's source (named `_decide`) and its globals."""
    code = _Code()
    code.globals.update(_TypeError=TypeError, _make=make, _finish=table.finish)
    code.lines.append("def _decide(r, c=_EMPTY):")
    _read_inputs(code, table.inputs)
    first = table.spec.hit == "first"
    if not first:
        code.add("m = []")
    tests = [
        (i, [cell_test(code, cell, f"v{j}") for j, cell in enumerate(row)])
        for i, row in enumerate(table.rows)
    ]
    if not _rows(code, table, tests, 1):
        code.add(f"return {_miss(code, table)}" if first else "return _finish(m, r, c)")
    return "\n".join(code.lines) + "\n", code.globals


def build_decider(table: CompiledDecisionTable, make: Make) -> Decide:
    """Generate the table's function fn(r, c) -> result (`make(rows, values, defaulted,
    computed)` for literal outputs, `table.finish(matched, r, c)` otherwise)."""
    source, namespace = table_source(table, make)
    exec(compile(source, f"<decision table {table.spec.name!r}>", "exec"), namespace)
    decide: Decide = namespace["_decide"]
    return decide
