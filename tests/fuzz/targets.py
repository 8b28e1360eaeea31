"""The fuzz targets: one function a surface, each taking the raw bytes of one input.

A target returns quietly when the input gives a located diagnostic (or compiles), and
raises otherwise: any exception the engine lets out (an uncaught error, RecursionError,
MemoryError...) propagates as is, and an outcome that is not a located diagnostic
raises `NotLocated`. "Located" means:

- a `Diagnostic` with a code, a message, the path the input was given under, a line
  within the input's lines and a column within that line (plus one: the end of a line);
- for an expression compiled alone, an `ExpressionError` whose every issue has a code,
  a message and an offset inside the source.

docs/testing.md ("Fuzzing") describes the harness; `python -m tests.fuzz` runs a target.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from engine.compiler.context import Context, Site
from engine.compiler.pipeline import compile_bundle
from engine.diagnostics import Diagnostic, Severity
from engine.expr import (
    EvaluationError,
    ExpressionError,
    ExprType,
    MetricSig,
    Scope,
    TableSig,
    compile_expression,
)
from engine.yamlsource import load_documents

T = ExprType
FILE = "fuzz.yaml"


class NotLocated(AssertionError):
    """The engine answered, but not with a located diagnostic."""


# Line breaks as YAML 1.2 reads them, as ruamel also reads them (NEL, LS, PS), and as
# str.splitlines does: a position is located when it is inside the input by one of them.
_BREAKS = (re.compile(r"\r\n|\r|\n"), re.compile(r"\r\n|[\r\n\x85\u2028\u2029]"))


def _splittings(text: str) -> list[list[str]]:
    """The input's lines by each reading; the last may be empty (after a final newline)."""
    return [*(rx.split(text) for rx in _BREAKS), [*text.splitlines(), ""]]


def _inside(line: int, col: int, lines: list[str]) -> bool:
    """Tell whether line/col is a character of `lines`, or just after a line's end."""
    return 1 <= line <= len(lines) and 1 <= col <= len(lines[line - 1]) + 1


def check_located(diagnostics: Iterable[Diagnostic], paths: set[str], text: str) -> None:
    """Raise NotLocated unless each diagnostic names one of `paths` and a place in `text`."""
    splittings = _splittings(text)
    for d in diagnostics:
        if not isinstance(d, Diagnostic) or not isinstance(d.severity, Severity):
            raise NotLocated(f"not a Diagnostic: {d!r}")
        shown = d.render()
        if not d.code or not d.message.strip():
            raise NotLocated(f"diagnostic without a code or message: {shown}")
        if d.path not in paths:
            raise NotLocated(f"diagnostic about another file: {shown}")
        if not any(_inside(d.line, d.col, lines) for lines in splittings):
            count = len(splittings[0])
            raise NotLocated(
                f"line {d.line}, column {d.col} is not in the input ({count} lines): {shown}"
            )


# --- the YAML loader ---------------------------------------------------------------------


def yaml_target(data: bytes) -> None:
    """Load one definition file's bytes: documents, or located diagnostics."""
    documents, problems = load_documents(FILE, data)
    text = data.decode("utf-8-sig", "replace")
    check_located(problems, {FILE}, text)
    for doc in documents:
        line, col = doc.start
        if line < 1 or col < 1:
            raise NotLocated(f"document starts at {doc.start}")


# --- the expression compiler ---------------------------------------------------------------

TIER = T.enum(["VIP", "normal", "trial"])
LINE = T.record("line", {"amount": T.NUMBER, "sku": T.STRING})
CAPS = TableSig(
    name="price_caps",
    key=("product_class", "region"),
    columns={"product_class": T.enum(["A", "B"]), "region": T.STRING, "max_unit_price": T.NUMBER},
    rows=({"product_class": "A", "region": "north", "max_unit_price": 10.0},),
)
SEASONAL = TableSig(
    name="seasonal",
    key=("region",),
    columns={"region": T.STRING, "valid_from": T.DATE, "valid_to": T.DATE, "coef": T.NUMBER},
    rows=({"region": "north", "valid_from": dt.date(2026, 1, 1), "valid_to": None, "coef": 1.2},),
    range=("valid_from", "valid_to"),
    default={"region": "", "valid_from": None, "valid_to": None, "coef": 1.0},
)
SCOPE = Scope(
    record={
        "tier": TIER,
        "score": T.INTEGER,
        "price": T.NUMBER,
        "name": T.STRING,
        "region": T.STRING,
        "product_class": T.enum(["A", "B"]),
        "active": T.BOOL,
        "keywords": T.list_of(T.STRING),
        "lines": T.list_of(LINE),
        "entered_at": T.DATETIME,
        "ordered_on": T.DATE,
        "wait": T.DURATION,
        "extra": T.ANY,
    },
    context={"now": T.DATETIME, "user": T.record("user", {"name": T.STRING})},
    constants={"params": {"region": "north", "threshold": 70, "names": ["a", "b"]}},
    tables={"price_caps": CAPS, "seasonal": SEASONAL},
    metrics={"won_rate": MetricSig("won_rate", (("region", T.STRING),))},
    subject="entity 'lead'",
    evidence=("photo", "contract"),
)
NOW = dt.datetime(2026, 2, 10, 12, 0, tzinfo=dt.UTC)
RECORD: dict[str, Any] = {
    "tier": "VIP",
    "score": 90,
    "price": 12.5,
    "name": " Ann Lee ",
    "region": "north",
    "product_class": "A",
    "active": True,
    "keywords": ["invoice", "late"],
    "lines": [{"amount": 2.5, "sku": "a"}, {"amount": None, "sku": "b"}],
    "entered_at": dt.datetime(2026, 2, 7, tzinfo=dt.UTC),
    "ordered_on": dt.date(2026, 2, 1),
    "wait": dt.timedelta(hours=5),
    "extra": None,
}
CONTEXT: dict[str, Any] = {
    "now": NOW,
    "user": {"name": "ann"},
    "metric": lambda name, group: 0.5,
    "evidence_count": lambda kind, stays: 2,
}


def expression_target(data: bytes) -> None:
    """Compile one expression against a scope naming every type; evaluate it when cheap.

    Compiling is the surface under test: an expression compiles, or raises an
    ExpressionError with located issues. A compiled one is also generated and evaluated
    on a full and an empty record, where only an EvaluationError may come out (nested
    comprehensions too: the step budget, MAX_EVALUATION_STEPS, stops them).
    """
    source = data.decode("utf-8", "replace")
    try:
        compiled = compile_expression(source, SCOPE)
    except ExpressionError as error:
        if not error.issues:
            raise NotLocated(f"ExpressionError without issues for {source!r}") from None
        for issue in error.issues:
            if not issue.code or not issue.message.strip():
                raise NotLocated(f"issue without a code or message: {issue}") from None
            if not 0 <= issue.offset <= len(source):
                raise NotLocated(
                    f"issue offset {issue.offset} outside the {len(source)}-character "
                    f"source: {issue}"
                ) from None
        return
    compiled.fn  # noqa: B018 - generating the Python function is part of compiling
    for record in (RECORD, {}):
        with contextlib.suppress(EvaluationError):
            compiled(record, CONTEXT)


# --- the template compiler ----------------------------------------------------------------

TEMPLATE_NAMES = ("record", "user", "now", "entity", "stage", "alert", "title")


def _template_document(source: str) -> str:
    """Write `source` as the `body` of a YAML document, quoted so every character survives."""
    escaped = source.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    return f'kind: notification\nbody: "{escaped}"\n'


def template_target(data: bytes) -> None:
    """Check one notification template: nothing, or diagnostics located in its file."""
    source = data.decode("utf-8", "replace")
    text = _template_document(source)
    documents, problems = load_documents(FILE, text.encode())
    check_located(problems, {FILE}, text)
    if not documents:
        raise NotLocated(f"the template's document did not load: {problems}")
    doc = documents[0]
    body = doc.data["body"]
    ctx = Context()
    ctx.template(Site(doc, ("body",)), body, TEMPLATE_NAMES)
    check_located(ctx.diagnostics, {FILE}, text)


# --- a whole one-file bundle ---------------------------------------------------------------

_FOLDER: Path | None = None


def _folder() -> Path:
    global _FOLDER  # noqa: PLW0603 - one scratch folder for the whole process
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="sopflow-fuzz-"))
    return _FOLDER


def bundle_target(data: bytes) -> None:
    """Compile a bundle whose one file holds the input: a Bundle, or located diagnostics."""
    root = _folder()
    (root / "all.yaml").write_bytes(data)
    result = compile_bundle(root, display_root="fuzz")
    text = data.decode("utf-8-sig", "replace")
    check_located(result.diagnostics, {"fuzz", "fuzz/all.yaml"}, text)
    if result.bundle is None and not any(d.severity is Severity.ERROR for d in result.diagnostics):
        raise NotLocated("the bundle did not compile, yet no error says why")


# --- the harness's own check --------------------------------------------------------------

CANARY_TRIGGER = b"crash me"


def canary_target(data: bytes) -> None:
    """Fail on inputs holding CANARY_TRIGGER: proves the harness reports and keeps a crash."""
    if CANARY_TRIGGER in data:
        raise RuntimeError("the canary target crashed, as its input asked")


Target = Callable[[bytes], None]
TARGETS: dict[str, Target] = {
    "yaml": yaml_target,
    "expression": expression_target,
    "template": template_target,
    "bundle": bundle_target,
    "canary": canary_target,
}
# Longest input a target is given (libFuzzer's -max_len): an expression is one YAML value.
MAX_LEN: dict[str, int] = {
    "yaml": 8192,
    "expression": 1024,
    "template": 2048,
    "bundle": 16384,
    "canary": 64,
}
