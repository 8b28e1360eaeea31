"""The template sandbox: jinja2's immutable sandbox, bounded in steps and in size.

A template renders inside a command's transaction, so a render may not run long or
build much (the numbers are in engine/templates.py and docs/language.md):

- steps: every loop turn (filtered ones too), call, filter, attribute or item lookup,
  operator and output costs one, and one more per STEP_SIZE characters (or items) it
  reads or builds; past MAX_STEPS the render stops;
- values: nothing one step builds may pass MAX_VALUE characters (or items, nested ones
  counted): `*`, `+`, `~`, `%` and `str.format`, string methods and filters that take a
  width are checked *before* they run, every call's and filter's result after;
- writing: text written anywhere (the output, and text captured by `{% set %}` blocks,
  macros and filter blocks; a loop's or macro's literal text counts on each turn) may not
  pass MAX_WRITTEN characters; the output itself is streamed and cut at MAX_OUTPUT.

A render that goes past a bound raises BoundExceeded (a jinja2 SecurityError).
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from decimal import Decimal
from functools import update_wrapper
from itertools import islice
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer
from markupsafe import EscapeFormatter, Markup

from engine.templates import (
    MAX_POWER_BITS,
    MAX_STEPS,
    MAX_VALUE,
    MAX_WRITTEN,
    SIZED_METHODS,
    STEP_SIZE,
    format_spec_problem,
    printf_problem,
    printf_specs,
    size_argument_problem,
)

MAX_INT_DIGITS = 4300  # digits of the largest whole number `| int` makes of a decimal


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


def _step(size: int = 0) -> None:
    """Count a step, and one more per STEP_SIZE characters (or items) of `size`."""
    spent = _BUDGET.get()
    if spent is not None:
        spent.step(1 + size // STEP_SIZE)


def _write(count: int) -> None:
    spent = _BUDGET.get()
    if spent is not None:
        spent.step(1 + count // STEP_SIZE)
        spent.write(count)


def size_of(value: Any, limit: int = MAX_VALUE) -> int:
    """Return the characters (text) or items (lists, mappings, nested ones counted) of a
    value; the count stops soon after passing `limit`, so it costs at most that much."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item)
        elif isinstance(item, Mapping):
            total += len(item)
            if total <= limit:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            if total <= limit:
                stack.extend(item)
        else:
            total += 1
        if total > limit:
            return total
    return total


def _refuse(problem: str | None) -> None:
    if problem:
        raise BoundExceeded(problem)


def _check_built(what: str, value: Any) -> Any:
    """Refuse a value past MAX_VALUE; count its size in steps."""
    size = size_of(value)
    if size > MAX_VALUE:
        raise BoundExceeded(f"{what} builds a value longer than {MAX_VALUE:,} characters or items")
    _step(size)
    return value


def _over(what: str, estimate: int) -> None:
    if estimate > MAX_VALUE:
        raise BoundExceeded(f"{what} would build more than {MAX_VALUE:,} characters")


def _decimal_problem(value: Any, spec: str) -> str | None:
    """A decimal with a large exponent written out in full (`{:f}`) is as long as it."""
    if (
        isinstance(value, Decimal)
        and value.is_finite()
        and spec[-1:] in ("f", "F", "%")
        and value.adjusted() > MAX_VALUE
    ):
        return f"the format spec '{spec[:40]}' writes out a number too long"
    return None


def _printf_size(fmt: str, args: Any) -> int:
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


def _check_printf(fmt: Any, args: Any) -> None:
    if isinstance(fmt, str):
        _refuse(printf_problem(fmt))
        _over("the %-format", _printf_size(fmt, args))


# -- filters -----------------------------------------------------------------------------
Args = tuple[Any, ...]
Kwargs = dict[str, Any]
Checked = tuple[Any, Args]
Check = Callable[[Any, Args, Kwargs], Checked]


def _arg(
    args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str, default: Any
) -> Any:
    if position < len(args):
        return args[position]
    return kwargs.get(name, default)


def _text_length(value: Any) -> int:
    return len(value) if isinstance(value, str) else size_of(value) * 4


def _check_center(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    _refuse(size_argument_problem("center", _arg(args, kwargs, 0, "width", 80)))
    return value, args


def _check_indent(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    width = _arg(args, kwargs, 0, "width", 4)
    _refuse(size_argument_problem("indent", width))
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
    _over("'indent'", _text_length(value) + lines * max(pad, 0))
    return value, args


def _check_wordwrap(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    width = _arg(args, kwargs, 0, "width", 79)
    _refuse(size_argument_problem("wordwrap", width))
    wrap = _arg(args, kwargs, 2, "wrapstring", "\n")
    length = _text_length(value)
    lines = length // max(width if isinstance(width, int) else 1, 1) + length // 2 + 1
    _over("'wordwrap'", length + lines * len(str(wrap or "\n")))
    return value, args


def _check_counts(name: str, spots: tuple[tuple[int, str], ...]) -> Check:
    def check(
        value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, tuple[Any, ...]]:
        for position, keyword in spots:
            _refuse(size_argument_problem(name, _arg(args, kwargs, position, keyword, None)))
        return value, args

    return check


def _depth(value: Any, cap: int = 64) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack and deepest < cap:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in islice(item.values(), 1000))
        elif isinstance(item, list | tuple):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in islice(item, 1000))
    return deepest


def _check_tojson(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    indent = _arg(args, kwargs, 0, "indent", None)
    _refuse(size_argument_problem("tojson", indent))
    if isinstance(indent, int) and indent > 0:
        _over("'tojson'", size_of(value) * (indent * _depth(value) + 8))
    return value, args


def _materialize(value: Any) -> list[Any]:
    if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
        return list(value) if isinstance(value, str | Mapping) else [value]
    items = list(islice(value, MAX_VALUE + 1))
    if len(items) > MAX_VALUE:
        raise BoundExceeded(f"'join' joins more than {MAX_VALUE:,} items")
    return items


def _check_join(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    items = _materialize(value)
    glue = _arg(args, kwargs, 0, "d", "")
    _over("'join'", sum(_text_length(i) for i in items) + len(items) * len(str(glue)))
    return items, args


def _replace_size(text: str, old: Any, new: Any, count: Any) -> int:
    old, new = str(old), str(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _check_replace(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    old, new = _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", "")
    text = value if isinstance(value, str) else str(value)
    _over("'replace'", _replace_size(text, old, new, _arg(args, kwargs, 2, "count", None)))
    return value, args


def _check_format(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    _check_printf(value, kwargs or args)
    return value, args


def _check_int(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_INT_DIGITS:
        raise BoundExceeded(f"'int' would make a number of more than {MAX_INT_DIGITS:,} digits")
    return value, args


def _check_urlize(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    extra = sum(len(str(kwargs.get(k) or "")) for k in ("target", "rel")) + 64
    length = _text_length(value)
    _over("'urlize'", 3 * length + (length // 4 + 1) * extra)
    return value, args


FILTER_CHECKS: dict[str, Check] = {
    "center": _check_center,
    "indent": _check_indent,
    "wordwrap": _check_wordwrap,
    "truncate": _check_counts("truncate", ((0, "length"), (3, "leeway"))),
    "batch": _check_counts("batch", ((0, "linecount"),)),
    "slice": _check_counts("slice", ((0, "slices"),)),
    "tojson": _check_tojson,
    "join": _check_join,
    "replace": _check_replace,
    "format": _check_format,
    "int": _check_int,
    "urlize": _check_urlize,
}


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter: a step, its arguments checked before, its result after.

    The wrapper takes the context, so jinja2 never runs it at compile time (constant
    folding), where no budget applies.
    """
    pass_arg = _PassArg.from_obj(fn)
    check = FILTER_CHECKS.get(name)

    @pass_context
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        _step(size_of(value))
        if check is not None:
            value, args = check(value, args, kwargs)
        if pass_arg is _PassArg.context:
            result = fn(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = fn(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = fn(context.environment, value, *args, **kwargs)
        else:
            result = fn(value, *args, **kwargs)
        return _check_built(f"'{name}'", result)

    bounded.__name__ = getattr(fn, "__name__", name)
    return bounded


# -- methods and formats ----------------------------------------------------------------
def _check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a call of a string method that can build long text; return its arguments."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, int) and not isinstance(owner, bool) and name == "to_bytes":
        _refuse(size_argument_problem(name, _arg(args, kwargs, 0, "length", 1)))
    if not isinstance(owner, str | bytes | bytearray):
        return args
    if name in ("translate", "maketrans", "expandtabs"):
        raise BoundExceeded(f"templates cannot call '{name}'")
    if name in SIZED_METHODS and args:
        _refuse(size_argument_problem(name, args[0]))
    elif name == "replace" and len(args) >= 2 and isinstance(owner, str):
        count = args[2] if len(args) > 2 else kwargs.get("count")
        _over("'replace'", _replace_size(owner, args[0], args[1], count))
    elif name == "join" and args:
        items = _materialize(args[0])
        _over("'join'", sum(_text_length(i) for i in items) + len(items) * len(owner))
        return (items, *args[1:])
    return args


class _BoundedFormatter(SandboxedFormatter):
    """`str.format` in templates: widths checked before each field, the text as it grows."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.built = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        _step(size_of(value))
        _refuse(format_spec_problem(format_spec) or _decimal_problem(value, format_spec))
        text = super().format_field(value, format_spec)
        self.built += len(text)
        if self.built > MAX_VALUE:
            raise BoundExceeded(f"the format builds more than {MAX_VALUE:,} characters")
        return text


class _BoundedEscapeFormatter(_BoundedFormatter, EscapeFormatter):
    pass


# -- the environment --------------------------------------------------------------------
class _Instrument(NodeTransformer):
    """Rewrite a parsed template so that its loops, macros and `~` are counted."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("sopflow_concat", node.nodes, node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call("sopflow_iter", [node.iter], node.lineno)
        if node.test is not None:
            node.test = nodes.And(_call("sopflow_step", [], node.lineno), node.test)
        node.body.insert(0, _charge(node.body, node.lineno))
        return node

    def visit_Macro(self, node: nodes.Macro) -> nodes.Node:
        self.generic_visit(node)
        node.body.insert(0, _charge(node.body, node.lineno))
        return node

    def visit_CallBlock(self, node: nodes.CallBlock) -> nodes.Node:
        self.generic_visit(node)
        node.body.insert(0, _charge(node.body, node.lineno))
        return node


def _call(name: str, args: Iterable[nodes.Node], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.EnvironmentAttribute(name), list(args), [], None, None, lineno=lineno)


def _literal_chars(body: list[nodes.Node]) -> int:
    """Characters of a body's literal text, but for loops and macros inside (they count)."""
    total, stack = 0, list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.TemplateData):
            total += len(node.data)
        elif not isinstance(node, nodes.For | nodes.Macro | nodes.CallBlock):
            stack.extend(node.iter_child_nodes())
    return total


def _charge(body: list[nodes.Node], lineno: int) -> nodes.Node:
    """A first output of a body that writes nothing but counts its literal text."""
    size = nodes.Const(_literal_chars(body), lineno=lineno)
    return nodes.Output([_call("sopflow_write", [size], lineno)], lineno=lineno)


class _Counted:
    """A loop's items, one step each."""

    def __init__(self, items: Any) -> None:
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        for item in self.items:
            _step()
            yield item

    def __len__(self) -> int:
        return len(self.items)


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, bounded in steps, value size and text written."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}
        self.globals.pop("lipsum", None)  # paragraphs of filler text, as many as asked

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _Instrument().visit(tree)
        tree.set_environment(self)
        return tree

    # The instrumented template calls these.
    def sopflow_iter(self, items: Any) -> _Counted:
        """Count a loop's turns."""
        return _Counted(items)

    def sopflow_step(self) -> bool:
        """Count a step (a loop's filter, before it tests an item)."""
        return True

    def sopflow_write(self, size: int) -> str:
        """Count the literal text a loop turn or macro call writes."""
        _write(size)
        return ""

    def sopflow_concat(self, *parts: Any) -> str:
        """`a ~ b`, refused past MAX_VALUE before it is built."""
        texts = [part if isinstance(part, str) else str(part) for part in parts]
        size = sum(len(t) for t in texts)
        _over("'~'", size)
        _step(size)
        return "".join(texts)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look an attribute up (a step)."""
        _step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Look an item up (a step; a slice counts what it copies)."""
        _step()
        found = super().getitem(obj, argument)
        return _check_built("a slice", found) if isinstance(argument, slice) else found

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call something (a step): string methods that take a width are checked first."""
        _step(size_of(getattr(obj, "__self__", None)) + sum(size_of(a) for a in args))
        if isinstance(obj, types.BuiltinMethodType | types.MethodWrapperType):
            args = _check_method(obj, args, kwargs)
        return _check_built("the call", super().call(context, obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `'x' * 10**9`, `10 ** 10 ** 10`, `s + s` and `'%999999999d' % 1` before
        computing them."""
        _step(size_of(left) + size_of(right))
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | bytes | list | tuple)
                    and isinstance(count, int)
                    and size_of(seq) * count > MAX_VALUE
                ):
                    raise BoundExceeded("the template builds a value that is too large")
        if operator == "**" and isinstance(right, int | float) and abs(right) > MAX_POWER_BITS:
            raise BoundExceeded("the template builds a number that is too large")
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int | float)
            and abs(left) > 1
            and left.bit_length() * right > MAX_POWER_BITS
        ):
            raise BoundExceeded("the template builds a number that is too large")
        if operator == "%":
            _check_printf(left, right)
        if operator == "+" and isinstance(left, str | list | tuple):
            _over("'+'", size_of(left) + size_of(right))
        return _check_built(f"'{operator}'", super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'...'.format(...)` with each field's width checked before it is written."""
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or (
            value.__name__ not in ("format", "format_map")
        ):
            return None
        text: Any = value.__self__
        if not isinstance(text, str):
            return None
        is_map = value.__name__ == "format_map"
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs, args = args[0], ()
            formatter: _BoundedFormatter = (
                _BoundedEscapeFormatter(env, escape=text.escape)
                if isinstance(text, Markup)
                else _BoundedFormatter(env)
            )
            return type(text)(formatter.vformat(text, args, kwargs))

        return update_wrapper(wrapper, value)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        """Fail on access to an unsafe attribute instead of rendering it empty."""
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} is not allowed"
        )


def written(value: Any) -> str:
    """The text of one `{{ }}` output, counted (the environment's `finalize` calls it)."""
    text = value if isinstance(value, str) else str(value)
    _write(len(text))
    return text
