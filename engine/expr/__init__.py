"""The sopflow expression language: checked at compile time, run as generated Python."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any

from engine.expr.checker import Checker
from engine.expr.codegen import build_function, build_group
from engine.expr.errors import EvaluationError, ExpressionError, ExprIssue, MissingRow, quote
from engine.expr.functions import FUNCTIONS, FunctionSig, Param
from engine.expr.parse import parse
from engine.expr.runtime import EMPTY
from engine.expr.types import ExprType, MetricSig, Scope, TableSig, compatible

__all__ = [
    "EMPTY",
    "FUNCTIONS",
    "CompiledExpression",
    "EvaluationError",
    "ExprIssue",
    "ExprType",
    "ExpressionError",
    "FunctionSig",
    "MetricSig",
    "MissingRow",
    "Param",
    "Scope",
    "TableSig",
    "check_expression",
    "compile_expression",
    "compile_group",
]

Record = Mapping[str, Any]


@dataclass(frozen=True, eq=False)
class CompiledExpression:
    """Hold a compiled expression: its source, static type, record names read and function.

    The expression is parsed and checked when compiled; its Python function is generated
    on first use, so validating a bundle never pays for code it will not run.
    """

    source: str
    type: ExprType
    names: frozenset[str]
    build: Callable[[], Callable[[Record, Record], Any]] = field(repr=False)
    # True when the value depends on the time it is evaluated at (`now`, `hours_since`,
    # `hours_in_stage`, ...): such a value must not be stored (a computed field).
    clock: bool = False
    # True when the value reads a named assignment (`assignee()`): such a value changes
    # with the assignment, so it must not be stored either.
    assignments: bool = False
    # Whether fn reads the context `c` at all, and every record key it reads (`names`
    # and the keys a function reads for itself; None: not known). A caller may pass a
    # smaller record or no context to an expression that reads neither (a move check).
    context: bool = True
    reads: frozenset[str] | None = None
    # The checked tree, for generated code that fuses several expressions into one
    # function (engine/expr/fused.py); None for an expression made another way.
    checker: Checker | None = field(default=None, repr=False, compare=False)

    @cached_property
    def fn(self) -> Callable[[Record, Record], Any]:
        """Return the generated function fn(r, c), generating it the first time."""
        return self.build()

    def __call__(self, r: Record, c: Record = EMPTY) -> Any:
        """Evaluate against record `r` and context `c` (hot loops call `fn` directly)."""
        # This wrapper is one more Python call per evaluation (measured 0.3-0.6x on the
        # benchmark condition); fn(r, c) runs at the speed of a hand-written lambda.
        return self.fn(r, c)


def _check(source: str, scope: Scope, expect: ExprType | None) -> Checker:
    """Parse and check `source`; raise ExpressionError listing every issue."""
    parsed = parse(source)
    checker = Checker(parsed, scope)
    if parsed.tree is not None and not parsed.issues:
        checker.type = checker.visit(parsed.tree.body)
        if expect is not None and not compatible(checker.type, expect):
            checker.issues.append(
                ExprIssue(
                    "type-mismatch",
                    f"{quote(source)} gives {checker.type.describe()}, "
                    f"but {expect.describe()} is expected",
                    "compare the value, e.g. with '>', '==' or 'in'"
                    if expect.kind == "bool"
                    else "",
                )
            )
    issues = [*parsed.issues, *sorted(checker.issues, key=lambda issue: issue.offset)]
    if issues:
        raise ExpressionError(issues, source)
    return checker


def check_expression(
    source: str, scope: Scope, *, expect: ExprType | None = None
) -> tuple[ExprType, frozenset[str]]:
    """Parse and check `source` without generating code; return its type and record names."""
    checker = _check(source, scope, expect)
    return checker.type, frozenset(checker.names)


def compile_expression(
    source: str, scope: Scope, *, expect: ExprType | None = None
) -> CompiledExpression:
    """Check `source` and generate its evaluation function fn(r, c)."""
    checker = _check(source, scope, expect)
    return CompiledExpression(
        source,
        checker.type,
        frozenset(checker.names),
        partial(build_function, checker, source),
        clock=reads_clock(checker),
        assignments=any(i.sig.name == "assignee" for i in checker.calls.values()),
        context=reads_context(checker),
        reads=record_keys(checker),
        checker=checker,
    )


CLOCK_FUNCTIONS = frozenset({"hours_since", "days_since", "hours_in_stage"})
# Functions whose generated code reads the context `c` (the clock, or what it provides).
CONTEXT_FUNCTIONS = CLOCK_FUNCTIONS | {"metric", "evidence_count", "assignee"}


def reads_context(checker: Checker) -> bool:
    """Return True if a checked expression reads the context (a name or a function)."""
    if any(where == "context" for where, _ in checker.bindings.values()):
        return True
    return any(info.sig.name in CONTEXT_FUNCTIONS for info in checker.calls.values())


def record_keys(checker: Checker) -> frozenset[str]:
    """Return every record key a checked expression's code reads."""
    calls = {info.sig.name for info in checker.calls.values()}
    extra = {"stage_entered_at"} if "hours_in_stage" in calls else set()
    return frozenset(checker.names) | extra


def reads_clock(checker: Checker) -> bool:
    """Return True if a checked expression reads `now` or calls a function that does."""
    if ("context", "now") in checker.bindings.values():
        return True
    return any(info.sig.name in CLOCK_FUNCTIONS for info in checker.calls.values())


def compile_group(
    sources: Sequence[str], scope: Scope
) -> Callable[[Record, Record], tuple[Any, ...]]:
    """Generate one function returning the value of every expression (None where one fails)."""
    # A group is checked whole: the first expression that does not check raises, with
    # its position in `index`; callers report every feature by checking each first.
    checkers = []
    for index, source in enumerate(sources):
        try:
            checkers.append(_check(source, scope, None))
        except ExpressionError as error:
            error.index = index
            raise
    return build_group(checkers, sources)
