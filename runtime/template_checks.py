"""Checks of what a template call builds, made before the call runs (and after).

Filters and string methods that take a width or a count, `%` and `str.format` estimate
the size of what they would build and refuse it past MAX_VALUE before building it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from itertools import islice
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedFormatter
from jinja2.utils import _PassArg
from markupsafe import EscapeFormatter

from engine.templates import MAX_VALUE, SIZED_METHODS, format_spec_problem, size_argument_problem
from runtime.budget import (
    BoundExceeded,
    check_built,
    check_printf,
    decimal_problem,
    over,
    refuse,
    size_of,
    step,
)

MAX_INT_DIGITS = 4300  # digits of the largest whole number `| int` makes of a decimal

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
    refuse(size_argument_problem("center", _arg(args, kwargs, 0, "width", 80)))
    return value, args


def _check_indent(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    width = _arg(args, kwargs, 0, "width", 4)
    refuse(size_argument_problem("indent", width))
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    lines = str(value).count("\n") + 1 if isinstance(value, str) else 1
    over("'indent'", _text_length(value) + lines * max(pad, 0))
    return value, args


def _check_wordwrap(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    width = _arg(args, kwargs, 0, "width", 79)
    refuse(size_argument_problem("wordwrap", width))
    wrap = _arg(args, kwargs, 2, "wrapstring", "\n")
    length = _text_length(value)
    lines = length // max(width if isinstance(width, int) else 1, 1) + length // 2 + 1
    over("'wordwrap'", length + lines * len(str(wrap or "\n")))
    return value, args


def _check_counts(name: str, spots: tuple[tuple[int, str], ...]) -> Check:
    def check(
        value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, tuple[Any, ...]]:
        for position, keyword in spots:
            refuse(size_argument_problem(name, _arg(args, kwargs, position, keyword, None)))
        return value, args

    return check


def _depth(value: Any, cap: int = 64) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack and deepest < cap:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in islice(item.values(), 1000))
        elif isinstance(item, (list, tuple)):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in islice(item, 1000))
    return deepest


def _check_tojson(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    indent = _arg(args, kwargs, 0, "indent", None)
    refuse(size_argument_problem("tojson", indent))
    if isinstance(indent, int) and indent > 0:
        over("'tojson'", size_of(value) * (indent * _depth(value) + 8))
    return value, args


def _materialize(value: Any) -> list[Any]:
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        return list(value) if isinstance(value, (str, Mapping)) else [value]
    items = list(islice(value, MAX_VALUE + 1))
    if len(items) > MAX_VALUE:
        raise BoundExceeded(f"'join' joins more than {MAX_VALUE:,} items")
    return items


def _check_join(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    items = _materialize(value)
    glue = _arg(args, kwargs, 0, "d", "")
    over("'join'", sum(_text_length(i) for i in items) + len(items) * len(str(glue)))
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
    over("'replace'", _replace_size(text, old, new, _arg(args, kwargs, 2, "count", None)))
    return value, args


def _check_format(
    value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[Any, ...]]:
    check_printf(value, kwargs or args)
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
    over("'urlize'", 3 * length + (length // 4 + 1) * extra)
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


def bounded_filter(
    name: str, fn: Callable[..., Any], checks: Mapping[str, Check] = FILTER_CHECKS
) -> Callable[..., Any]:
    """Wrap a filter (or a test, with no `checks`): a step per 1,000 characters or items
    of its value and arguments, its arguments checked before, its result after.

    The wrapper takes the context, so jinja2 never runs it at compile time (constant
    folding), where no budget applies.
    """
    pass_arg = _PassArg.from_obj(fn)
    check = checks.get(name)

    @pass_context
    def bounded(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        step(size_of(value) + sum(size_of(a) for a in args))
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
        return check_built(f"'{name}'", result)

    bounded.__name__ = getattr(fn, "__name__", name)
    return bounded


# -- methods and formats ----------------------------------------------------------------
def check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a call of a string method that can build long text; return its arguments."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, int) and not isinstance(owner, bool) and name == "to_bytes":
        refuse(size_argument_problem(name, _arg(args, kwargs, 0, "length", 1)))
    if not isinstance(owner, (str, bytes, bytearray)):
        return args
    if name in ("translate", "maketrans", "expandtabs"):
        raise BoundExceeded(f"templates cannot call '{name}'")
    if name in SIZED_METHODS and args:
        refuse(size_argument_problem(name, args[0]))
    elif name == "replace" and len(args) >= 2 and isinstance(owner, str):
        count = args[2] if len(args) > 2 else kwargs.get("count")
        over("'replace'", _replace_size(owner, args[0], args[1], count))
    elif name == "join" and args:
        items = _materialize(args[0])
        over("'join'", sum(_text_length(i) for i in items) + len(items) * len(owner))
        return (items, *args[1:])
    return args


class BoundedFormatter(SandboxedFormatter):
    """`str.format` in templates: widths checked before each field, the text as it grows."""

    def __init__(self, env: Any, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.built = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        step(size_of(value))
        refuse(format_spec_problem(format_spec) or decimal_problem(value, format_spec))
        text = super().format_field(value, format_spec)
        self.built += len(text)
        if self.built > MAX_VALUE:
            raise BoundExceeded(f"the format builds more than {MAX_VALUE:,} characters")
        return text


class BoundedEscapeFormatter(BoundedFormatter, EscapeFormatter):
    pass
