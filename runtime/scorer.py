"""One generated function per scoring model: every feature's value and the score at once.

The function runs the features' fast bodies (engine/expr/fused.py) in one frame, bounds
each value to [0, 1] and sums the weighted values, with the same float operations in
the same order as the reference loop (runtime/scoring.py `evaluate_each`), so the
score is the very same float. It returns (score, values); or None as soon as any value
is not a plain number or bool (missing, None, an error...): the caller then runs the
reference loop, which applies the missing-value policies and keeps the errors.

`x * 1.0` gives float(x) for an int, a float or a bool (-0.0 kept), and raises for
None, text, lists, dates and Decimals; the comparisons that bound it raise for what
multiplying let through (a duration).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.expr import CompiledExpression
from engine.expr.fused import define, fast_parts

# fn(r, c) -> (score, bounded values), or None: evaluate feature by feature instead.
Fast = Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[float, tuple[float, ...]] | None]


def weight_sum(weights: Sequence[float]) -> float:
    """Return the sum of the weights, added in order (as the reference loop adds them)."""
    total = 0.0
    for weight in weights:
        total += weight
    return total


def build_scorer(
    name: str,
    features: Sequence[CompiledExpression],
    weights: Sequence[float],
    low: float,
    span: float,
) -> Fast | None:
    """Generate a model's scoring function (None: the model is scored feature by feature)."""
    parts = fast_parts(features)
    total = weight_sum(weights)
    if parts is None or not total > 0:
        return None
    names = parts.globals
    names["_round"] = round

    def literal(value: float, label: str) -> str:
        if math.isfinite(value):
            return repr(float(value))
        names[label] = value
        return label

    lines = ["def _score(r, c=_EMPTY):\n", parts.setup, "    try:\n"]
    terms = []
    for i, body in enumerate(parts.bodies):
        lines.append(f"        x{i} = ({body}) * 1.0\n")
        lines.append(f"        x{i} = 0.0 if x{i} < 0.0 else 1.0 if x{i} > 1.0 else x{i}\n")
        terms.append(f" + {literal(weights[i], f'_w{i}')} * x{i}")
    lines.append(f"        t = 0.0{''.join(terms)}\n")
    lines.append("    except _Error:\n        return None\n")
    values = "".join(f"x{i}, " for i in range(len(parts.bodies)))
    score = f"{literal(low, '_low')} + {literal(span, '_span')} * t / {literal(total, '_total')}"
    lines.append(f"    return (_round({score}, 6), ({values}))\n")
    fn: Fast = define("".join(lines), names, "_score", f"scoring {name}")
    return fn
