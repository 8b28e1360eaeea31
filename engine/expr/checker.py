"""Check an expression's AST against the node whitelist and a typed scope."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.expr import runtime as rt
from engine.expr.calls import CallInfo, check_call
from engine.expr.errors import ExprIssue, quote, suggest
from engine.expr.functions import FUNCTIONS
from engine.expr.limits import (
    DISALLOW_PREFIXES,
    MAX_COMPREHENSION_NESTING,
    MAX_INT_LITERAL,
    MAX_STRING_LITERAL,
)
from engine.expr.operators import check_binop, check_compare
from engine.expr.parse import Parsed
from engine.expr.types import (
    LOOSE,
    NUMERIC,
    ExprType,
    Scope,
    TableSig,
    type_of_value,
    unify,
    unify_all,
)

T = ExprType
_SPELLINGS = {"true": "True", "false": "False", "null": "None", "none": "None", "nil": "None"}
_NOT_ALLOWED = {
    "Lambda": ("lambda functions are not allowed", "write the condition directly"),
    "NamedExpr": ("assignments (':=') are not allowed", "use a computed field instead"),
    "Starred": ("unpacking with '*' is not allowed", ""),
    "JoinedStr": ("f-strings are not allowed", "join texts with '+'"),
    "Dict": ("dictionaries are not allowed", "use a reference table and lookup()"),
    "DictComp": ("dictionary comprehensions are not allowed", "use a list comprehension"),
    "Set": ("sets are not allowed", "use a list: [a, b]"),
    "SetComp": ("set comprehensions are not allowed", "use a list comprehension"),
    "Slice": ("slices are not allowed", "use a fixed index such as items[0]"),
    "Await": ("'await' is not allowed", ""),
    "Yield": ("'yield' is not allowed", ""),
    "YieldFrom": ("'yield' is not allowed", ""),
}
PREFIX_RULE = "names must not start with " + " or ".join(f"'{p}'" for p in DISALLOW_PREFIXES)


@dataclass
class Checker:
    """Check one expression, keeping per-node annotations for the code generator."""

    parsed: Parsed
    scope: Scope
    type: ExprType = T.ANY
    issues: list[ExprIssue] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    types: dict[int, ExprType] = field(default_factory=dict)
    consts: dict[int, Any] = field(default_factory=dict)
    bindings: dict[int, tuple[str, str]] = field(default_factory=dict)
    keys: dict[int, Any] = field(default_factory=dict)
    calls: dict[int, CallInfo] = field(default_factory=dict)
    loops: dict[int, str] = field(default_factory=dict)
    table_rows: dict[ExprType, TableSig] = field(default_factory=dict)
    loop_scopes: list[dict[str, tuple[ExprType, str]]] = field(default_factory=list)

    def issue(self, code: str, at: ast.AST | int, message: str, hint: str = "") -> ExprType:
        """Record an issue at a node or offset; return ANY so checking continues."""
        offset = at if isinstance(at, int) else self.parsed.offset(at)
        self.issues.append(ExprIssue(code, message, hint, offset))
        return T.ANY

    def text(self, node: ast.AST) -> str:
        """Quote the source of `node` for a message."""
        return quote(ast.get_source_segment(self.parsed.text, node) or "")

    def typed(self, node: ast.AST) -> str:
        """Describe a node as 'source (type)' for a message."""
        return f"{self.text(node)} ({self.types.get(id(node), T.ANY).describe()})"

    def const(self, node: ast.AST) -> tuple[bool, Any]:
        """Return (True, value) when `node` was folded to a constant."""
        key = id(node)
        return (True, self.consts[key]) if key in self.consts else (False, None)

    def allowed_name(self, node: ast.AST | int, name: str, what: str) -> bool:
        """Report names with a forbidden prefix (dunders, simpleeval's DISALLOW_PREFIXES)."""
        if name.startswith(DISALLOW_PREFIXES):
            self.issue("not-allowed", node, f"{what} '{name}' is not allowed ({PREFIX_RULE})")
            return False
        return True

    def visit(self, node: ast.AST) -> ExprType:
        """Check `node` and return its static type."""
        method = getattr(self, "visit_" + type(node).__name__, None)
        typ: ExprType = method(node) if method else self.not_allowed(node)
        self.types[id(node)] = typ
        return typ

    def not_allowed(self, node: ast.AST) -> ExprType:
        """Report syntax outside the whitelist without checking inside it."""
        kind = type(node).__name__
        message, hint = _NOT_ALLOWED.get(kind, (f"'{kind}' syntax is not allowed", ""))
        return self.issue("not-allowed", node, message, hint)

    def visit_Constant(self, node: ast.Constant) -> ExprType:
        """Type a literal and check its size."""
        value = node.value
        if isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int) and abs(value) > MAX_INT_LITERAL:
            return self.issue(
                "too-large",
                node,
                f"the number {self.text(node)} is too large",
                f"numbers are limited to {MAX_INT_LITERAL}",
            )
        elif isinstance(value, str) and len(value) > MAX_STRING_LITERAL:
            message = f"the text {self.text(node)} is {len(value)} characters long"
            return self.issue(
                "too-large", node, message, f"texts are limited to {MAX_STRING_LITERAL} characters"
            )
        elif not isinstance(value, (int, float, str)):
            return self.issue(
                "not-allowed",
                node,
                f"the literal {self.text(node)} is not allowed",
                "use numbers, texts, True, False or None",
            )
        self.consts[id(node)] = value
        return type_of_value(value)

    def visit_Name(self, node: ast.Name) -> ExprType:
        """Resolve a bare name: loop variable, constant, record field, then context."""
        name, scope = node.id, self.scope
        if not self.allowed_name(node, name, "name"):
            return T.ANY
        for frame in reversed(self.loop_scopes):
            if name in frame:
                typ, var = frame[name]
                self.bindings[id(node)] = ("loop", var)
                return typ
        if name in scope.constants:
            self.consts[id(node)] = scope.constants[name]
            return type_of_value(scope.constants[name], name)
        if name in scope.record:
            self.names.add(name)
            self.bindings[id(node)] = ("record", name)
            return scope.record[name]
        if name in scope.context:
            self.bindings[id(node)] = ("context", name)
            return scope.context[name]
        return self.unknown_name(node, name)

    def unknown_name(self, node: ast.Name, name: str) -> ExprType:
        """Report an unknown name with the closest visible one."""
        scope = self.scope
        visible = [*scope.constants, *scope.record, *scope.context]
        visible += [n for frame in self.loop_scopes for n in frame]
        where = f"a field of {scope.subject}" if scope.subject else "defined"
        if name.lower() in _SPELLINGS:
            hint = f"did you mean '{_SPELLINGS[name.lower()]}'?"
        elif name in FUNCTIONS:
            hint = f"'{name}' is a function: call it as {name}(...)"
        else:
            hint = suggest(name, visible)
        if not hint and 0 < len(visible) <= 12:
            hint = "available names: " + ", ".join(sorted(visible))
        return self.issue("unknown-name", node, f"name '{name}' is not {where}", hint)

    def visit_Attribute(self, node: ast.Attribute) -> ExprType:
        """Type field access on a record (or a constant mapping)."""
        typ = self.visit(node.value)
        at = self.parsed.end_offset(node) - len(node.attr)
        if not self.allowed_name(at, node.attr, "field"):
            return T.ANY
        return self.field(node, typ, node.attr, at)

    def field(
        self, node: ast.Attribute | ast.Subscript, typ: ExprType, key: str, at: ast.AST | int
    ) -> ExprType:
        """Resolve field `key` of `node.value` (record, constant mapping or any)."""
        value = node.value
        self.keys[id(node)] = key
        known, folded = self.const(value)
        if known and isinstance(folded, Mapping):
            if key in folded:
                self.consts[id(node)] = folded[key]
                return type_of_value(folded[key], key)
        elif typ.kind in LOOSE:
            return T.ANY
        elif typ.kind != "record":
            hint = f"write {key}({self.text(value)[1:-1]})" if key in FUNCTIONS else ""
            if typ.item is not None and typ.item.field(key) is not None:
                hint = f"write [x.{key} for x in {self.text(value)[1:-1]}]"
            return self.issue("type-mismatch", at, f"{self.typed(value)} has no fields", hint)
        found = typ.field(key)
        if found is not None:
            return found
        names = [name for name, _ in typ.fields]
        table = self.table_rows.get(typ)
        if table is not None:
            message = f"'{key}' is not a column of table '{table.name}'"
            return self.issue("unknown-column", at, message, suggest(key, names))
        message = f"'{key}' is not a field of {typ.describe()}"
        return self.issue("unknown-field", at, message, suggest(key, names))

    def visit_Subscript(self, node: ast.Subscript) -> ExprType:
        """Type indexing with a fixed number (lists, texts) or text (records)."""
        typ = self.visit(node.value)
        index = node.slice
        if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
            index = index.operand
            sign = -1
        else:
            sign = 1
        if isinstance(index, ast.Slice):
            return self.not_allowed(index)
        if not isinstance(index, ast.Constant) or not isinstance(index.value, (int, str)):
            return self.issue(
                "not-allowed",
                node.slice,
                "only a fixed number or text can be used as index",
                "write items[0] or row['column']",
            )
        key = index.value
        if isinstance(key, str) and sign == 1:
            if not self.allowed_name(index, key, "field"):
                return T.ANY
            return self.field(node, typ, key, index)
        if isinstance(key, (bool, str)):
            return self.issue("not-allowed", node.slice, "an index must be a number or a text")
        self.keys[id(node)] = sign * key
        if typ.kind == "list":
            return typ.item or T.ANY
        if typ.kind == "string" or typ.kind in LOOSE:
            return T.STRING if typ.kind == "string" else T.ANY
        return self.issue(
            "type-mismatch", node, f"{self.typed(node.value)} cannot be indexed by a number"
        )

    def visit_List(self, node: ast.List | ast.Tuple) -> ExprType:
        """Type a list or tuple literal; fold it when every item is constant."""
        types = [self.visit(elt) for elt in node.elts]
        values = [self.const(elt) for elt in node.elts]
        if all(known for known, _ in values):
            items = [value for _, value in values]
            self.consts[id(node)] = tuple(items) if isinstance(node, ast.Tuple) else items
        return T.list_of(unify_all(types) if types else T.ANY)

    visit_Tuple = visit_List

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ExprType:
        """Type not, unary minus and plus."""
        typ = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return T.BOOL
        if isinstance(node.op, ast.Invert):
            return self.issue("not-allowed", node, "operator '~' is not allowed")
        if typ.kind not in NUMERIC | {"duration", "any", "null"}:
            return self.issue("type-mismatch", node, f"cannot negate {self.typed(node.operand)}")
        known, value = self.const(node.operand)
        if known and isinstance(node.op, ast.USub):
            self.fold(node, rt.n_neg, value)
        elif known:
            self.consts[id(node)] = value
        return typ

    def visit_BinOp(self, node: ast.BinOp) -> ExprType:
        """Type arithmetic (see operators.py)."""
        return check_binop(self, node)

    def visit_Compare(self, node: ast.Compare) -> ExprType:
        """Check a (chained) comparison (see operators.py)."""
        return check_compare(self, node)

    def fold(self, node: ast.expr, helper: Callable[..., Any], *values: Any) -> None:
        """Evaluate a constant operation now, reporting limit breaches at compile time."""
        # Failures and missing results (1 / 0) are left to run time and its missing-value
        # rules, so folding never changes what an expression means.
        try:
            value = helper(*values)
        except rt.LIMIT_ERRORS as error:
            message = f"{self.text(node)} is too large: {rt.describe_failure(error)}"
            self.issue("too-large", node, message)
            return
        except Exception:
            return
        if value is not None or None in values:
            self.consts[id(node)] = value

    def visit_BoolOp(self, node: ast.BoolOp) -> ExprType:
        """Type and/or: a bool when every operand is one."""
        types = [self.visit(value) for value in node.values]
        return T.BOOL if all(t.kind == "bool" for t in types) else unify_all(types)

    def visit_IfExp(self, node: ast.IfExp) -> ExprType:
        """Type 'a if cond else b'."""
        self.visit(node.test)
        return unify(self.visit(node.body), self.visit(node.orelse))

    def enum_check(self, label: ast.AST | str, typ: ExprType, literal: ast.expr) -> None:
        """Report a text literal that is not one of the values of enum `label` (a node or name)."""
        known, value = self.const(literal)
        if not typ.values or not known or not isinstance(value, str) or value in typ.values:
            return
        name = label if isinstance(label, str) else self.text(label)
        message = f"{quote(value)} is not a value of {name} (values: {', '.join(typ.values)})"
        self.issue("unknown-enum-value", literal, message, suggest(value, typ.values))

    def visit_ListComp(self, node: ast.ListComp | ast.GeneratorExp) -> ExprType:
        """Type a comprehension with one 'for' and optional 'if's over a list."""
        if len(node.generators) != 1:
            return self.issue(
                "not-allowed",
                node,
                "only one 'for' is allowed in a comprehension",
                "nest two comprehensions instead",
            )
        loop = node.generators[0]
        if loop.is_async:
            return self.issue("not-allowed", node, "'async for' is not allowed")
        if not isinstance(loop.target, ast.Name):
            return self.issue(
                "not-allowed", loop.target, "loop over a single name, as in 'for x in items'"
            )
        if not self.allowed_name(loop.target, loop.target.id, "name"):
            return T.ANY
        if len(self.loop_scopes) >= MAX_COMPREHENSION_NESTING:
            message = f"comprehensions are nested more than {MAX_COMPREHENSION_NESTING} deep"
            return self.issue("too-large", node, message, "split it into named computed fields")
        items = self.visit(loop.iter)
        if items.kind not in LOOSE | {"list"}:
            self.issue(
                "type-mismatch", loop.iter, f"'for' needs a list, not {self.typed(loop.iter)}"
            )
        var = f"_v{len(self.loops)}"
        self.loops[id(loop)] = var
        self.loop_scopes.append({loop.target.id: (items.item or T.ANY, var)})
        for condition in loop.ifs:
            self.visit(condition)
        element = self.visit(node.elt)
        self.loop_scopes.pop()
        return T.list_of(element)

    visit_GeneratorExp = visit_ListComp

    def visit_Call(self, node: ast.Call) -> ExprType:
        """Check a call of a whitelisted function."""
        return check_call(self, node)
