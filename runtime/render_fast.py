"""Templates rendered without jinja2's context and generator, to the same text.

A template that is only text and `{{ }}` outputs of a name, its attributes
(`record.id`) and filters of FAST_FILTERS with literal arguments (`x | round(1)`) is
parsed once, by the same sandbox, into the steps jinja2's generated code takes for it,
and runs them with the same functions: names looked up where jinja2's context looks
them up (the variables, then the environment's globals; a missing one is the
environment's undefined), attributes through the sandbox's `getattr`, filters through
its bounded filters, every output through `finalize`, under a budget of its own, and
the text cut as soon as it passes MAX_OUTPUT. A template of names only is generated as
one Python function that counts what it writes itself; given a dict, it looks a name up
in it and then in the globals rather than copying both into one dict as jinja2 does
(after checking, as that copy would, that every key is text). Any other template is None here:
it renders through jinja2 (runtime/render.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from jinja2 import nodes
from jinja2.utils import missing

from engine.templates import MAX_OUTPUT, MAX_STEPS, MAX_WRITTEN, STEP_SIZE
from runtime.budget import Budget, begin, end
from runtime.sandbox import Sandbox

# Filters a fast template may use: they take no context, and the sandbox bounds them.
FAST_FILTERS = frozenset(
    {"abs", "capitalize", "count", "d", "default", "float", "int", "length", "lower"}
    | {"round", "string", "title", "trim", "upper"}
)

# Parts (text, outputs) of the largest template generated as one function; a larger one
# runs step by step (its function would be as long as it, to compile for one template).
MAX_GENERATED = 64

# Types whose text `finalize` writes is str() of the value (no date to write as ISO 8601).
PLAIN = frozenset({int, float, bool, Decimal, type(None)})

Getter = Callable[[dict[str, Any]], Any]
Rendered = tuple[str, bool]  # the text (at most one output past the cap), and whether cut
FastTemplate = Callable[[Mapping[str, Any]], Rendered]


def _name(env: Sandbox, name: str) -> Getter:
    undefined = env.undefined

    def get(names: dict[str, Any]) -> Any:
        value = names.get(name, missing)
        return undefined(name=name) if value is missing else value

    return get


def _attribute(env: Sandbox, inner: Getter, attribute: str) -> Getter:
    look = env.getattr
    return lambda names: look(inner(names), attribute)


def _filter(env: Sandbox, inner: Getter, node: nodes.Filter) -> Getter:
    bounded = env.filters[node.name]
    args = tuple(a.value for a in node.args if isinstance(a, nodes.Const))
    kwargs: dict[str, Any] = {}
    for pair in node.kwargs:
        keyword: Any = pair  # a nodes.Keyword (_getter checked), typed as a Pair
        kwargs[keyword.key] = keyword.value.value
    # A FAST_FILTERS filter takes no context: the bounded wrapper hands it nothing.
    return lambda names: bounded(None, inner(names), *args, **kwargs)


def _getter(env: Sandbox, node: nodes.Node) -> Getter | None:
    """The steps jinja2's generated code takes for expression `node`, or None."""
    if isinstance(node, nodes.Name) and node.ctx == "load":
        return _name(env, node.name)
    if isinstance(node, nodes.Getattr) and node.ctx == "load":
        inner = _getter(env, node.node)
        return None if inner is None else _attribute(env, inner, node.attr)
    if (
        isinstance(node, nodes.Filter)
        and node.node is not None
        and node.name in FAST_FILTERS
        and node.name in env.filters
        and node.dyn_args is None
        and node.dyn_kwargs is None
        and all(isinstance(a, nodes.Const) for a in node.args)
        and all(
            isinstance(k, nodes.Keyword) and isinstance(k.value, nodes.Const) for k in node.kwargs
        )
    ):
        inner = _getter(env, node.node)
        return None if inner is None else _filter(env, inner, node)
    return None


def _over(steps: int, written: int) -> None:
    """Raise as the budget does past a bound (steps first, as `budget.write` checks)."""
    spent = Budget()
    spent.steps, spent.written = steps, written
    spent.step(0)
    spent.write(0)


def _names_only(
    env: Sandbox, parts: list[str], names: list[bool], inner: Callable[[Any], Any]
) -> FastTemplate:
    """Generate one function rendering text and `{{ name }}` outputs, counting its writes."""
    lines = [
        "def _render(variables):\n",
        "    if type(variables) is dict:\n",
        "        try:\n",
        "            _join(variables)\n",
        "        except TypeError:\n",  # a key that is not text: jinja2 refuses it so
        "            dict(_globals, **variables)\n",
        "        names, rest = variables, _globals\n",
        "    else:\n",
        "        names, rest = dict(_globals, **variables), _none\n",
        "    steps = written = size = 0\n",
    ]
    done: list[str] = []
    for i, (part, is_name) in enumerate(zip(parts, names, strict=True)):
        if is_name:
            lines += [
                f"    v = names.get({part!r}, _missing)\n",
                f"    if v is _missing:\n        v = rest.get({part!r}, _missing)\n",
                f"        if v is _missing:\n            v = _undefined(name={part!r})\n",
                "    t = type(v)\n",
                "    x = v if t is str else str(v) if t in _plain else _inner(v)\n",
                "    n = len(x)\n",
                f"    steps += 1 + n // {STEP_SIZE}\n",
                "    written += n\n",
                f"    if steps > {MAX_STEPS} or written > {MAX_WRITTEN}:\n",
                "        _over(steps, written)\n",
                f"    t{i} = x if type(x) is str else str(x)\n",
                f"    size += len(t{i})\n",
            ]
            done.append(f"t{i}")
        else:
            lines.append(f"    size += {len(part)}\n")
            done.append(repr(part))
        text = " + ".join(done)
        lines.append(f"    if size > {MAX_OUTPUT}:\n        return {text}, True\n")
    lines.append(f"    return {' + '.join(done) or repr('')}, False\n")
    scope: dict[str, Any] = {
        "_globals": env.globals,
        "_missing": missing,
        "_undefined": env.undefined,
        "_inner": inner,
        "_over": _over,
        "_join": "".join,
        "_none": {},
        "_plain": PLAIN,
    }
    exec(compile("".join(lines), "<template>", "exec"), scope)  # our own code, from parsed names
    fn: FastTemplate = scope["_render"]
    return fn


def _stepwise(
    env: Sandbox, parts: list[str | Getter], finalize: Callable[[Any], str]
) -> FastTemplate:
    """Render text and outputs one by one under a budget of their own."""
    globals_ = env.globals

    def render(variables: Mapping[str, Any]) -> Rendered:
        names = dict(globals_, **variables)  # what jinja2's context looks names up in
        token = begin()
        try:
            out: list[str] = []
            size = 0
            for part in parts:
                text = part if isinstance(part, str) else str(finalize(part(names)))
                out.append(text)
                size += len(text)
                if size > MAX_OUTPUT:
                    return "".join(out), True
            return "".join(out), False
        finally:
            end(token)

    return render


def compile_fast(
    env: Sandbox,
    source: str,
    finalize: Callable[[Any], str],
    inner: Callable[[Any], Any],
) -> FastTemplate | None:
    """Return a fast renderer of template `source`, or None: it renders through jinja2.

    `finalize` is the environment's; `inner` is the text it writes for a value that is
    not a `str`, without counting it.
    """
    try:
        tree = env.parse(source)
    except Exception:  # jinja2 reports it when it renders
        return None
    if len(tree.body) > 1 or (tree.body and not isinstance(tree.body[0], nodes.Output)):
        return None
    body: list[nodes.Node] = tree.body[0].nodes if tree.body else []  # type: ignore[attr-defined]
    if (
        len(body) <= MAX_GENERATED
        and all(isinstance(n, (nodes.TemplateData, nodes.Name)) for n in body)
        and all(n.ctx == "load" for n in body if isinstance(n, nodes.Name))
    ):
        parts: list[str] = []
        for n in body:
            parts.append(n.data if isinstance(n, nodes.TemplateData) else n.name)  # type: ignore[attr-defined]
        return _names_only(env, parts, [isinstance(n, nodes.Name) for n in body], inner)
    steps: list[str | Getter] = []
    for node in body:
        if isinstance(node, nodes.TemplateData):
            steps.append(node.data)
            continue
        getter = _getter(env, node)
        if getter is None:
            return None
        steps.append(getter)
    return _stepwise(env, steps, finalize)
