"""Templates that shape structure (F3): `include_if` keeps or leaves out parts of a template.

A template's stages, exits, evidence requirements, guards and long-form `require` items
(any part whose model has an `include_if` key) may carry `include_if:`, an expression
over `params` only. It is decided once, when a `kind: workflow` is made from the
template: the parts whose `include_if` is false are left out of that workflow's body
before the body is checked and compiled, so two instances of one template can have
different stages. The walk and the pruning are generic over the spec models: a new
part gets `include_if` by declaring the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from engine.compiler.context import Context, Entry, Site
from engine.compiler.recover import renumbered
from engine.compiler.scopes import scalar_type
from engine.diagnostics import shorten
from engine.expr import (
    CompiledExpression,
    EvaluationError,
    ExpressionError,
    ExprType,
    Scope,
    compile_expression,
)
from engine.spec import WorkflowTemplateSpec
from engine.spec.workflow import WorkflowBody, parse_move
from engine.yamlsource import Path

KEY = "include_if"
_PARAM = re.compile(r"\bparams\s*(?:\.\s*([A-Za-z_]\w*)|\[\s*['\"]([A-Za-z_]\w*)['\"]\s*\])")
_PER_RECORD = "use 'when:' (or a stage's 'only_when:') for a condition read on each record"


@dataclass(frozen=True)
class Choice:
    """One `include_if` of a template: where it stands (in the body) and its expression."""

    path: Path
    part: BaseModel
    expr: CompiledExpression


@dataclass(frozen=True)
class Instance:
    """A template's body as one workflow has it: what was left out, and where parts stand."""

    body: WorkflowBody
    site: Site
    failed: bool = False


def includables(value: Any, path: Path = ()) -> Iterator[tuple[Path, BaseModel, str]]:
    """Yield (path, part, source) of every part under `value` that has an `include_if`."""
    if isinstance(value, BaseModel):
        source = getattr(value, KEY, None)
        if isinstance(source, str) and path:
            yield path, value, source
        for name, info in type(value).model_fields.items():
            yield from includables(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from includables(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from includables(item, (*path, key))


def refuse_outside_template(ctx: Context, site: Site, body: WorkflowBody) -> None:
    """Report every `include_if` of a plain workflow: it only means something in a template."""
    for path, _, _ in includables(body):
        ctx.error(
            site.at(*path, KEY),
            "include-if-outside-template",
            "'include_if' only means something in a kind: workflow_template, where each "
            "workflow made from it decides it once from its params",
            _PER_RECORD,
            key=True,
        )


def template_choices(ctx: Context, entry: Entry[WorkflowTemplateSpec]) -> list[Choice] | None:
    """Check the template's `include_if`s once; return them (None when one has errors)."""
    name = entry.spec.name
    if name in ctx.template_choices:
        cached: list[Choice] | None = ctx.template_choices[name]
        return cached
    body, site = entry.spec.workflow, entry.site.at("workflow")
    param_types = _param_types(entry.spec)
    scope = Scope(
        record={},
        context={"params": ExprType.record("template parameters", param_types)},
        subject="template parameters",
    )
    fields = set(ctx.entities.get(body.entity, {})) | {"record", "now"}
    found: list[Choice] | None = []
    for path, part, source in includables(body):
        expr = _compile(ctx, site.at(*path, KEY), source, scope, fields)
        if expr is None:
            found = None
        elif found is not None:
            found.append(Choice(path, part, expr))
    ctx.template_choices[name] = found
    return found


def _param_types(spec: WorkflowTemplateSpec) -> dict[str, ExprType]:
    return {n: scalar_type(p.type) for n, p in spec.params.items()}


def _compile(
    ctx: Context, site: Site, source: str, scope: Scope, fields: set[str]
) -> CompiledExpression | None:
    try:
        expr = compile_expression(source, scope, expect=ExprType.BOOL)
    except ExpressionError as exc:
        for issue in exc.issues:
            word = re.match(r"[A-Za-z_]\w*", source[issue.offset :])
            if issue.code == "unknown-name" and word and word.group() in fields:
                ctx.error_at(
                    site,
                    source,
                    issue.offset,
                    "include-if-record",
                    f"include_if reads '{word.group()}' of the record, but it is decided once, "
                    "when a workflow is made from the template: it may read only 'params'",
                    _PER_RECORD,
                )
            else:
                ctx.error_at(site, source, issue.offset, issue.code, issue.message, issue.hint)
        return None
    return expr


def instantiate(
    ctx: Context,
    instance: Site,
    params: dict[str, Any],
    entry: Entry[WorkflowTemplateSpec],
) -> Instance:
    """Return the template's body for one workflow's params, parts left out as they say."""
    body, site = entry.spec.workflow, entry.site.at("workflow")
    choices = template_choices(ctx, entry)
    if not choices:
        return Instance(body, site)
    drop: dict[Path, Choice] = {}
    for choice in choices:
        try:
            keep = choice.expr({}, {"params": params})
        except (EvaluationError, TypeError, ValueError) as exc:
            _instance_error(
                ctx,
                instance,
                "include-if-failed",
                f"with {_shown(params, choice)}, the include_if "
                f"{_where(site, choice.path)} fails: {exc}",
            )
            return Instance(body, site, failed=True)
        if not keep:
            drop[choice.path] = choice
    if not drop:
        return Instance(body, site)
    pruning = Pruning(drop, site.base)
    pruned = pruning.prune(body, ())
    assert isinstance(pruned, WorkflowBody)
    if not pruned.stages:
        reasons = sorted({r for c in pruning.left_out for r in _reads(c)})
        _instance_error(
            ctx,
            instance,
            "template-no-stages",
            f"with {_values(params, reasons)}, template '{entry.spec.name}' leaves out every stage",
            "keep at least one stage without include_if, or change the params",
        )
        return Instance(body, site, failed=True)
    failed = _check_left_out(ctx, instance, params, entry, drop)
    for path, least in pruning.short:
        reasons = sorted({r for p, c in drop.items() if p[: len(path)] == path for r in _reads(c)})
        _instance_error(
            ctx,
            instance,
            "template-too-few",
            f"with {_values(params, reasons)}, template '{entry.spec.name}' leaves out too "
            f"many items of '{_dotted(path)}': it needs at least {least}",
            "keep enough of its items without include_if, or change the params",
        )
        failed = True
    doc = renumbered(site.doc, pruning.removed)
    return Instance(pruned, Site(doc, site.base), failed)


@dataclass
class Pruning:
    """One pass that leaves parts out of a body: what goes, and what it took out."""

    drop: dict[Path, Choice]
    base: Path = ()
    # list path in the document -> indices taken out (to renumber positions)
    removed: dict[Path, set[int]] = field(default_factory=dict)
    left_out: list[Choice] = field(default_factory=list)
    # lists left shorter than their model allows: (path, least)
    short: list[tuple[Path, int]] = field(default_factory=list)

    def prune(self, value: Any, path: Path) -> Any:
        """Return `value` without the parts in `drop` (the same object when nothing changed)."""
        if isinstance(value, BaseModel):
            return self._model(value, path)
        if isinstance(value, list):
            out: list[Any] = []
            for i, item in enumerate(value):
                sub = (*path, i)
                if sub in self.drop:
                    self.left_out.append(self.drop[sub])
                    self.removed.setdefault((*self.base, *path), set()).add(i)
                    continue
                out.append(self.prune(item, sub))
            changed = len(out) != len(value) or any(
                a is not b for a, b in zip(out, value, strict=True)
            )
            return out if changed else value
        if isinstance(value, dict):
            kept: dict[Any, Any] = {}
            for key, item in value.items():
                sub = (*path, key)
                if sub in self.drop:
                    self.left_out.append(self.drop[sub])
                    continue
                kept[key] = self.prune(item, sub)
            changed = len(kept) != len(value) or any(kept[k] is not value[k] for k in kept)
            return kept if changed else value
        return value

    def _model(self, value: BaseModel, path: Path) -> BaseModel:
        update: dict[str, Any] = {}
        for name, info in type(value).model_fields.items():
            sub = (*path, info.alias or name)
            item = getattr(value, name)
            if sub in self.drop and not info.is_required():
                self.left_out.append(self.drop[sub])
                update[name] = info.get_default(call_default_factory=True)
                continue
            new = self.prune(item, sub)
            if new is item:
                continue
            update[name] = new
            least = _min_length(info)
            if isinstance(new, (list, dict)) and len(new) < least and path:
                self.short.append((sub, least))
        return value.model_copy(update=update) if update else value


def _min_length(info: FieldInfo) -> int:
    """Return the least number of items a list field takes (0 when it has no minimum)."""
    return max((int(getattr(m, "min_length", 0) or 0) for m in info.metadata), default=0)


def _dotted(path: Path) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _check_left_out(
    ctx: Context,
    instance: Site,
    params: dict[str, Any],
    entry: Entry[WorkflowTemplateSpec],
    drop: dict[Path, Choice],
) -> bool:
    """Report references of the kept parts to a stage or exit that was left out."""
    body, site = entry.spec.workflow, entry.site.at("workflow")
    gone = {
        str(getattr(c.part, "id", "")): c
        for path, c in drop.items()
        if len(path) == 2 and path[0] in ("stages", "exits")
    }
    if not gone:
        return False
    refs: list[tuple[str, Path, str]] = []
    for i, exit_ in enumerate(body.exits):
        if ("exits", i) not in drop:
            refs += [
                (s, ("exits", i, "from", j), "") for j, s in enumerate(exit_.from_stages or [])
            ]
    for kind in ("back", "extra"):
        moves = getattr(body.moves, kind)
        for j, move in enumerate(moves if isinstance(moves, list) else []):
            refs += [(s, ("moves", kind, j), move) for s in dict.fromkeys(parse_move(move))]
    failed = False
    for stage, where, text in refs:
        choice = gone.get(stage)
        if choice is None:
            continue
        failed = True
        line, col = site.doc.locate((*site.base, *where))
        _instance_error(
            ctx,
            instance,
            "template-left-out",
            f"with {_shown(params, choice)}, template '{entry.spec.name}' leaves out "
            f"'{stage}' (its include_if {_where(site, choice.path)} is false), but "
            f"{_label(body, where, text)} at {site.doc.path}:{line}:{col} names it",
            f"give exit '{body.exits[int(where[1])].id}' the same include_if, or leave its "
            "'from' out (any stage)"
            if where[0] == "exits"
            else "a listed move cannot be left out: use 'back: any' or 'forward: any_later', "
            "or keep the stage",
        )
    return failed


def _label(body: WorkflowBody, where: Path, text: str) -> str:
    if where[0] == "exits":
        return f"the 'from' of exit '{body.exits[int(where[1])].id}'"
    return f"moves.{where[1]} '{text}'"


def _where(site: Site, path: Path) -> str:
    line, col = site.doc.locate((*site.base, *path, KEY))
    return f"at {site.doc.path}:{line}:{col}"


def _reads(choice: Choice) -> list[str]:
    """Return the params an include_if reads."""
    return [a or b for a, b in _PARAM.findall(choice.expr.source)]


def _values(params: dict[str, Any], names: list[str]) -> str:
    shown = ", ".join(f"{n}: {_value(params.get(n))}" for n in names)
    return f"params {shown}" if shown else "these params"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return shorten(value)


def _shown(params: dict[str, Any], choice: Choice) -> str:
    return _values(params, sorted(set(_reads(choice))))


def _instance_error(ctx: Context, instance: Site, code: str, message: str, hint: str = "") -> None:
    """Report a problem of one workflow made from a template, at its `params`, by its name."""
    data = instance.doc.data
    name = data.get("name") if isinstance(data, dict) else None
    ctx.error(instance.at("params"), code, f"workflow '{name}': {message}", hint, key=True)
