"""docs/language.md documents every key of every spec model, and its examples validate.

Convention (docs/language.md):

- each kind has a heading `## kind: <kind>`, in the order of `engine.spec.KINDS`;
- each spec model has a key table introduced by the marker line
  `<!-- keys: ModelName -->` (several models: `<!-- keys: TableDocument, TableSpec -->`);
  the table starts on the next line; after its header and `| --- |` rows, every row
  starts with the backticked YAML key (the alias where the model has one):
  `` | `key` | type | required / default | meaning | ``;
- every ```yaml block that mentions `kind:` holds whole documents (`---` between them)
  that validate against `KINDS[kind]`, and every kind has at least one example.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from engine.spec import KINDS, LANGUAGE_VERSION

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"
KIND_HEADING = re.compile(r"^## kind: (\S+)\s*$")
KEYS_MARKER = re.compile(r"^<!-- keys: ([A-Za-z0-9_, ]+) -->\s*$")
ROW_KEY = re.compile(r"^\| `([^`]+)` \|")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")
FENCE_OPEN = re.compile(r"^```yaml\s*$")


# --- the models -------------------------------------------------------------------------


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Yield the pydantic models inside an annotation (Optional, Union, list, dict, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from models_in(arg)


def reachable_models() -> dict[str, type[BaseModel]]:
    """Return every model reachable from KINDS through field annotations, by class name."""
    found: dict[str, type[BaseModel]] = {}
    todo: list[type[BaseModel]] = list(KINDS.values())
    while todo:
        model = todo.pop()
        if found.setdefault(model.__name__, model) is not model:
            raise AssertionError(f"two spec models are called {model.__name__}")
        for info in model.model_fields.values():
            todo.extend(m for m in models_in(info.annotation) if m.__name__ not in found)
    return found


def yaml_keys(model: type[BaseModel]) -> list[str]:
    """Return the keys an analyst writes for a model's fields (the alias where there is one)."""
    return [info.alias or name for name, info in model.model_fields.items()]


# --- the document -----------------------------------------------------------------------


@dataclass
class KeyTable:
    """A key table of the document: the models it documents and its keys with line numbers."""

    models: tuple[str, ...]
    line: int
    keys: dict[str, int] = field(default_factory=dict)
    bad_rows: list[int] = field(default_factory=list)


@dataclass
class Example:
    """One YAML document of a ```yaml block, with the line its block starts on."""

    line: int
    text: str


def kind_headings(text: str) -> list[str]:
    """Return the kinds of the `## kind: x` headings, in document order."""
    return [m.group(1) for line in text.splitlines() if (m := KIND_HEADING.match(line))]


def key_tables(text: str) -> list[KeyTable]:
    """Return every table introduced by a `<!-- keys: ... -->` marker."""
    lines = text.splitlines()
    tables = []
    for i, line in enumerate(lines):
        marker = KEYS_MARKER.match(line)
        if not marker:
            continue
        models = tuple(m.strip() for m in marker.group(1).split(",") if m.strip())
        table = KeyTable(models, i + 1)
        body = []
        for row in lines[i + 1 :]:
            if not row.startswith("|"):
                break
            body.append(row)
        # body[0] is the header, body[1] the separator; a table without them is malformed.
        if len(body) < 2 or not SEPARATOR.match(body[1]):
            table.bad_rows.append(i + 2)
        for offset, row in enumerate(body[2:], start=i + 4):
            key = ROW_KEY.match(row)
            if key:
                table.keys.setdefault(key.group(1), offset)
            else:
                table.bad_rows.append(offset)
        tables.append(table)
    return tables


def yaml_blocks(text: str) -> list[tuple[int, str]]:
    """Return (first line, content) of every ```yaml fenced block."""
    blocks = []
    lines = text.splitlines()
    start: int | None = None
    for i, line in enumerate(lines):
        if start is None and FENCE_OPEN.match(line):
            start = i + 1
        elif start is not None and line.startswith("```"):
            blocks.append((start + 1, "\n".join(lines[start:i]) + "\n"))
            start = None
    return blocks


def examples(text: str) -> list[Example]:
    """Return the YAML blocks that mention `kind:` (each block may hold several documents)."""
    return [Example(line, body) for line, body in yaml_blocks(text) if "kind:" in body]


# --- the checks (pure, so they can be tested on broken documents) -----------------------


def heading_problems(text: str) -> list[str]:
    """List kinds without a `## kind:` heading, unknown headings and a wrong order."""
    headings = kind_headings(text)
    problems = [f"no '## kind: {k}' heading" for k in KINDS if k not in headings]
    problems += [f"'## kind: {k}' is not a kind" for k in headings if k not in KINDS]
    documented = [k for k in headings if k in KINDS]
    expected = [k for k in KINDS if k in documented]
    if documented != expected:
        problems.append(f"kind sections are in the order {documented}; KINDS has {expected}")
    return problems


def missing_keys(text: str, models: dict[str, type[BaseModel]]) -> list[str]:
    """List, per model, the keys no table naming that model documents."""
    covered: dict[str, set[str]] = {}
    for table in key_tables(text):
        for name in table.models:
            covered.setdefault(name, set()).update(table.keys)
    problems = []
    for name, model in sorted(models.items()):
        if name not in covered:
            problems.append(f"{name}: no table (add '<!-- keys: {name} -->' before one)")
            continue
        absent = [k for k in yaml_keys(model) if k not in covered[name]]
        if absent:
            problems.append(f"{name}: " + ", ".join(f"`{k}`" for k in absent))
    return problems


def unknown_keys(text: str, models: dict[str, type[BaseModel]]) -> list[str]:
    """List documented keys that no named model has, unknown model names and bad rows."""
    problems = []
    for table in key_tables(text):
        names = [n for n in table.models if n in models]
        problems += [
            f"line {table.line}: '{n}' is not a spec model" for n in table.models if n not in models
        ]
        allowed = {k for n in names for k in yaml_keys(models[n])}
        problems += [
            f"line {line}: `{key}` is not a key of {' or '.join(table.models)}"
            for key, line in table.keys.items()
            if names and key not in allowed
        ]
        problems += [
            f"line {line}: a key table row must start with | `key` |" for line in table.bad_rows
        ]
    return problems


def example_documents(example: Example) -> list[dict[str, Any]]:
    """Parse an example block into its documents (raise AssertionError when it is not one)."""
    try:
        docs = [d for d in YAML(typ="safe").load_all(example.text) if d is not None]
    except YAMLError as exc:
        raise AssertionError(f"docs/language.md:{example.line}: not YAML: {exc}") from None
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            raise AssertionError(
                f"docs/language.md:{example.line}: a ```yaml block that "
                "mentions kind: must hold whole documents starting with kind:"
            )
    return docs


def example_problems(example: Example) -> list[str]:
    """Validate every document of an example block against its kind's model."""
    problems = []
    for doc in example_documents(example):
        kind = doc["kind"]
        where = f"docs/language.md:{example.line} ({kind})"
        if kind not in KINDS:
            problems.append(f"{where}: unknown kind")
            continue
        if doc.get("version") != LANGUAGE_VERSION:
            problems.append(f"{where}: version must be {LANGUAGE_VERSION}")
        try:
            KINDS[kind].model_validate(doc)
        except ValidationError as exc:
            problems.append(f"{where}: {exc}")
    return problems


# --- the tests --------------------------------------------------------------------------

TEXT = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
MODELS = reachable_models()


def test_the_reference_exists() -> None:
    assert DOC.exists(), f"{DOC} is missing"


def test_every_kind_has_a_section_in_kinds_order() -> None:
    problems = heading_problems(TEXT)
    assert not problems, "docs/language.md:\n  " + "\n  ".join(problems)


def test_every_key_of_every_model_is_documented() -> None:
    problems = missing_keys(TEXT, MODELS)
    assert not problems, (
        "docs/language.md lacks key table rows (| `key` | ...) for:\n  " + "\n  ".join(problems)
    )


def test_no_key_table_documents_a_key_that_does_not_exist() -> None:
    problems = unknown_keys(TEXT, MODELS)
    assert not problems, "docs/language.md:\n  " + "\n  ".join(problems)


def test_every_kind_has_an_example() -> None:
    shown = {doc["kind"] for ex in examples(TEXT) for doc in example_documents(ex)}
    absent = [k for k in KINDS if k not in shown]
    assert not absent, f"docs/language.md has no ```yaml example of kind: {', '.join(absent)}"


def test_every_yaml_block_parses() -> None:
    problems = []
    for line, body in yaml_blocks(TEXT):
        try:
            list(YAML(typ="safe").load_all(body))
        except YAMLError as exc:
            problems.append(f"docs/language.md:{line}: {exc}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("example", examples(TEXT), ids=lambda ex: f"line{ex.line}")
def test_example_validates(example: Example) -> None:
    problems = example_problems(example)
    assert not problems, "\n".join(problems)


# --- the checks themselves catch what they must -----------------------------------------

BROKEN = """
## kind: form

<!-- keys: CanonicalMap -->
| key | type | required / default | meaning |
| --- | --- | --- | --- |
| `table` | name | required | The table. |
| `match` | name | `variant` | Column to match. |
| `colour` | text | | Not a key. |
| unmarked | text | | A row without a backticked key. |
no table here

```yaml
kind: form
version: 1
entity: opportunity
fields:
  quote_price: {type: decimal, minimum: 0}
```
"""


def test_the_checks_fail_on_a_broken_document() -> None:
    from engine.spec.form import CanonicalMap

    models = {"CanonicalMap": CanonicalMap}
    assert missing_keys(BROKEN, models) == ["CanonicalMap: `to`, `unmatched`"]
    assert unknown_keys(BROKEN, models) == [
        "line 9: `colour` is not a key of CanonicalMap",
        "line 10: a key table row must start with | `key` |",
    ]
    assert "no '## kind: bundle' heading" in heading_problems(BROKEN)
    [example] = examples(BROKEN)
    [problem] = example_problems(example)
    assert problem.startswith("docs/language.md:14 (form): ") and "minimum" in problem


def test_the_walk_reaches_nested_and_union_models() -> None:
    for name in (
        "FieldSpec",
        "NormalizerSpec",
        "CanonicalMap",
        "MissingPolicy",
        "LeaveSpec",
        "WorkflowBody",
        "ParamSpec",
        "ActionSpec",
        "SuggestAction",
        "MetricWindow",
    ):
        assert name in MODELS, f"{name} was not reached from KINDS"
