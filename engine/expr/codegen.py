"""Generate Python functions from checked expressions: a fast body and a null-safe body."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.expr import runtime as rt
from engine.expr.checker import Checker
from engine.expr.functions import AGGREGATES
from engine.expr.limits import MAX_EVALUATION_STEPS
from engine.expr.operators import BINOPS, COMPARE, ORDERING
from engine.expr.tables import table_index
from engine.expr.types import NUMERIC

Fn = Callable[..., Any]
# Operand kinds for which '+' and '*' cannot grow a text or list: plain operators suffice.
_PLAIN_GROWTH = NUMERIC | {"bool", "duration", "date", "datetime"}
_PLAIN_MOD = NUMERIC | {"bool", "duration"}
_SAFE_COMPARE: dict[type[ast.cmpop], tuple[str, Fn]] = {
    ast.Lt: ("_n_lt", rt.n_lt),
    ast.LtE: ("_n_le", rt.n_le),
    ast.Gt: ("_n_gt", rt.n_gt),
    ast.GtE: ("_n_ge", rt.n_ge),
}
_HEADER = "def {name}(r, c=_EMPTY):\n"
# The step budget of one evaluation (a fresh one for the null-safe retry), emitted only
# for expressions with a loop.
_BUDGET = "    {name} = [{steps}]\n"
_FAST_THEN_SAFE = """\
{budget}    try:
        return {fast}
    except _ABSORBED:
        pass
    except _Error as exc:
        {on_error}
{budget}    try:
        return {safe}
    except _Error as exc:
        {on_error}
"""


# In a group a failing expression gives None, but a lookup without a row still refuses.
_GROUP_ERROR = "return _none_unless_missing_row(exc, _fail{index})"
# Functions that read every item of a list given to them (charged inside loops).
_READS_LIST = AGGREGATES | {"contains"}


class Generator:
    """Turn checked ASTs into Python source, collecting the globals that source needs."""

    def __init__(self) -> None:
        """Start with the globals every generated function needs, and no builtins."""
        self.globals: dict[str, Any] = {
            "__builtins__": {},
            "_EMPTY": rt.EMPTY,
            "_ABSORBED": rt.ABSORBED,
            "_Error": Exception,
        }
        self._bound: dict[int, str] = {}
        self.ch: Checker | None = None
        # The step budget variable of the expression being emitted, the budgets used
        # so far, and how many loops enclose the node being emitted.
        self.budget = "_b"
        self.budgets: set[str] = set()
        self.loops = 0

    def bind(self, value: Any, prefix: str) -> str:
        """Make `value` a global of the generated code and return its name."""
        key = id(value)
        if key not in self._bound:
            name = f"{prefix}{len(self._bound)}"
            self._bound[key] = name
            self.globals[name] = value
        return self._bound[key]

    def helper(self, name: str, fn: Fn) -> str:
        """Make a run-time helper available under `name`."""
        if self.globals.setdefault(name, fn) is not fn:
            raise RuntimeError(f"two helpers named {name!r}")  # a bug in this module
        return name

    def const(self, value: Any) -> str:
        """Emit a constant as a literal when it is a plain one, else as a bound global."""
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float) and math.isfinite(value):
            return repr(value)
        if isinstance(value, (tuple, list)) and len(value) <= 64:
            items = [self.const(item) for item in value]
            return _tuple(items) if isinstance(value, tuple) else "[" + ", ".join(items) + "]"
        return self.bind(value, "_k")

    def emit(self, ch: Checker, safe: bool, budget: str = "_b") -> str:
        """Return the source of the fast or null-safe body of a checked expression."""
        self.ch, self.budget = ch, budget
        assert ch.parsed.tree is not None
        return self.node(ch.parsed.tree.body, safe)

    def budget_line(self, name: str = "_b") -> str:
        """Return the statement creating budget `name`, if an emitted body spends it."""
        return _BUDGET.format(name=name, steps=MAX_EVALUATION_STEPS) if name in self.budgets else ""

    def charged(self, value: str) -> str:
        """Spend one step per item of `value` when a loop repeats this read."""
        if not self.loops:
            return value
        self.budgets.add(self.budget)
        return f"{self.helper('_charge', rt.charge)}({value}, {self.budget})"

    def node(self, node: ast.expr, safe: bool, lazy: bool = False) -> str:
        """Emit one node; `lazy` keeps a generator expression lazy (aggregate argument)."""
        ch = self.ch
        assert ch is not None
        if id(node) in ch.consts:
            return self.const(ch.consts[id(node)])
        if isinstance(node, (ast.GeneratorExp, ast.ListComp)):
            return self.comprehension(node, safe, lazy)
        method: Callable[[Any, bool], str] = getattr(self, "emit_" + type(node).__name__)
        return method(node, safe)

    def emit_Name(self, node: ast.Name, safe: bool) -> str:
        """Read a record or context key, or a loop variable."""
        assert self.ch is not None
        where, key = self.ch.bindings[id(node)]
        if where == "loop":
            return key
        source = "r" if where == "record" else "c"
        return f"{source}.get({key!r})" if safe else f"{source}[{key!r}]"

    def emit_Attribute(self, node: ast.Attribute | ast.Subscript, safe: bool) -> str:
        """Read a field or item: records are dicts at run time."""
        assert self.ch is not None
        value, key = self.node(node.value, safe), self.ch.keys[id(node)]
        if safe:
            return f"{self.helper('_n_get', rt.n_get)}({value}, {key!r})"
        return f"{value}[{key!r}]"

    emit_Subscript = emit_Attribute

    def emit_List(self, node: ast.List, safe: bool) -> str:
        """Emit a list display."""
        return "[" + ", ".join(self.node(elt, safe) for elt in node.elts) + "]"

    def emit_Tuple(self, node: ast.Tuple, safe: bool) -> str:
        """Emit a tuple display."""
        return _tuple([self.node(elt, safe) for elt in node.elts])

    def emit_UnaryOp(self, node: ast.UnaryOp, safe: bool) -> str:
        """Emit not / - / +."""
        operand = self.node(node.operand, safe)
        if isinstance(node.op, ast.Not):
            return f"(not {operand})"
        symbol, helper = ("-", rt.n_neg) if isinstance(node.op, ast.USub) else ("+", rt.n_pos)
        if safe:
            return f"{self.helper('_n_neg' if symbol == '-' else '_n_pos', helper)}({operand})"
        return f"({symbol}{operand})"

    def emit_BinOp(self, node: ast.BinOp, safe: bool) -> str:
        """Emit arithmetic: plain operators where types allow, limited helpers elsewhere."""
        ch = self.ch
        assert ch is not None
        left, right = self.node(node.left, safe), self.node(node.right, safe)
        symbol, safe_helper = BINOPS[type(node.op)]
        if safe:
            name = f"_n_{type(node.op).__name__.lower()}"
            return f"{self.helper(name, safe_helper)}({left}, {right})"
        kinds = {ch.types[id(node.left)].kind, ch.types[id(node.right)].kind}
        if symbol == "**":
            return f"{self.helper('_pow', rt.power)}({left}, {right})"
        if symbol == "+" and not kinds <= _PLAIN_GROWTH:
            return f"{self.helper('_s_add', rt.safe_add)}({left}, {right})"
        if symbol == "*" and not kinds <= _PLAIN_GROWTH:
            return f"{self.helper('_s_mul', rt.safe_mult)}({left}, {right})"
        if symbol == "%" and not kinds <= _PLAIN_MOD:
            return f"{self.helper('_mod', rt.mod_checked)}({left}, {right})"
        return f"({left} {symbol} {right})"

    def emit_BoolOp(self, node: ast.BoolOp, safe: bool) -> str:
        """Emit and / or."""
        joiner = " and " if isinstance(node.op, ast.And) else " or "
        return "(" + joiner.join(self.node(value, safe) for value in node.values) + ")"

    def emit_IfExp(self, node: ast.IfExp, safe: bool) -> str:
        """Emit 'a if cond else b'."""
        body, test = self.node(node.body, safe), self.node(node.test, safe)
        return f"({body} if {test} else {self.node(node.orelse, safe)})"

    def emit_Compare(self, node: ast.Compare, safe: bool) -> str:
        """Emit a comparison chain; the safe form checks link by link."""
        operands = [self.node(op, safe) for op in [node.left, *node.comparators]]
        if not safe:
            parts = [operands[0]]
            for op, operand in zip(node.ops, operands[1:], strict=True):
                read = self.charged(operand) if isinstance(op, (ast.In, ast.NotIn)) else operand
                parts += [COMPARE[type(op)], read]
            return "(" + " ".join(parts) + ")"
        links = []
        for index, op in enumerate(node.ops):
            left, right = operands[index], operands[index + 1]
            if isinstance(op, ORDERING):
                links.append(f"{self.helper(*_SAFE_COMPARE[type(op)])}({left}, {right})")
            elif isinstance(op, (ast.In, ast.NotIn)):
                test = f"{self.helper('_n_in', rt.n_in)}({left}, {self.charged(right)})"
                links.append(test if isinstance(op, ast.In) else f"(not {test})")
            else:
                links.append(f"({left} {COMPARE[type(op)]} {right})")
        return "(" + " and ".join(links) + ")"

    def comprehension(self, node: ast.GeneratorExp | ast.ListComp, safe: bool, lazy: bool) -> str:
        """Emit a one-'for' comprehension, lazy only as the argument of an aggregate."""
        assert self.ch is not None
        loop = node.generators[0]
        var = self.ch.loops[id(loop)]
        items = self.node(loop.iter, safe)
        self.budgets.add(self.budget)
        if safe:
            items = f"{self.helper('_n_iter', rt.n_iter)}({items}, {self.budget})"
        else:
            items = f"{self.helper('_bounded', rt.bounded)}({items}, {self.budget})"
        self.loops += 1
        try:
            conditions = "".join(f" if {self.node(cond, safe)}" for cond in loop.ifs)
            body = f"{self.node(node.elt, safe)} for {var} in {items}{conditions}"
        finally:
            self.loops -= 1
        lazy = lazy and isinstance(node, ast.GeneratorExp)
        return f"({body})" if lazy else f"[{body}]"

    def emit_provided(self, name: str, extra: Any, args: list[str], safe: bool) -> str:
        """Emit a call the run-time context provides: metric, evidence_count, assignee."""
        if name == "metric":
            group = _tuple(args)
            if safe:
                return f"{self.helper('_n_metric', rt.n_metric)}(c, {extra!r}, {group})"
            return f"c['metric']({extra!r}, {group})"
        if name == "evidence_count":
            kind, stays = extra
            if safe:
                helper = self.helper("_n_evidence_count", rt.n_evidence_count)
                return f"{helper}(c, {kind!r}, {stays!r})"
            return f"c['evidence_count']({kind!r}, {stays!r})"
        if safe:
            return f"{self.helper('_n_assignee', rt.n_assignee)}(c, {extra!r})"
        return f"c['assignee']({extra!r})"

    def emit_Call(self, node: ast.Call, safe: bool) -> str:
        """Emit a whitelisted function call."""
        assert self.ch is not None
        info = self.ch.calls[id(node)]
        sig, name = info.sig, info.sig.name
        lazy = name in AGGREGATES
        args = [self.node(arg, safe, lazy) for arg in info.args]
        lists = name in _READS_LIST and info.form != "args" and args
        if lists and not isinstance(info.args[0], (ast.GeneratorExp, ast.ListComp)):
            args[0] = self.charged(args[0])
        if name == "lookup":
            table = info.extra
            index = self.bind(table_index(table), "_t")
            if safe:
                sig_name = self.bind(table, "_ts")
                if table.range:
                    helper = self.helper("_n_lookup_range", rt.n_lookup_range)
                    return f"{helper}({index}, {_tuple(args[:-1])}, {args[-1]}, {sig_name})"
                helper = self.helper("_n_lookup", rt.n_lookup)
                return f"{helper}({index}, {_tuple(args)}, {sig_name})"
            # No row: KeyError, which sends the call to the safe path (default or refusal).
            if table.range:
                return f"{index}.row({_tuple(args[:-1])}, {args[-1]})"
            return f"{index}[{args[0] if len(args) == 1 else _tuple(args)}]"
        if name in ("metric", "evidence_count", "assignee"):
            return self.emit_provided(name, info.extra, args, safe)
        if name == "hours_in_stage":
            key = "stage_entered_at"
            args = [f"r.get({key!r})", "c.get('now')"] if safe else [f"r[{key!r}]", "c['now']"]
        elif name in ("hours_since", "days_since"):
            args.append("c.get('now')" if safe else "c['now']")
        elif name == "matches":
            args.insert(0, self.bind(info.extra, "_rx"))
        elif info.form == "args":
            args = [_tuple(args)]
        fn = sig.safe_impl if safe else sig.fast
        assert fn is not None
        helper = self.helper(f"_{'fs' if safe else 'fn'}_{name}", fn)
        return f"{helper}({', '.join(args)})"


def _tuple(items: Sequence[str]) -> str:
    """Emit a tuple display of already emitted items."""
    return "(" + "".join(f"{item}, " for item in items) + ")"


def _compile(source: str, globals_: dict[str, Any], label: str) -> dict[str, Any]:
    code = compile(source, f"<expression {label[:60]!r}>", "exec")
    exec(code, globals_)
    return globals_


def build_function(ch: Checker, source: str) -> Fn:
    """Generate fn(r, c): the fast body, then the null-safe body, then EvaluationError."""
    gen = Generator()
    gen.globals["_fail"] = rt.failure(source)
    fast, safe = gen.emit(ch, safe=False), gen.emit(ch, safe=True)
    text = _HEADER.format(name="_expr") + _FAST_THEN_SAFE.format(
        budget=gen.budget_line(), fast=fast, safe=safe, on_error="raise _fail(exc) from exc"
    )
    fn: Fn = _compile(text, gen.globals, source)["_expr"]
    return fn


def build_group(checkers: Sequence[Checker], sources: Sequence[str]) -> Fn:
    """Generate one function returning every expression's value; a failing one gives None."""
    gen = Generator()
    fast = [gen.emit(ch, safe=False, budget=f"_b{i}") for i, ch in enumerate(checkers)]
    gen.globals["_none_unless_missing_row"] = rt.none_unless_missing_row
    parts = []
    for index, ch in enumerate(checkers):
        gen.globals[f"_fail{index}"] = rt.failure(sources[index])
        safe = gen.emit(ch, safe=True, budget=f"_b{index}")
        parts.append(
            _HEADER.format(name=f"_g{index}")
            + _FAST_THEN_SAFE.format(
                budget=gen.budget_line(f"_b{index}"),
                fast=fast[index],
                safe=safe,
                on_error=_GROUP_ERROR.format(index=index),
            )
        )
    fallback = "".join(f"_g{index}(r, c), " for index in range(len(checkers)))
    values = "".join(f"{body}, " for body in fast)
    budgets = "".join(gen.budget_line(f"_b{index}") for index in range(len(checkers)))
    parts.append(
        _HEADER.format(name="_group") + budgets + "    try:\n"
        f"        return ({values})\n    except _Error:\n        pass\n"
        f"    return ({fallback})\n"
    )
    group: Fn = _compile("\n".join(parts), gen.globals, " | ".join(sources))["_group"]
    return group


def build_paths(ch: Checker) -> tuple[Fn, Fn]:
    """Generate the fast body and the null-safe body as two separate functions (for tests)."""
    gen = Generator()
    fast, safe = gen.emit(ch, safe=False), gen.emit(ch, safe=True)
    budget = gen.budget_line()
    text = (
        _HEADER.format(name="_fast")
        + f"{budget}    return {fast}\n"
        + _HEADER.format(name="_safe")
        + f"{budget}    return {safe}\n"
    )
    namespace = _compile(text, gen.globals, "paths")
    return namespace["_fast"], namespace["_safe"]


def generated_source(ch: Checker) -> Mapping[str, str]:
    """Return the fast and safe bodies as text (for debugging and docs)."""
    gen = Generator()
    return {"fast": gen.emit(ch, safe=False), "safe": gen.emit(ch, safe=True)}
