"""Bounds of templates, shared by the compiler (what it can see) and the runtime (the rest).

A template comes from a definition file and renders inside a command's transaction, so
what it may build is bounded (docs/language.md, "Templates"). The compiler refuses what
it can see in the text: attribute access to a name starting with `_` (`''.__class__`,
`x['_y']`, `x|attr('_y')`, `'{0.__class__}'.format(x)`), and a constant width, precision
or count past MAX_VALUE in a format string (`'{:>999999999}'.format(1)`, `'%999999999d'
% 1`, `'x'|center(999999999)`). The runtime (runtime/render.py) stops the rest as it
renders, with the same numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from string import Formatter

from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment

# Generic safety limits (not business numbers): docs/language.md gives them.
MAX_OUTPUT = 64 * 1024  # characters a rendered text keeps (a notification's subject or body)
MAX_VALUE = 1_000_000  # characters (or items) of the largest value one step may build
MAX_WRITTEN = 1_000_000  # characters a render may write in all, text captured by set blocks too
MAX_STEPS = 100_000  # loop turns, calls, filters, lookups and outputs of one render
STEP_SIZE = 1_000  # a call, filter or operator costs a step more per this many characters
MAX_POWER_BITS = 65536  # bits of the largest whole number `**` may build

# Filters whose arguments say how much text or how many items they build, and which
# arguments (position after the value, keyword) do.
SIZED_FILTERS: dict[str, tuple[tuple[int, str], ...]] = {
    "center": ((0, "width"),),
    "indent": ((0, "width"),),
    "wordwrap": ((0, "width"),),
    "truncate": ((0, "length"), (3, "leeway")),
    "batch": ((0, "linecount"),),
    "slice": ((0, "slices"),),
    "tojson": ((0, "indent"),),
}
# String methods whose first argument is a width.
SIZED_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})

_JINJA = SandboxedEnvironment(autoescape=False)
_PRINTF = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?(?P<flags>[-#0 +]*)(?P<width>\*|\d+)?"
    r"(?:\.(?P<precision>\*|\d*))?[hlL]?(?P<type>[diouxXeEfFgGcrsa%])"
)
Refusal = tuple[str, str, str, str, int]  # code, message, hint, word to point at, line


def format_spec_problem(spec: str) -> str | None:
    """Return why a `str.format` field spec (`>10.2f`) builds too much, or None."""
    for digits in re.findall(r"\d+", spec):
        if len(digits) > 7 or int(digits) > MAX_VALUE:
            return f"the format spec '{spec[:40]}' asks for {_clip(digits)} characters"
    return None


def printf_specs(fmt: str) -> Iterator[re.Match[str]]:
    """Yield each conversion (`%-10s`, `%(name).3f`) of a %-format string."""
    return _PRINTF.finditer(fmt)


def printf_problem(fmt: str) -> str | None:
    """Return why a %-format string builds too much (a width past the cap, `*`), or None."""
    for spec in printf_specs(fmt):
        for part in ("width", "precision"):
            value = spec.group(part) or ""
            if value == "*":
                return f"'{spec.group()[:40]}': a '*' {part} is not allowed in templates"
            if value and (len(value) > 7 or int(value) > MAX_VALUE):
                return f"'{spec.group()[:40]}' asks for {_clip(value)} characters"
    return None


def size_argument_problem(name: str, value: object) -> str | None:
    """Return why a width or count argument (of filter or method `name`) is too large."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if abs(value) > MAX_VALUE:
        return f"'{name}' would build {_clip(str(value))} characters or items"
    return None


def _clip(digits: str) -> str:
    return digits if len(digits) <= 12 else digits[:12] + "..."


@lru_cache(maxsize=4096)
def template_refusals(source: str) -> tuple[Refusal, ...]:
    """Return what a template's text shows it must not do: (code, message, hint, word, line).

    Raises jinja2.TemplateSyntaxError for a template that does not parse.
    """
    if "{" not in source:
        return ()
    parsed = _JINJA.parse(source)
    return tuple(_underscores(parsed)) + tuple(_sizes(parsed))


def _underscores(parsed: nodes.Template) -> Iterator[Refusal]:
    hint = "templates read only the values they are given, never Python internals"
    for node in parsed.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Call)):
        names: list[str] = []
        if isinstance(node, nodes.Getattr):
            names = [node.attr]
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            names = [node.arg.value] if isinstance(node.arg.value, str) else []
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            first = node.args[0]
            names = [first.value] if isinstance(first, nodes.Const) else []
        elif isinstance(node, nodes.Call):
            names = _format_names(node)
        for name in names:
            if isinstance(name, str) and name.startswith("_"):
                yield (
                    "template-unsafe-attribute",
                    f"templates cannot read attribute '{name}' (it starts with '_')",
                    hint,
                    name,
                    node.lineno,
                )


def _format_receiver(node: nodes.Call) -> tuple[str, str] | None:
    """Return (text, method) of a call `'...'.format(...)` on a constant string."""
    target = node.node
    if (
        isinstance(target, nodes.Getattr)
        and target.attr in ("format", "format_map")
        and isinstance(target.node, nodes.Const)
        and isinstance(target.node.value, str)
    ):
        return target.node.value, target.attr
    return None


def _format_fields(text: str) -> Iterator[tuple[str, str]]:
    """Yield (field name, spec) of each replacement field of a format string, nested too."""
    try:
        parsed = list(Formatter().parse(text))
    except ValueError:
        return
    for _, field, spec, _ in parsed:
        if field is not None:
            yield field, spec or ""
            if spec and "{" in spec:
                yield from _format_fields(spec)


def _format_names(node: nodes.Call) -> list[str]:
    found = _format_receiver(node)
    if found is None:
        return []
    names = []
    for field, _ in _format_fields(found[0]):
        names += re.findall(r"[.\[](_[^.\[\]]*)", field)
    return names


def _sizes(parsed: nodes.Template) -> Iterator[Refusal]:
    hint = f"a template builds at most {MAX_VALUE:,} characters at a time"
    for node in parsed.find_all((nodes.Filter, nodes.Call, nodes.Mod)):
        problem, word = None, ""
        if (
            isinstance(node, nodes.Filter)
            and node.name == "format"
            and isinstance(node.node, nodes.Const)
            and isinstance(node.node.value, str)
        ):
            word, problem = "format", printf_problem(node.node.value)
        elif isinstance(node, nodes.Filter) and node.name in SIZED_FILTERS:
            word = node.name
            for value in _const_arguments(node, SIZED_FILTERS[node.name]):
                problem = problem or size_argument_problem(node.name, value)
        elif isinstance(node, nodes.Call) and _format_receiver(node) is not None:
            text, word = _format_receiver(node) or ("", "")
            for _, spec in _format_fields(text):
                problem = problem or format_spec_problem(spec)
        elif isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            word = node.node.attr
            if word in SIZED_METHODS and node.args and isinstance(node.args[0], nodes.Const):
                problem = size_argument_problem(word, node.args[0].value)
        elif (
            isinstance(node, nodes.Mod)
            and isinstance(node.left, nodes.Const)
            and isinstance(node.left.value, str)
        ):
            word = "%"
            problem = printf_problem(node.left.value)
        if problem:
            yield ("template-too-large", f"template: {problem}", hint, word, node.lineno)


def _const_arguments(node: nodes.Filter, where: tuple[tuple[int, str], ...]) -> Iterator[object]:
    for position, keyword in where:
        argument = node.args[position] if position < len(node.args) else None
        if isinstance(argument, nodes.Const):
            yield argument.value
        for pair in node.kwargs:
            if pair.key == keyword and isinstance(pair.value, nodes.Const):
                yield pair.value.value


# `record.get` is the mapping's method (jinja2 prefers attributes), never a field.
_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})


@lru_cache(maxsize=4096)
def template_reads(source: str, roots: tuple[str, ...]) -> tuple[tuple[str, str, int], ...]:
    """Return (root, key, line) of each `root.key`, `root['key']` and `root.get('key')`.

    Raises jinja2.TemplateSyntaxError for a template that does not parse.
    """
    if "{" not in source:
        return ()
    found: list[tuple[str, str, int]] = []
    for node in _JINJA.parse(source).find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
        target, key = None, None
        if isinstance(node, nodes.Getattr) and node.attr not in _MAPPING_METHODS:
            target, key = node.node, node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            target, key = node.node, node.arg.value
        elif (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr == "get"
            and node.args
            and isinstance(node.args[0], nodes.Const)
        ):
            target, key = node.node.node, node.args[0].value
        if (
            isinstance(target, nodes.Name)
            and target.name in roots
            and target.ctx == "load"
            and isinstance(key, str)
        ):
            found.append((target.name, key, node.lineno))
    return tuple(found)
