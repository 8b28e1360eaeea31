"""Type rules of arithmetic and comparisons, with their checks."""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.expr import runtime as rt
from engine.expr.types import LOOSE, NUMERIC, ExprType, compatible, unify

if TYPE_CHECKING:
    from engine.expr.checker import Checker

T = ExprType
# Binary operators: symbol and the null-safe helper (also used to fold constants).
BINOPS: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", rt.n_add),
    ast.Sub: ("-", rt.n_sub),
    ast.Mult: ("*", rt.n_mul),
    ast.Div: ("/", rt.n_div),
    ast.FloorDiv: ("//", rt.n_floordiv),
    ast.Mod: ("%", rt.n_mod),
    ast.Pow: ("**", rt.n_pow),
}
COMPARE = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
ORDERING = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_ORDERED_KINDS = frozenset({"string", "date", "datetime", "duration", "bool"})
_MOMENTS = frozenset({"date", "datetime"})


def check_binop(ch: Checker, node: ast.BinOp) -> ExprType:
    """Type arithmetic; fold constant operands with the run-time (limited) helpers."""
    left, right = ch.visit(node.left), ch.visit(node.right)
    if type(node.op) not in BINOPS:
        symbol = {
            ast.BitAnd: "&",
            ast.BitOr: "|",
            ast.BitXor: "^",
            ast.LShift: "<<",
            ast.RShift: ">>",
            ast.MatMult: "@",
        }.get(type(node.op), "?")
        hint = "use 'and' / 'or'" if symbol in "&|" else ""
        return ch.issue("not-allowed", node, f"operator '{symbol}' is not allowed", hint)
    symbol, helper = BINOPS[type(node.op)]
    result = arithmetic(symbol, left, right, ch.const(node.right))
    if result is None:
        hint = "text and numbers cannot be mixed" if {left.kind, right.kind} & {"string"} else ""
        message = f"cannot apply '{symbol}' to {ch.typed(node.left)} and "
        return ch.issue("type-mismatch", node, message + ch.typed(node.right), hint)
    (lknown, lvalue), (rknown, rvalue) = ch.const(node.left), ch.const(node.right)
    if lknown and rknown:
        ch.fold(node, helper, lvalue, rvalue)
    return result


def check_compare(ch: Checker, node: ast.Compare) -> ExprType:
    """Check every link of a (chained) comparison."""
    operands = [node.left, *node.comparators]
    for operand in operands:
        ch.visit(operand)
    for index, op in enumerate(node.ops):
        _link(ch, op, operands[index], operands[index + 1])
    return T.BOOL


def _link(ch: Checker, op: ast.cmpop, left: ast.expr, right: ast.expr) -> None:
    """Check one comparison link, including enum literals."""
    symbol = COMPARE[type(op)]
    ltype, rtype = ch.types[id(left)], ch.types[id(right)]

    def pair() -> str:
        return f"{ch.typed(left)} with {ch.typed(right)}"

    if isinstance(op, (ast.Is, ast.IsNot)):
        if (True, None) not in (ch.const(left), ch.const(right)):
            message = f"'{symbol}' is only allowed with None"
            ch.issue("not-allowed", left, message, "use '==' to compare values")
    elif isinstance(op, ORDERING):
        if T.NULL in (ltype, rtype):
            hint = "use 'is None' or is_set() to test for a missing value"
            ch.issue("type-mismatch", left, f"cannot compare {pair()} using '{symbol}'", hint)
        elif not orderable(ltype, rtype):
            hint = _compare_hint(ltype, rtype)
            ch.issue("type-mismatch", left, f"cannot compare {pair()} using '{symbol}'", hint)
    elif isinstance(op, (ast.Eq, ast.NotEq)):
        if not compatible(ltype, rtype):
            message = f"comparing {pair()} is always {'false' if symbol == '==' else 'true'}"
            ch.issue("type-mismatch", left, message, _compare_hint(ltype, rtype))
        ch.enum_check(left, ltype, right)
        ch.enum_check(right, rtype, left)
    else:
        _membership(ch, symbol, left, right)


def _membership(ch: Checker, symbol: str, left: ast.expr, right: ast.expr) -> None:
    """Check 'in' / 'not in': a list or text on the right, fitting items on the left."""
    ltype, rtype = ch.types[id(left)], ch.types[id(right)]
    if rtype.kind == "list":
        item = rtype.item or T.ANY
        if not compatible(ltype, item):
            message = f"{ch.typed(left)} can never be '{symbol}' {ch.typed(right)}"
            ch.issue("type-mismatch", left, message)
        ch.enum_check(right, item, left)
        if isinstance(right, (ast.List, ast.Tuple)):
            for elt in right.elts:
                ch.enum_check(left, ltype, elt)
    elif rtype.kind == "string":
        if ltype.kind not in LOOSE | {"string"}:
            message = f"only a text can be '{symbol}' a text, not {ch.typed(left)}"
            ch.issue("type-mismatch", left, message)
    elif rtype.kind not in LOOSE:
        message = f"'{symbol}' needs a list or a text on the right, not {ch.typed(right)}"
        ch.issue("type-mismatch", right, message)


_ARITHMETIC: dict[tuple[str, str, str], ExprType] = {
    ("+", "string", "string"): T.STRING,
    ("*", "string", "integer"): T.STRING,
    ("*", "integer", "string"): T.STRING,
    ("*", "duration", "number"): T.DURATION,
    ("*", "number", "duration"): T.DURATION,
    ("/", "duration", "number"): T.DURATION,
    ("/", "duration", "duration"): T.NUMBER,
    ("//", "duration", "duration"): T.INTEGER,
    ("//", "duration", "integer"): T.DURATION,
    ("%", "duration", "duration"): T.DURATION,
    ("+", "duration", "duration"): T.DURATION,
    ("-", "duration", "duration"): T.DURATION,
    ("+", "date", "duration"): T.DATE,
    ("+", "duration", "date"): T.DATE,
    ("+", "datetime", "duration"): T.DATETIME,
    ("+", "duration", "datetime"): T.DATETIME,
    ("-", "date", "duration"): T.DATE,
    ("-", "datetime", "duration"): T.DATETIME,
    ("-", "date", "date"): T.DURATION,
    ("-", "datetime", "datetime"): T.DURATION,
}


def arithmetic(symbol: str, a: ExprType, b: ExprType, right: tuple[bool, Any]) -> ExprType | None:
    """Return the result type of `a symbol b`, or None when the types cannot combine."""
    as_number = {"bool": "integer"}  # Python arithmetic on bools: (x > 3) * 5 scores 5
    ka, kb = as_number.get(a.kind, a.kind), as_number.get(b.kind, b.kind)
    if ka in LOOSE or kb in LOOSE:
        return T.ANY
    if ka in NUMERIC and kb in NUMERIC:
        if symbol == "/" or "number" in (ka, kb):
            return T.NUMBER
        if symbol == "**":
            known, exponent = right
            return T.INTEGER if known and isinstance(exponent, int) and exponent >= 0 else T.NUMBER
        return T.INTEGER
    if symbol == "+" and ka == "list" and kb == "list":
        return T.list_of(unify(a.item or T.ANY, b.item or T.ANY))
    if symbol == "*" and {ka, kb} == {"list", "integer"}:
        return a if ka == "list" else b
    widen = {"integer": "number"}
    found = _ARITHMETIC.get((symbol, ka, kb))
    return found or _ARITHMETIC.get((symbol, widen.get(ka, ka), widen.get(kb, kb)))


def orderable(a: ExprType, b: ExprType) -> bool:
    """Tell whether '<' and friends are meaningful between types `a` and `b`."""
    if a.kind == "any" or b.kind == "any":
        return True
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return True
    return a.kind == b.kind and a.kind in _ORDERED_KINDS


def _compare_hint(a: ExprType, b: ExprType) -> str:
    kinds = {a.kind, b.kind}
    if kinds == _MOMENTS:
        return "use date(...) to compare a datetime with a date"
    if kinds & _MOMENTS and "string" in kinds:
        return "write a date as date('2026-01-31')"
    if "string" in kinds and kinds & NUMERIC:
        return "text and numbers cannot be mixed"
    return ""
