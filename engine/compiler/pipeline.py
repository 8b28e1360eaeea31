"""Compile a folder of definitions into a Bundle, or into every diagnostic it has."""

from __future__ import annotations

import gc
import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from engine.bundle import (
    Bundle,
    CompiledDecisionTable,
    CompiledForm,
    CompiledScoring,
    CompiledWorkflow,
    frozen,
)
from engine.compiler.check_assignments import check_assignments
from engine.compiler.check_forms import check_form, compile_computed, enum_values
from engine.compiler.check_manifest import (
    check_inbound,
    check_manifest,
    check_table,
    merge_staff,
)
from engine.compiler.check_migrations import check_form_migrations, check_workflow_migrations
from engine.compiler.check_reevaluate import check_reevaluate
from engine.compiler.check_rules import (
    check_decision_table,
    check_load,
    check_routing,
    check_scoring,
    check_validation,
)
from engine.compiler.check_signals import (
    check_alert,
    check_forecast,
    check_metric,
    check_notification,
    check_schedule,
    metric_sig,
)
from engine.compiler.check_workflows import (
    ResolvedWorkflow,
    check_workflow,
    resolve_workflow,
    template_as_workflow,
)
from engine.compiler.context import Context, Entry, Site
from engine.compiler.include_if import template_choices
from engine.compiler.recover import defined_names, parse_partial
from engine.compiler.scopes import entity_fields, table_sig, user_type
from engine.diagnostics import Diagnostic, Severity, errors
from engine.expr import CompiledExpression, ExprType
from engine.frozen import deep_freeze
from engine.spec import BundleManifest, FormSpec, StaffDocument, TableDocument
from engine.spec.workflow import ExitSpec, StageSpec, WorkflowBody, parse_move
from engine.testkind import is_test
from engine.yamlsource import Document, load_documents

# Why: a bundle is a folder of hand-written files; more than this is a wrong folder.
MAX_FILES = 5000
YAML_SUFFIXES = (".yaml", ".yml")
_NAME_KEY = {"form": "entity"}


@dataclass
class CompileResult:
    """What compiling a folder gave: a Bundle (when there are no errors) and diagnostics."""

    bundle: Bundle | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: int = 0

    @property
    def ok(self) -> bool:
        """Tell whether the bundle compiled without errors."""
        return self.bundle is not None


def discover(root: Path) -> list[Path]:
    """List the definition files under `root`, sorted, skipping hidden folders."""
    found = [
        p
        for p in root.rglob("*")
        if p.suffix in YAML_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found)


def compile_bundle(root: Path | str, *, display_root: str | None = None) -> CompileResult:
    """Compile the definitions under `root`."""
    # Why: composing YAML allocates hundreds of thousands of short-lived nodes, and the
    # cyclic GC's passes over them cost a third of a 500-file compile; nothing here
    # builds reference cycles that must be reclaimed before it returns.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _compile(root, display_root)
    finally:
        if paused:
            gc.enable()


def _compile(root: Path | str, display_root: str | None) -> CompileResult:
    root = Path(root)
    shown = display_root if display_root is not None else str(root)
    if not root.is_dir():
        return CompileResult(
            None,
            [Diagnostic(shown, 1, 1, Severity.ERROR, "no-bundle", "not a folder of definitions")],
        )
    files = discover(root)
    ctx = Context()
    if len(files) > MAX_FILES:
        return CompileResult(
            None,
            [
                Diagnostic(
                    shown,
                    1,
                    1,
                    Severity.ERROR,
                    "too-many-files",
                    f"{len(files)} files; the limit is {MAX_FILES}",
                )
            ],
        )
    digest = hashlib.sha256()
    docs: list[Document] = []
    kept: list[Path] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        raw = path.read_bytes()
        found, problems = load_documents(f"{shown.rstrip('/')}/{rel}" if shown else rel, raw)
        definitions = [d for d in found if not is_test(d)]
        if found and not definitions:
            continue  # a file of definition tests: `sopflow test` reads it, the Bundle does not
        digest.update(rel.encode() + b"\0" + raw + b"\0")
        kept.append(path)
        ctx.diagnostics.extend(problems)
        docs.extend(definitions)
    for doc in docs:
        spec, problems, dropped, checked = parse_partial(doc)
        ctx.diagnostics.extend(problems)
        if spec is not None:
            # With bad values, what is left of the document is still checked; references
            # to the parts left out would only echo its errors, so they stay quiet.
            _register(ctx, spec, checked)
            ctx.broken.update(dropped or ())
        elif isinstance(doc.data, dict):
            ctx.broken.update(defined_names(doc.data))
    bundle = _check_and_build(
        ctx, digest.hexdigest(), [str(f.relative_to(root)) for f in kept], shown
    )
    diagnostics = sorted(
        set(ctx.diagnostics), key=lambda d: (d.path, d.line, d.col, d.code, d.message)
    )
    return CompileResult(bundle if not errors(diagnostics) else None, diagnostics, len(files))


def _register(ctx: Context, spec: Any, doc: Document) -> None:
    site = Site(doc)
    if isinstance(spec, BundleManifest):
        if ctx.manifest is not None:
            first = ctx.manifest.site.doc
            ctx.error(
                Site(doc, ("kind",)),
                "duplicate-definition",
                "a second bundle manifest",
                f"first at {first.path}:{first.start[0]}",
            )
            return
        ctx.manifest = Entry(spec, site)
        for name, table in spec.tables.items():
            _add(ctx, ctx.tables, "table", name, Entry(table, site.at("tables", name)))
        return
    if isinstance(spec, TableDocument):
        _add(ctx, ctx.tables, "table", spec.name, Entry(spec, site))
        return
    if isinstance(spec, StaffDocument):
        ctx.staff.append(Entry(spec, site))
        return
    name = spec.entity if isinstance(spec, FormSpec) else spec.name
    _add(ctx, ctx.of(spec.kind), spec.kind, name, Entry(spec, site))


def _add(
    ctx: Context, pool: dict[str, Entry[Any]], kind: str, name: str, entry: Entry[Any]
) -> None:
    if name in pool:
        first = pool[name].site
        key = _NAME_KEY.get(kind, "name")
        line, _ = first.doc.locate((*first.base, key))
        ctx.error(
            entry.site.at(key),
            "duplicate-definition",
            f"{kind} '{name}' is defined twice",
            f"first at {first.doc.path}:{line}",
        )
        return
    pool[name] = entry


def _prepare(ctx: Context) -> dict[str, ResolvedWorkflow]:
    """Build the types every expression is checked against."""
    manifest = ctx.manifest.spec if ctx.manifest else None
    for name, table in ctx.tables.items():
        ctx.table_sigs[name] = table_sig(name, table.spec)
    forms: dict[str, Entry[FormSpec]] = ctx.of("form")
    for entity, form in forms.items():
        enums = {n: enum_values(ctx, f) for n, f in form.spec.fields.items() if f.values_from}
        ctx.entities[entity] = entity_fields(form.spec, enums)
        ctx.assignment_names[entity] = tuple(form.spec.assignments)
    ctx.user = user_type(manifest.user_fields if manifest else {})
    resolved = {}
    for name, entry in ctx.of("workflow").items():
        wf = resolve_workflow(ctx, entry)
        if wf is not None:
            resolved[name] = wf
            ctx.workflow_stages[name] = _ids(wf.body)
            ids = ctx.stage_ids.setdefault(wf.body.entity, [])
            ids.extend(i for i in _ids(wf.body) if i not in ids)
            _note_evidence_kinds(ctx, wf.body)
    for template in ctx.of("workflow_template").values():
        _note_evidence_kinds(ctx, template.spec.workflow)
    for entity, form in forms.items():
        kinds = ctx.evidence_kinds.setdefault(entity, [])
        kinds += [n for n, f in form.spec.fields.items() if f.type == "evidence" and n not in kinds]
    for entity, ids in ctx.stage_ids.items():
        if entity in ctx.entities:
            ctx.entities[entity]["stage"] = ExprType.enum(tuple(ids))
    for name, metric in ctx.of("metric").items():
        ctx.metric_sigs[name] = metric_sig(ctx, metric.spec)
    return resolved


def _note_evidence_kinds(ctx: Context, body: WorkflowBody) -> None:
    """Note the evidence kinds of a workflow's stages and exits (`evidence_count()` names)."""
    kinds = ctx.evidence_kinds.setdefault(body.entity, [])
    gates: list[StageSpec | ExitSpec] = [*body.stages, *body.exits]
    for need in (e for gate in gates for e in gate.evidence):
        if need.kind not in kinds:
            kinds.append(need.kind)


def _ids(body: WorkflowBody) -> list[str]:
    return [s.id for s in body.stages] + [e.id for e in body.exits]


def _moves(body: WorkflowBody) -> frozenset[tuple[str, str]]:
    ids = [s.id for s in body.stages]
    moves: set[tuple[str, str]] = set()
    for i, source in enumerate(ids):
        later = ids[i + 1 :] if body.moves.forward == "any_later" else ids[i + 1 : i + 2]
        moves.update((source, t) for t in later)
        if body.moves.back == "any":
            moves.update((source, t) for t in ids[:i])
    if isinstance(body.moves.back, list):
        moves.update(parse_move(m) for m in body.moves.back)
    moves.update(parse_move(m) for m in body.moves.extra)
    for exit_ in body.exits:
        moves.update((s, exit_.id) for s in (exit_.from_stages or ids))
    return frozenset(moves)


def _check_and_build(ctx: Context, digest: str, files: list[str], shown: str) -> Bundle | None:
    if ctx.manifest is None and "bundle" in ctx.broken:
        # The manifest has errors of its own: check the rest against an empty one, whose
        # missing names are already known to be broken (no echo errors). The staff
        # files' users and teams are not merged into it: references to them stay quiet.
        for staff in ctx.staff:
            ctx.broken.update(staff.spec.users, staff.spec.teams)
        _check_rest(ctx, _prepare(ctx))
        return None
    if ctx.manifest is None:
        ctx.diagnostics.append(
            Diagnostic(
                shown,
                1,
                1,
                Severity.ERROR,
                "no-manifest",
                "no 'kind: bundle' manifest in the folder",
                "add bundle.yaml with kind: bundle",
            )
        )
        return None
    merge_staff(ctx, ctx.manifest)
    check_manifest(ctx, ctx.manifest)
    return _check_rest(ctx, _prepare(ctx), digest, files)


def _check_rest(
    ctx: Context,
    resolved: dict[str, ResolvedWorkflow],
    digest: str = "",
    files: list[str] | None = None,
) -> Bundle | None:
    """Check tables, forms, workflows and rules; build the Bundle when there are no errors."""
    for name, tentry in ctx.tables.items():
        check_table(ctx, name, tentry)
    forms = {}
    for entity, fentry in ctx.of("form").items():
        check_form(ctx, fentry)
        computed, order = compile_computed(ctx, fentry)
        check_load(ctx, fentry)
        check_assignments(ctx, fentry)
        forms[entity] = CompiledForm(
            fentry.spec, frozen(ctx.entities[entity]), frozen(computed), tuple(order)
        )
    check_form_migrations(ctx, ctx.of("form"))
    if ctx.manifest is not None:
        check_inbound(ctx, ctx.manifest, ctx.of("form"))
    template_sites = _check_templates(ctx)
    workflows = {}
    for name, wf in resolved.items():
        guards = (
            _check_instance(ctx, wf, template_sites) if wf.template else check_workflow(ctx, wf)
        )
        wentry = ctx.of("workflow")[name]
        check_workflow_migrations(ctx, wentry, wf.body, wf.body_site)
        workflows[name] = CompiledWorkflow(
            name,
            wf.body,
            frozen(wf.params),
            wf.template,
            _moves(wf.body),
            frozen(guards),
            frozen(dict(wentry.spec.removed_stages)),
        )
    scorings = {
        n: CompiledScoring(e.spec, tuple(check_scoring(ctx, e)))
        for n, e in ctx.of("scoring").items()
    }
    tables = {}
    for name, dentry in ctx.of("decision_table").items():
        inputs, rows, cells, default_cells = check_decision_table(ctx, dentry)
        tables[name] = CompiledDecisionTable(
            dentry.spec, tuple(inputs), tuple(rows), tuple(cells), default_cells
        )
    for kind in ("scoring", "decision_table", "routing"):
        for rentry in ctx.of(kind).values():
            check_reevaluate(ctx, kind, rentry.site, rentry.spec)
    validations = {}
    for name, ventry in ctx.of("validation").items():
        expr = check_validation(ctx, ventry)
        if expr is not None:
            validations[name] = (ventry.spec, expr)
    _check_signals(ctx, resolved)
    if errors(ctx.diagnostics):
        return None
    return _build(ctx, digest, files or [], forms, workflows, scorings, tables, validations)


def _check_templates(ctx: Context) -> set[tuple[str, int, int, str]]:
    """Check each template once, with typed params; return where it reported problems."""
    start = len(ctx.diagnostics)
    for entry in ctx.of("workflow_template").values():
        check_workflow(ctx, template_as_workflow(entry))
        template_choices(ctx, entry)
    ctx.param_types = None
    return {(d.path, d.line, d.col, d.code) for d in ctx.diagnostics[start:]}


def _check_instance(
    ctx: Context, wf: ResolvedWorkflow, template_sites: set[tuple[str, int, int, str]]
) -> dict[str, CompiledExpression]:
    """Compile a template's body with one workflow's params; keep only its own problems."""
    start = len(ctx.diagnostics)
    guards = check_workflow(ctx, wf)
    found = ctx.diagnostics[start:]
    del ctx.diagnostics[start:]
    if wf.param_errors or wf.instance_site is None:
        return guards  # the parameter errors are reported; their echoes would mislead
    line, col = wf.instance_site.doc.locate((*wf.instance_site.base, "params"), key=True)
    ctx.diagnostics.extend(
        replace(
            d,
            path=wf.instance_site.doc.path,
            line=line,
            col=col,
            message=f"with these params, template '{wf.template}' fails at "
            f"{d.path}:{d.line}:{d.col}: {d.message}",
        )
        for d in found
        if (d.path, d.line, d.col, d.code) not in template_sites
    )
    return guards


def _check_signals(ctx: Context, resolved: dict[str, ResolvedWorkflow]) -> None:
    for entry in ctx.of("routing").values():
        check_routing(ctx, entry)
    for entry in ctx.of("metric").values():
        check_metric(ctx, entry)
    for entry in ctx.of("alert").values():
        check_alert(ctx, entry)
    for entry in ctx.of("schedule").values():
        check_schedule(ctx, entry)
    for entry in ctx.of("forecast").values():
        wf = resolved.get(entry.spec.workflow)
        template = ctx.of("workflow_template").get(entry.spec.workflow)
        if wf is None and template is not None:  # F8: every workflow made from the template
            check_forecast(ctx, entry, template.spec.workflow.entity, template=True)
        else:
            check_forecast(ctx, entry, wf.body.entity if wf else None)
    for entry in ctx.of("notification").values():
        check_notification(ctx, entry)


def _build(
    ctx: Context,
    digest: str,
    files: list[str],
    forms: dict[str, CompiledForm],
    workflows: dict[str, CompiledWorkflow],
    scorings: dict[str, CompiledScoring],
    tables: dict[str, CompiledDecisionTable],
    validations: dict[str, tuple[Any, Any]],
) -> Bundle:
    assert ctx.manifest is not None
    specs = {
        k: frozen({n: e.spec for n, e in ctx.of(k).items()})
        for k in ("routing", "alert", "metric", "schedule", "forecast", "notification")
    }
    counts = {
        "form": len(forms),
        "workflow": len(workflows),
        "workflow_template": len(ctx.of("workflow_template")),
        "table": len(ctx.tables),
        "scoring": len(scorings),
        "routing": len(specs["routing"]),
        "decision_table": len(tables),
        "validation": len(validations),
        "alert": len(specs["alert"]),
        "metric": len(specs["metric"]),
        "schedule": len(specs["schedule"]),
        "forecast": len(specs["forecast"]),
        "notification": len(specs["notification"]),
    }
    manifest = ctx.manifest.spec
    bundle = Bundle(
        name=manifest.name,
        hash=digest,
        manifest=manifest,
        files=tuple(files),
        tables=frozen({n: e.spec for n, e in ctx.tables.items()}),
        forms=frozen(forms),
        workflows=frozen(workflows),
        scorings=frozen(scorings),
        decision_tables=frozen(tables),
        validations=frozen(validations),
        routings=specs["routing"],
        alerts=specs["alert"],
        metrics=specs["metric"],
        schedules=specs["schedule"],
        forecasts=specs["forecast"],
        notifications=specs["notification"],
        counts=frozen(counts),
        expressions=MappingProxyType(dict(ctx.compiled)),
        templates=frozen({n: e.spec for n, e in ctx.of("workflow_template").items()}),
    )  # One Bundle serves every request: nothing reachable from it may change.
    deep_freeze(bundle)
    return bundle
