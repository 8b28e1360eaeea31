"""Check calls of whitelisted functions: arguments, types, and the special functions."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from engine.expr import runtime as rt
from engine.expr.errors import suggest
from engine.expr.functions import FUNCTIONS, FunctionSig, Param
from engine.expr.limits import MAX_REGEX_LENGTH
from engine.expr.tables import table_index
from engine.expr.types import LOOSE, NUMERIC, ExprType, compatible

if TYPE_CHECKING:
    from engine.expr.checker import Checker

T = ExprType
S = TypeVar("S")
_MOMENT_KINDS = LOOSE | {"date", "datetime"}


@dataclass
class CallInfo:
    """Record how a call was resolved: its function, bound arguments and extra data."""

    sig: FunctionSig
    args: list[ast.expr]
    form: str = ""
    extra: Any = None


@dataclass(frozen=True)
class Call:
    """Bundle a call node with its function, bound arguments and their types."""

    node: ast.Call
    sig: FunctionSig
    args: list[ast.expr]
    types: list[ExprType]

    @property
    def usage(self) -> str:
        """Return the usage hint of the function."""
        return f"usage: {self.sig.usage}"


def check_call(ch: Checker, node: ast.Call) -> ExprType:
    """Check a call node and return the type of its result."""
    func = node.func
    if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
        return _not_callable(ch, node)
    sig = FUNCTIONS[func.id]
    args = bind(ch, node, sig)
    types = [ch.visit(arg) for arg in (args if args is not None else node.args)]
    if args is None:
        return T.ANY
    return _SPECIAL.get(sig.name, _generic)(ch, Call(node, sig, args, types))


def _not_callable(ch: Checker, node: ast.Call) -> ExprType:
    """Report a call of a method, an unknown function or a forbidden name."""
    func = node.func
    if isinstance(func, ast.Name) and not ch.allowed_name(func, func.id, "name"):
        return T.ANY
    for part in [*node.args, *(kw.value for kw in node.keywords)]:
        ch.visit(part)
    if isinstance(func, ast.Name):
        hint = suggest(func.id, FUNCTIONS) or "see the function list in docs/expressions.md"
        return ch.issue("unknown-function", func, f"function '{func.id}' does not exist", hint)
    if isinstance(func, ast.Attribute):
        ch.visit(func.value)
        hint = "call one of the listed functions"
        if func.attr in FUNCTIONS:
            hint = f"write {func.attr}({ch.text(func.value)[1:-1]})"
        return ch.issue("not-allowed", node, f"methods cannot be called: '{func.attr}'", hint)
    return ch.issue("not-allowed", node, "only listed functions can be called")


def _count_text(low: int, high: int) -> str:
    if low == high:
        return f"{low} argument{'s' if low != 1 else ''}"
    return f"{low} or {high} arguments" if high == low + 1 else f"{low} to {high} arguments"


def bind(ch: Checker, node: ast.Call, sig: FunctionSig) -> list[ast.expr] | None:
    """Match positional and keyword arguments to parameters; None after reporting a problem."""
    usage, params, name = f"usage: {sig.usage}", sig.params, sig.name
    if any(isinstance(arg, ast.Starred) for arg in node.args):
        return None  # check_call visits the arguments, which reports the '*' once
    if any(p.variadic for p in params):
        if node.keywords:
            ch.issue("bad-arguments", node, f"{name}() takes no keyword arguments", usage)
            return None
        return list(node.args)
    if len(node.args) > len(params):
        takes = _count_text(sum(1 for p in params if not p.optional), len(params))
        ch.issue("bad-arguments", node, f"{name}() takes {takes}, got {len(node.args)}", usage)
        return None
    slots: list[ast.expr | None] = [*node.args, *[None] * (len(params) - len(node.args))]
    names = [p.name for p in params]
    for keyword in node.keywords:
        if keyword.arg is None:
            ch.issue("not-allowed", keyword.value, "unpacking with '**' is not allowed")
            return None
        if keyword.arg not in names:
            message, hint = (
                f"{name}() has no parameter '{keyword.arg}'",
                suggest(keyword.arg, names),
            )
            ch.issue("bad-arguments", keyword.value, message, hint or usage)
            return None
        if slots[names.index(keyword.arg)] is not None:
            ch.issue("bad-arguments", keyword.value, f"{name}() got '{keyword.arg}' twice", usage)
            return None
        slots[names.index(keyword.arg)] = keyword.value
    while slots and slots[-1] is None and params[len(slots) - 1].optional:
        slots.pop()
    if None in slots:
        missing = names[slots.index(None)]
        ch.issue("bad-arguments", node, f"{name}() is missing argument '{missing}'", usage)
        return None
    return [slot for slot in slots if slot is not None]


def accepts(param: Param, typ: ExprType) -> bool:
    """Tell whether a parameter accepts a value of type `typ`."""
    kinds = param.kinds
    if typ.kind in LOOSE or "any" in kinds or (typ.kind in NUMERIC and "number" in kinds):
        return True
    if typ.kind not in kinds:
        return False
    if typ.kind == "list" and param.item_kinds and typ.item is not None:
        item, wanted = typ.item.kind, param.item_kinds
        return item in LOOSE or item in wanted or (item in NUMERIC and "number" in wanted)
    return True


def check_types(ch: Checker, call: Call, params: Sequence[Param] | None = None) -> bool:
    """Report arguments whose type the parameter does not accept."""
    ok = True
    for param, arg, typ in zip(params or call.sig.params, call.args, call.types, strict=False):
        if not accepts(param, typ):
            ok = False
            message = f"{call.sig.name}() needs {param.describe()} for '{param.name}', not "
            ch.issue("type-mismatch", arg, message + ch.typed(arg), call.usage)
    return ok


def _generic(ch: Checker, call: Call) -> ExprType:
    sig, args, types = call.sig, call.args, call.types
    form = ""
    if sig.params[0].variadic:
        if not args:
            message = f"{sig.name}() needs at least one argument"
            return ch.issue("bad-arguments", call.node, message, call.usage)
        if sig.name in ("min", "max"):
            form = "list" if len(args) == 1 else "args"
            if form == "list" and types[0].kind not in LOOSE | {"list"}:
                message = f"{sig.name}() of one value needs a list, not {ch.typed(args[0])}"
                return ch.issue("type-mismatch", args[0], message, call.usage)
    elif not check_types(ch, call):
        return sig.returns
    ch.calls[id(call.node)] = CallInfo(sig, args, form)
    return sig.result(types)


_YMD = (Param("year", ("integer",)), Param("month", ("integer",)), Param("day", ("integer",)))
_DATE_FROM = (Param("value", ("string", "date", "datetime")),)


def _date(ch: Checker, call: Call) -> ExprType:
    if len(call.args) == 2:
        ch.issue("bad-arguments", call.node, "date() takes 1 or 3 arguments, got 2", call.usage)
        return T.DATE
    if not check_types(ch, call, _YMD if len(call.args) == 3 else _DATE_FROM):
        return T.DATE
    values = [ch.const(arg) for arg in call.args]
    if all(known for known, _ in values):
        try:
            ch.consts[id(call.node)] = rt.f_date(*(value for _, value in values))
        except (ValueError, TypeError) as error:
            message = f"{ch.text(call.node)} is not a valid date"
            ch.issue("bad-arguments", call.node, message, str(error))
    ch.calls[id(call.node)] = CallInfo(call.sig, call.args)
    return T.DATE


def _matches(ch: Checker, call: Call) -> ExprType:
    check_types(ch, call)
    where = call.args[1]
    known, pattern = ch.const(where)
    if not known or not isinstance(pattern, str):
        message = "the pattern of matches() must be a fixed text"
        ch.issue("bad-arguments", where, message, "write matches(code, '^[A-Z]{2}[0-9]+$')")
    elif len(pattern) > MAX_REGEX_LENGTH:
        message = f"the pattern is {len(pattern)} characters long"
        ch.issue("too-large", where, message, f"the limit is {MAX_REGEX_LENGTH} characters")
    else:
        try:
            compiled = re.compile(pattern)
        except re.error as error:
            ch.issue("bad-arguments", where, f"invalid regular expression: {error}")
        else:
            ch.calls[id(call.node)] = CallInfo(call.sig, call.args[:1], extra=compiled)
    return T.BOOL


def _since(ch: Checker, call: Call) -> ExprType:
    check_types(ch, call)
    if "now" not in ch.scope.context:
        message = f"{call.sig.name}() needs 'now', which is not available in "
        hint = "use hours_between() or days_between() with two times"
        ch.issue("unknown-name", call.node, message + (ch.scope.subject or "this expression"), hint)
    ch.calls[id(call.node)] = CallInfo(call.sig, call.args)
    return T.NUMBER


STAGE_ENTERED = "stage_entered_at"


def _in_stage(ch: Checker, call: Call) -> ExprType:
    """Check hours_in_stage(): a record with a stage entry time, and `now`, must be known."""
    check_types(ch, call)
    if STAGE_ENTERED not in ch.scope.record or "now" not in ch.scope.context:
        message = "hours_in_stage() reads a record's stage entry time and 'now'; they are not "
        where = ch.scope.subject or "this expression"
        ch.issue("unknown-name", call.node, f"{message}available in {where}")
        return T.NUMBER
    ch.names.add(STAGE_ENTERED)
    ch.calls[id(call.node)] = CallInfo(call.sig, [])
    return T.NUMBER


def _named(ch: Checker, call: Call, what: str, known: Mapping[str, S]) -> S | None:
    """Resolve the fixed first argument naming a table or metric; None after an issue."""
    found, name = ch.const(call.args[0]) if call.args else (False, None)
    if not found or not isinstance(name, str):
        where = call.args[0] if call.args else call.node
        message = f"{call.sig.name}() needs the {what} name as a fixed text"
        ch.issue("bad-arguments", where, message, call.usage)
        return None
    if name not in known:
        listing = f"available {what}s: " + ", ".join(sorted(known)) if known else ""
        hint = suggest(name, known) or listing or f"no {what}s are available here"
        ch.issue(f"unknown-{what}", call.args[0], f"{what} '{name}' does not exist", hint)
        return None
    return known[name]


def _keys(ch: Checker, call: Call, label: str, wanted: list[tuple[str, ExprType]]) -> bool:
    """Check key/group values against the (name, type) pairs a table or metric expects."""
    args = call.args[1:]
    if len(args) != len(wanted):
        names = ", ".join(name for name, _ in wanted) or "none"
        values = f"{len(wanted)} value{'s' if len(wanted) != 1 else ''}"
        message = f"{label} needs {values} ({names}), got {len(args)}"
        ch.issue("bad-arguments", call.node, message, call.usage)
        return False
    ok = True
    for (name, want), arg in zip(wanted, args, strict=True):
        if not compatible(ch.types[id(arg)], want):
            ok = False
            message = f"{label} needs {want.describe()} for '{name}', not {ch.typed(arg)}"
            ch.issue("type-mismatch", arg, message)
        ch.enum_check(f"'{name}'", want, arg)
    return ok


def _lookup(ch: Checker, call: Call) -> ExprType:
    table = _named(ch, call, "table", ch.scope.tables)
    if table is None:
        return T.ANY
    label = f"lookup('{table.name}')"
    wanted = [(col, table.columns.get(col, T.ANY)) for col in table.key]
    if table.range is not None:
        wanted.append(("{}..{} date".format(*table.range), T.ANY))
    if not _keys(ch, call, label, wanted):
        return T.ANY
    if table.range is not None and call.types[-1].kind not in _MOMENT_KINDS:
        message = f"{label} needs a date for its range, not {ch.typed(call.args[-1])}"
        return ch.issue("type-mismatch", call.args[-1], message)
    try:
        table_index(table)  # built once per table and cached; bad rows are reported here
    except (TypeError, ValueError) as error:
        return ch.issue(
            "type-mismatch", call.args[0], f"table '{table.name}' has bad rows: {error}"
        )
    row = table.row_type
    ch.table_rows[row] = table
    ch.calls[id(call.node)] = CallInfo(call.sig, call.args[1:], extra=table)
    return row


def _metric(ch: Checker, call: Call) -> ExprType:
    metric = _named(ch, call, "metric", ch.scope.metrics)
    if metric is None or not _keys(ch, call, f"metric('{metric.name}')", list(metric.group_by)):
        return T.ANY
    ch.calls[id(call.node)] = CallInfo(call.sig, call.args[1:], extra=metric.name)
    return metric.type


EVIDENCE_STAYS = ("current_stay", "any_stay")


def _evidence_count(ch: Checker, call: Call) -> ExprType:
    """Check evidence_count('kind', 'current_stay'|'any_stay'): fixed texts, known kind."""
    kinds = ch.scope.evidence
    if kinds is None:
        message = "evidence_count() reads a record's files; no record is available in "
        ch.issue("unknown-name", call.node, message + (ch.scope.subject or "this expression"))
        return T.INTEGER
    found, kind = ch.const(call.args[0])
    if not found or not isinstance(kind, str):
        message = "evidence_count() needs the evidence kind as a fixed text"
        ch.issue("bad-arguments", call.args[0], message, call.usage)
        return T.INTEGER
    if kind not in kinds:
        listing = "known kinds: " + ", ".join(kinds) if kinds else ""
        hint = suggest(kind, kinds) or listing or f"{ch.scope.subject} has no evidence kinds"
        message = f"'{kind}' is not an evidence kind of {ch.scope.subject}"
        ch.issue("unknown-evidence", call.args[0], message, hint)
        return T.INTEGER
    stays = "current_stay"
    if len(call.args) == 2:
        found, value = ch.const(call.args[1])
        if not found or value not in EVIDENCE_STAYS:
            hint = (suggest(value, EVIDENCE_STAYS) if isinstance(value, str) else "") or ""
            message = "evidence_count() counts 'current_stay' or 'any_stay' (a fixed text)"
            ch.issue("bad-arguments", call.args[1], message, hint or call.usage)
            return T.INTEGER
        stays = str(value)
    ch.calls[id(call.node)] = CallInfo(call.sig, [], extra=(kind, stays))
    return T.INTEGER


def _assignee(ch: Checker, call: Call) -> ExprType:
    """Check assignee('name'): a fixed text naming one of the record's named assignments."""
    names = ch.scope.assignments
    if names is None:
        message = "assignee() reads a record's assignments; no record is available in "
        ch.issue("unknown-name", call.node, message + (ch.scope.subject or "this expression"))
        return T.STRING
    found, name = ch.const(call.args[0]) if call.args else (False, None)
    if not found or not isinstance(name, str):
        message = "assignee() needs the assignment's name as a fixed text"
        ch.issue("bad-arguments", call.args[0] if call.args else call.node, message, call.usage)
        return T.STRING
    if name not in names:
        listing = "known assignments: " + ", ".join(names) if names else ""
        hint = suggest(name, names) or listing or f"{ch.scope.subject} has no named assignments"
        message = f"'{name}' is not a named assignment of {ch.scope.subject}"
        ch.issue("unknown-assignment", call.args[0], message, hint)
        return T.STRING
    ch.calls[id(call.node)] = CallInfo(call.sig, [], extra=name)
    return T.STRING


_SPECIAL: dict[str, Callable[[Checker, Call], ExprType]] = {
    "date": _date,
    "matches": _matches,
    "hours_since": _since,
    "days_since": _since,
    "hours_in_stage": _in_stage,
    "lookup": _lookup,
    "metric": _metric,
    "evidence_count": _evidence_count,
    "assignee": _assignee,
}
