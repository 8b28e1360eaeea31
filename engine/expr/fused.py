"""The fast bodies of several compiled expressions, for one generated function running them.

A caller (the runtime's scorer) writes a function around the bodies: each body reads
`r` and `c` and raises on anything the fast path cannot handle (a missing key, None),
so the caller runs the expressions one by one (`CompiledExpression.fn`) after any
exception. The bodies are the very text `build_function` puts on its fast path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.expr import CompiledExpression
from engine.expr.codegen import Generator


@dataclass(frozen=True)
class FastParts:
    """Fast bodies, the statements they need first (step budgets) and their globals."""

    bodies: tuple[str, ...]
    setup: str
    globals: dict[str, Any]


def fast_parts(exprs: Sequence[CompiledExpression]) -> FastParts | None:
    """Return the fast bodies of `exprs` (None when one was not compiled from source)."""
    gen = Generator()
    bodies = []
    for index, expr in enumerate(exprs):
        if expr.checker is None:
            return None
        bodies.append(gen.emit(expr.checker, safe=False, budget=f"_b{index}"))
    setup = "".join(gen.budget_line(f"_b{index}") for index in range(len(exprs)))
    return FastParts(tuple(bodies), setup, gen.globals)


def define(source: str, globals_: dict[str, Any], name: str, label: str) -> Callable[..., Any]:
    """Compile the text of a function built around fast bodies; return function `name`."""
    code = compile(source, f"<{label[:60]}>", "exec")
    exec(code, globals_)
    fn: Callable[..., Any] = globals_[name]
    return fn
