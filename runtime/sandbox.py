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

import types
from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from engine.templates import MAX_POWER_BITS, MAX_VALUE
from runtime.budget import (
    BoundExceeded,
    Budget,
    budget,
    check_built,
    check_printf,
    over,
    size_of,
    step,
    write,
)
from runtime.template_checks import (
    BoundedEscapeFormatter,
    BoundedFormatter,
    bounded_filter,
    check_method,
)

__all__ = ["BoundExceeded", "Budget", "Sandbox", "budget", "size_of", "written"]


# -- the environment --------------------------------------------------------------------
class _Instrument(NodeTransformer):
    """Rewrite a parsed template so that its loops, macros and `~` are counted."""

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("sopflow_concat", node.nodes, node.lineno)

    def visit_Compare(self, node: nodes.Compare) -> nodes.Node:
        # `==` and `in` read their operands: a step per 1,000 characters of each.
        self.generic_visit(node)
        node.expr = _call("sopflow_sized", [node.expr], node.lineno)
        for operand in node.ops:
            operand.expr = _call("sopflow_sized", [operand.expr], node.lineno)
        return node

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
        elif not isinstance(node, (nodes.For, nodes.Macro, nodes.CallBlock)):
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
            step()
            yield item

    def __len__(self) -> int:
        return len(self.items)


class Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, bounded in steps, value size and text written."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: bounded_filter(name, fn) for name, fn in self.filters.items()}
        tests: dict[str, Any] = dict(self.tests)
        self.tests = {name: bounded_filter(name, fn, {}) for name, fn in tests.items()}
        self.globals.pop("lipsum", None)  # paragraphs of filler text, as many as asked

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _Instrument().visit(tree)
        tree.set_environment(self)
        return tree

    # The instrumented template calls these.
    def sopflow_iter(self, items: Any) -> _Counted:
        """Count a loop's turns."""
        step()
        return _Counted(items)

    def sopflow_sized(self, value: Any) -> Any:
        """Count what a comparison reads."""
        step(size_of(value))
        return value

    def sopflow_step(self) -> bool:
        """Count a step (a loop's filter, before it tests an item)."""
        step()
        return True

    def sopflow_write(self, size: int) -> str:
        """Count the literal text a loop turn or macro call writes."""
        write(size)
        return ""

    def sopflow_concat(self, *parts: Any) -> str:
        """`a ~ b`, refused past MAX_VALUE before it is built."""
        texts = [part if isinstance(part, str) else str(part) for part in parts]
        size = sum(len(t) for t in texts)
        over("'~'", size)
        step(size)
        return "".join(texts)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Look an attribute up (a step)."""
        step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """Look an item up (a step; a slice counts what it copies)."""
        step()
        found = super().getitem(obj, argument)
        return check_built("a slice", found) if isinstance(argument, slice) else found

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Call something (a step): string methods that take a width are checked first."""
        if getattr(obj, "__self__", None) is self:
            return obj(*args)  # what the instrumented template calls; each counts itself
        step(size_of(getattr(obj, "__self__", None)) + sum(size_of(a) for a in args))
        if isinstance(obj, (types.BuiltinMethodType, types.MethodWrapperType)):
            args = check_method(obj, args, kwargs)
        return check_built("the call", super().call(context, obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse `'x' * 10**9`, `10 ** 10 ** 10`, `s + s` and `'%999999999d' % 1` before
        computing them."""
        step(size_of(left) + size_of(right))
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, bytes, list, tuple))
                    and isinstance(count, int)
                    and size_of(seq) * count > MAX_VALUE
                ):
                    raise BoundExceeded("the template builds a value that is too large")
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_POWER_BITS:
            raise BoundExceeded("the template builds a number that is too large")
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, (int, float))
            and abs(left) > 1
            and left.bit_length() * right > MAX_POWER_BITS
        ):
            raise BoundExceeded("the template builds a number that is too large")
        if operator == "%":
            check_printf(left, right)
        if operator == "+" and isinstance(left, (str, list, tuple)):
            over("'+'", size_of(left) + size_of(right))
        return check_built(f"'{operator}'", super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`'...'.format(...)` with each field's width checked before it is written."""
        if not isinstance(value, (types.MethodType, types.BuiltinMethodType)) or (
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
            formatter: BoundedFormatter = (
                BoundedEscapeFormatter(env, escape=text.escape)
                if isinstance(text, Markup)
                else BoundedFormatter(env)
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
    write(len(text))
    return text
