"""Routing's automatic pre-filter: the equality parts of `eligible`, looked up, not run.

`eligible: "candidate.available and region == candidate.region"` refuses every
candidate whose `region` is not the record's: the analysis finds such parts in the
checked expression tree once per bundle, and an index per candidate set (attribute
value -> positions) then says, for a record, which candidates the expression would
refuse without running it. Routing runs `eligible` only over the others and accounts
the rest exactly as if it had run it and it had said no (`not eligible: ...`).

Exactness (pinned by a property test against running every candidate): `and` stops at
the first false part, so a candidate is skipped only when a part it fails is reached
without anything before it able to raise (an error is explained per candidate):

- a part is usable when it is `candidate.<attr> == <field or constant>` (either side)
  or `<field or constant> in candidate.<attr>`, and it sits at the top of the
  expression or in its top-level `and` after parts that cannot raise: bare reads of a
  candidate attribute (`candidate.available`, `not candidate.x`) or other usable parts;
- a candidate whose attribute is missing, None, unhashable or NaN (`==`), or not a
  list of hashable items (`in`) is not indexed: it is always evaluated, and it blocks
  skipping on later parts (its evaluation of this part might raise);
- a record value that is None or cannot be looked up (a list) skips nobody on that part.

Python's dict lookup and `==` agree for these values (hashable, NaN excluded), which is
what the generated code compares with (engine/expr/codegen.py).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.expr import CompiledExpression
from engine.expr.checker import Checker

CANDIDATE = "candidate"


@dataclass(frozen=True)
class Part:
    """One usable part of `eligible`: candidate attribute `attr` against a record value.

    `op`: "eq" (`==`) or "in" (the value is an item of the attribute's list).
    `field`: the record field read (None: the constant `value`).
    """

    op: str
    attr: str
    field: str | None
    value: Any = None

    def record_value(self, r: Mapping[str, Any]) -> Any:
        """Return the value the part compares the candidate's attribute with."""
        return r.get(self.field) if self.field is not None else self.value


@dataclass(frozen=True)
class PartIndex:
    """A part's index over a candidate list: value -> the indexed positions it refuses.

    `indexed`: every position filed under some value (refused by any other value);
    `unindexed`: positions always evaluated on this part.
    """

    part: Part
    refuses: dict[Any, frozenset[int]]
    indexed: frozenset[int]
    unindexed: frozenset[int]


def _candidate_attr(ch: Checker, node: ast.expr) -> str | None:
    """Return `x` when `node` reads `candidate.x` (or `candidate['x']`), else None."""
    if not isinstance(node, (ast.Attribute, ast.Subscript)) or id(node) in ch.consts:
        return None
    base = node.value
    if not isinstance(base, ast.Name) or ch.bindings.get(id(base)) != ("context", CANDIDATE):
        return None
    key = ch.keys.get(id(node))
    return key if isinstance(key, str) else None


def _record_side(ch: Checker, node: ast.expr) -> tuple[bool, str | None, Any]:
    """Return (usable, field, constant) for the side compared with the candidate."""
    if id(node) in ch.consts:
        return True, None, ch.consts[id(node)]
    if isinstance(node, ast.Name):
        where, key = ch.bindings.get(id(node), (None, None))
        if where == "record" and isinstance(key, str):
            return True, key, None
    return False, None, None


def _part(ch: Checker, node: ast.expr) -> Part | None:
    """Return the usable part `node` is, or None."""
    if not isinstance(node, ast.Compare) or len(node.ops) != 1 or id(node) in ch.consts:
        return None
    op, left, right = node.ops[0], node.left, node.comparators[0]
    if isinstance(op, ast.Eq):
        for mine, theirs in ((left, right), (right, left)):
            attr = _candidate_attr(ch, mine)
            if attr is not None:
                usable, name, value = _record_side(ch, theirs)
                return Part("eq", attr, name, value) if usable else None
        return None
    if isinstance(op, ast.In):
        attr = _candidate_attr(ch, right)
        usable, name, value = _record_side(ch, left)
        return Part("in", attr, name, value) if attr is not None and usable else None
    return None


def _harmless(ch: Checker, node: ast.expr) -> bool:
    """Tell whether a part only reads a candidate attribute (it cannot raise)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    return _candidate_attr(ch, node) is not None


def _conjuncts(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        return [leaf for value in node.values for leaf in _conjuncts(value)]
    return [node]


def analyse(expression: CompiledExpression) -> tuple[Part, ...]:
    """Return the parts of `eligible` the pre-filter can use (empty: evaluate everyone)."""
    ch = expression.checker
    if ch is None or ch.parsed.tree is None:
        return ()
    found: list[Part] = []
    for node in _conjuncts(ch.parsed.tree.body):
        part = _part(ch, node)
        if part is not None:
            found.append(part)
        elif not _harmless(ch, node):
            break  # what follows may be reached only after a part that can raise
    return tuple(found)


# What `candidate.x` holds that changes from one record to the next.
FLOWING = frozenset({"load", "available"})


def fixed_reads(expression: CompiledExpression) -> frozenset[str] | None:
    """Return the record fields `expression` reads when nothing else moves its value.

    That is: it reads the context only as fixed candidate attributes (`candidate.x`, x
    neither `load` nor `available`), calls no function (one may read the clock, a table,
    the context), and neither the clock nor an assignment. For the same candidate and
    the same values of those fields it then gives the same value (or the same error).
    None: something else may move it.
    """
    ch = expression.checker
    reads = expression.reads
    if ch is None or ch.parsed.tree is None or reads is None:
        return None
    if expression.clock or expression.assignments:
        return None
    fixed: set[int] = set()  # the `candidate` names read through a fixed attribute
    nodes = list(ast.walk(ch.parsed.tree))
    for node in nodes:
        if isinstance(node, ast.Call):
            return None
        attr = _candidate_attr(ch, node) if isinstance(node, ast.expr) else None
        if attr is not None and attr not in FLOWING:
            fixed.add(id(node.value))  # type: ignore[attr-defined]
    for node in nodes:
        binding = ch.bindings.get(id(node))
        if binding is not None and binding[0] == "context" and id(node) not in fixed:
            return None
    return reads


def _indexable(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _keys(part: Part, value: Any) -> tuple[Any, ...] | None:
    """Return the keys a candidate's attribute value is filed under (None: not indexed)."""
    if part.op == "eq":
        return (value,) if _indexable(value) else None
    if not isinstance(value, list) or not all(_indexable(item) for item in value):
        return None
    return tuple(value)


def build(parts: Sequence[Part], bases: Sequence[Mapping[str, Any]]) -> tuple[PartIndex, ...]:
    """Index candidates (`candidate.x` values, in order) under each part."""
    built: list[PartIndex] = []
    for part in parts:
        found: dict[Any, set[int]] = {}
        unindexed: set[int] = set()
        for i, base in enumerate(bases):
            keys = _keys(part, base.get(part.attr))
            if keys is None:
                unindexed.add(i)
                continue
            for key in keys:
                found.setdefault(key, set()).add(i)
        indexed = frozenset(i for positions in found.values() for i in positions)
        refuses = {key: indexed - positions for key, positions in found.items()}
        built.append(PartIndex(part, refuses, indexed, frozenset(unindexed)))
    return tuple(built)


def refused(indexes: Sequence[PartIndex], r: Mapping[str, Any]) -> frozenset[int]:
    """Return the positions `eligible` refuses for record `r` without being run."""
    skip: set[int] = set()
    blocked: set[int] = set()  # not indexed under an earlier part: it might raise there
    for entry in indexes:
        value = entry.part.record_value(r)
        if _indexable(value):
            out = entry.refuses.get(value, entry.indexed)
            skip.update(out - blocked if blocked else out)
        blocked |= entry.unindexed
    return frozenset(skip)
