"""The shared state of one compile: where each spec came from, and how to report on it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from engine.compiler.positions import folded, quoted
from engine.compiler.scopes import make_scope
from engine.diagnostics import Diagnostic, Severity, quote_list
from engine.expr import (
    CompiledExpression,
    ExpressionError,
    ExprType,
    MetricSig,
    Scope,
    TableSig,
    compile_expression,
)
from engine.spec import BundleManifest, StaffDocument, TableSpec
from engine.suggest import did_you_mean
from engine.templates import template_refusals
from engine.yamlsource import Document, Path

S = TypeVar("S")
JINJA = SandboxedEnvironment(autoescape=False)


_FORBIDDEN = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)


@lru_cache(maxsize=4096)
def template_problems(source: str) -> tuple[tuple[str, str, str, str], ...]:
    """Return (code, message, hint, word) for unknown filters/tests and include-like tags."""
    if "{" not in source:
        return ()
    parsed = JINJA.parse(source)
    found: list[tuple[str, str, str, str]] = []
    for node in parsed.find_all(_FORBIDDEN):
        word = type(node).__name__.lower().replace("fromimport", "import")
        found.append(
            (
                "template-include",
                f"templates cannot use '{word}'",
                "a notification is one self-contained template",
                word,
            )
        )
    for kind, pool, node_type in (
        ("filter", JINJA.filters, nodes.Filter),
        ("test", JINJA.tests, nodes.Test),
    ):
        for used in parsed.find_all(node_type):
            name = getattr(used, "name", "")
            if name and name not in pool:
                found.append(
                    (
                        f"unknown-{kind}",
                        f"template uses unknown {kind} '{name}'",
                        did_you_mean(name, pool) or f"see jinja2's built-in {kind}s",
                        name,
                    )
                )
    return tuple(found)


@lru_cache(maxsize=4096)
def template_variables(source: str) -> frozenset[str]:
    """Return the variables a jinja2 template reads (raises TemplateSyntaxError)."""
    if "{" not in source:
        return frozenset()
    parsed = JINJA.parse(source)
    names = list(parsed.find_all(nodes.Name))
    stored = {n.name for n in names if n.ctx in ("store", "param")}
    return frozenset(n.name for n in names if n.ctx == "load") - stored


@dataclass(frozen=True)
class Site:
    """Where a spec stands: its document and the path of the spec inside it."""

    doc: Document
    base: Path = ()

    def at(self, *path: str | int) -> Site:
        """Return the site of a part of this spec."""
        return Site(self.doc, (*self.base, *path))

    def diagnostic(
        self,
        code: str,
        message: str,
        hint: str = "",
        *,
        severity: Severity = Severity.ERROR,
        key: bool = False,
    ) -> Diagnostic:
        """Build a diagnostic at this site."""
        return self.doc.diagnostic(self.base, code, message, hint, key=key, severity=severity)

    def shift(self, offset: int, source: str = "") -> tuple[int, int]:
        """Return line/col of character `offset` of the scalar `source` at this site."""
        line, col = self.doc.locate(self.base)
        lines = self.doc.text.splitlines()
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        opener = text[col - 1 : col]
        before = source[:offset]
        if opener == ">":
            return folded(lines, line + 1, offset)
        if opener == "|":
            # A literal block scalar's text starts on the next line, indented.
            row = line + 1 + before.count("\n")
            body = lines[row - 1] if 0 < row <= len(lines) else ""
            indent = len(body) - len(body.lstrip(" "))
            return row, indent + 1 + len(before) - (before.rfind("\n") + 1)
        if opener in ("'", '"'):
            # Escapes (`\n`, `''`) and folded line breaks: walk the text as YAML read it.
            return quoted(lines, line, col, offset)
        if "\n" in before:
            return line + before.count("\n"), 1
        # A plain scalar may be folded over several lines: each line break became one
        # space in `source`; continuation lines are indented.
        pos, remaining = col - 1, offset
        while remaining > len(text) - pos and line < len(lines):
            remaining -= len(text) - pos + 1
            line += 1
            text = lines[line - 1]
            pos = len(text) - len(text.lstrip(" "))
        return line, pos + max(remaining, 0) + 1


@dataclass
class Entry(Generic[S]):
    """A spec and its site."""

    spec: S
    site: Site


@dataclass
class Context:
    """Everything one compile has found so far, and the diagnostics it reports."""

    manifest: Entry[BundleManifest] | None = None
    # Staff files (`kind: staff`): merged into the manifest's users and teams, each
    # user and team keeping the site it was declared at (users_at / teams_at).
    staff: list[Entry[StaffDocument]] = field(default_factory=list)
    user_sites: dict[str, Site] = field(default_factory=dict)
    team_sites: dict[str, Site] = field(default_factory=dict)
    tables: dict[str, Entry[TableSpec]] = field(default_factory=dict)
    specs: dict[str, dict[str, Entry[Any]]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    entities: dict[str, dict[str, ExprType]] = field(default_factory=dict)
    table_sigs: dict[str, TableSig] = field(default_factory=dict)
    metric_sigs: dict[str, MetricSig] = field(default_factory=dict)
    user: ExprType = ExprType.ANY
    stage_ids: dict[str, list[str]] = field(default_factory=dict)
    workflow_stages: dict[str, list[str]] = field(default_factory=dict)
    # Evidence kinds of each entity: of its workflows' stages and exits, and its evidence fields.
    evidence_kinds: dict[str, list[str]] = field(default_factory=dict)
    # Named assignments of each entity (`assignee()` names).
    assignment_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    broken: set[str] = field(default_factory=set)
    param_types: dict[str, ExprType] | None = None
    # Compiled expressions by (id of the spec part holding them, attribute): the runtime
    # looks them up through Bundle.expr(part, attribute). The first compile of a part
    # wins, so a template's body keeps its typed-`params` version (read from the context).
    compiled: dict[tuple[int, str], CompiledExpression] = field(default_factory=dict)
    # Each template's checked `include_if`s (engine.compiler.include_if), None if one is wrong.
    template_choices: dict[str, Any] = field(default_factory=dict)

    def stages_of(self, entity: str) -> list[str]:
        """Return the stage and exit ids of every workflow of an entity."""
        return self.stage_ids.get(entity, [])

    def scope_for(
        self,
        entity: str | None,
        *,
        context: dict[str, ExprType] | None = None,
        constants: dict[str, Any] | None = None,
    ) -> Scope:
        """Return the scope of expressions about records of `entity` (or of no record)."""
        fields = self.entities.get(entity or "", {})
        subject = f"entity '{entity}'" if entity else "this rule"
        if self.param_types is not None:
            params = ExprType.record("template parameters", dict(self.param_types))
            context = {**(context or {}), "params": params}
        return make_scope(
            fields,
            subject=subject,
            tables=self.table_sigs,
            metrics=self.metric_sigs,
            context=context,
            constants=constants,
            evidence=tuple(self.evidence_kinds.get(entity, ())) if entity else None,
            assignments=self.assignment_names.get(entity, ()) if entity else None,
        )

    def of(self, kind: str) -> dict[str, Entry[Any]]:
        """Return the specs of one kind by name."""
        return self.specs.setdefault(kind, {})

    def error(
        self, site: Site, code: str, message: str, hint: str = "", *, key: bool = False
    ) -> None:
        """Report an error at a site."""
        self.diagnostics.append(site.diagnostic(code, message, hint, key=key))

    def warn(self, site: Site, code: str, message: str, hint: str = "") -> None:
        """Report a warning at a site."""
        self.diagnostics.append(site.diagnostic(code, message, hint, severity=Severity.WARNING))

    def known(
        self,
        site: Site,
        what: str,
        name: str | None,
        pool: Iterable[str],
        code: str = "unknown-reference",
        context: str = "",
        *,
        message: str | None = None,
        key: bool = False,
        part_of: tuple[str, int] | None = None,
    ) -> bool:
        """Check that `name` is one of `pool`; report a did-you-mean error when it is not.

        The error points at the name: at the key when `name` is the mapping key `site`
        ends with, at its characters when `part_of` says it is part of a longer text
        (`table.column`, `a -> b`): (that text, the name's offset in it).
        """
        if name is None:
            return True
        names = list(pool)
        if name in names or name in self.broken:
            return name in names
        hint = did_you_mean(name, names) or (
            f"known: {quote_list(names)}" if names else f"no {what} is defined"
        )
        text = message or f"{context}{what} '{name}' is not defined"
        if part_of is not None:
            self.error_at(site, part_of[0], max(part_of[1], 0), code, text, hint)
            return False
        key = key or (bool(site.base) and site.base[-1] == name and site.base in site.doc.keys)
        self.error(site, code, text, hint, key=key)
        return False

    @property
    def roles(self) -> list[str]:
        """Return the role ids of the manifest."""
        return list(self.manifest.spec.roles) if self.manifest else []

    def check_roles(self, site: Site, roles: Iterable[str] | None) -> None:
        """Check that every role in a list is declared."""
        for i, role in enumerate(roles or []):
            self.known(site.at(i), "role", role, self.roles)

    def expr(
        self,
        site: Site,
        source: str | None,
        scope: Scope,
        expect: ExprType | None = None,
        *,
        owner: object = None,
        attr: str = "",
        scalar: str | None = None,
        shift: int = 0,
    ) -> CompiledExpression | None:
        """Compile an expression, reporting each problem at its character.

        With `owner` (the spec part holding the expression) and `attr` (its key there),
        the result is kept for the runtime, which finds it with Bundle.expr(owner, attr).
        When the expression is part of a scalar (`scalar`, from character `shift` on: a
        decision-table output cell `= ...`), errors point into that scalar.
        """
        if source is None:
            return None
        try:
            compiled = compile_expression(source, scope, expect=expect)
        except ExpressionError as exc:
            for issue in exc.issues:
                if not self._echo(source, issue.code, issue.offset):
                    self.error_at(
                        site,
                        scalar if scalar is not None else source,
                        issue.offset + shift,
                        issue.code,
                        issue.message,
                        issue.hint,
                    )
            return None
        if owner is not None:
            self.compiled.setdefault((id(owner), attr), compiled)
        return compiled

    def _echo(self, source: str, code: str, offset: int) -> bool:
        """Tell whether an expression problem is about a name whose definition is broken."""
        if not code.startswith("unknown-"):
            return False
        word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", source[offset:])
        return word is not None and word.group() in self.broken

    def error_at(
        self, site: Site, source: str, offset: int, code: str, message: str, hint: str = ""
    ) -> None:
        """Report an error at character `offset` of the scalar `source` at `site`."""
        line, col = site.shift(offset, source)
        self.diagnostics.append(
            Diagnostic(site.doc.path, line, col, Severity.ERROR, code, message, hint)
        )

    def template(self, site: Site, source: str | None, names: Iterable[str]) -> None:
        """Check a jinja2 text template: syntax, filters, and every variable it reads."""
        if source is None:
            return
        try:
            used = template_variables(source)
            problems = template_problems(source)
            refusals = template_refusals(source)
        except (RecursionError, ValueError, OverflowError, MemoryError):
            self.error(
                site,
                "template-too-complex",
                "template is too deeply nested or holds a number too large to read",
                "simplify the template",
            )
            return
        except TemplateSyntaxError as exc:
            offset = _line_offset(source, exc.lineno)
            self.error_at(
                site,
                source,
                offset,
                "template-syntax",
                f"template: {exc.message}",
                "placeholders are written {{ name }}",
            )
            return
        for code, message, hint, word in problems:
            self.error_at(site, source, _find(source, word), code, message, hint)
        for code, message, hint, word, line in refusals:
            self.error_at(site, source, find_on_line(source, word, line), code, message, hint)
        allowed = set(names)
        for name in sorted(used - allowed):
            self.error_at(
                site,
                source,
                _find(source, name),
                "unknown-name",
                f"template uses '{name}', which is not defined here",
                did_you_mean(name, allowed) or f"available: {quote_list(allowed, 30)}",
            )


def _line_offset(source: str, lineno: int) -> int:
    """Return the character offset where 1-based line `lineno` of `source` starts."""
    offset = 0
    for _ in range(max(lineno - 1, 0)):
        nxt = source.find("\n", offset)
        if nxt < 0:
            break
        offset = nxt + 1
    return offset


def find_on_line(source: str, word: str, lineno: int) -> int:
    """Return the offset of `word` on 1-based line `lineno` of `source` (else the line's)."""
    start = _line_offset(source, lineno)
    end = source.find("\n", start)
    found = source.find(word, start, len(source) if end < 0 else end)
    return found if found >= 0 else start


def _find(source: str, word: str) -> int:
    """Return the offset of `word` used inside a {{ }} or {% %} tag of `source` (else 0)."""
    for match in re.finditer(rf"(?<![\w.]){re.escape(word)}\b", source):
        before = source[: match.start()]
        opened = before.count("{{") + before.count("{%")
        if opened > before.count("}}") + before.count("%}"):
            return match.start()
    return 0
