"""The JSON Schema of definition files: well-formed, accepts every valid document, rejects bad ones.

Documents are loaded like the compiler loads them, then dates are turned into ISO text,
which is what an editor's YAML language server hands to the schema.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.compiler.parse import parse_document
from engine.schema import definition_schema
from engine.spec import KINDS
from engine.yamlsource import load_documents

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "definitions"
SCHEMA = definition_schema()
VALIDATOR = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def editor_view(value: Any) -> Any:
    """Return YAML data as an editor's schema check sees it: dates as ISO text."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): editor_view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [editor_view(v) for v in value]
    return value


def documents(root: Path, label: str) -> list[Any]:
    """Return one pytest param per YAML document under `root`, with id label/file:line."""
    params = []
    for path in sorted(root.rglob("*.yaml")):
        docs, problems = load_documents(path.name, path.read_bytes())
        assert problems == [], problems
        rel = path.relative_to(root).as_posix()
        params.extend(pytest.param(doc.data, id=f"{label}/{rel}:{doc.start[0]}") for doc in docs)
    return params


VALID_DOCUMENTS = documents(REPO / "definitions", "definitions") + [
    p for case in sorted((FIXTURES / "valid").iterdir()) for p in documents(case, case.name)
]


def schema_errors(data: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in VALIDATOR.iter_errors(editor_view(data))
    ]


def load_one(text: str) -> Any:
    docs, problems = load_documents("f.yaml", text.encode())
    assert problems == [] and len(docs) == 1
    return docs[0]


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_every_ref_points_into_defs() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(SCHEMA)
    assert refs
    assert [r for r in refs if r.removeprefix("#/$defs/") not in SCHEMA["$defs"]] == []


def test_one_branch_per_kind_and_one_for_tests() -> None:
    assert SCHEMA["properties"]["kind"]["enum"] == [*KINDS, "test"]
    branches = {b["if"]["properties"]["kind"]["const"]: b["then"]["$ref"] for b in SCHEMA["allOf"]}
    expected = {kind: f"#/$defs/{model.__name__}" for kind, model in KINDS.items()}
    assert branches == {**expected, "test": "#/$defs/TestSpec"}


@pytest.mark.parametrize("data", VALID_DOCUMENTS)
def test_valid_document_matches_the_schema(data: Any) -> None:
    assert schema_errors(data) == []


def test_valid_documents_cover_every_kind() -> None:
    assert {p.values[0]["kind"] for p in VALID_DOCUMENTS} == {*KINDS, "test"}


FORM = "kind: form\nversion: 1\nentity: lead\nfields:\n  pharmacy_name: {type: string}\n"
REJECTED = [
    ("unknown kind", "kind: fomr\nversion: 1\nentity: lead\nfields: {}\n", "'fomr' is not one of"),
    ("unsupported version", FORM.replace("version: 1", "version: 2"), "1 was expected"),
    ("missing version", FORM.replace("version: 1\n", ""), "'version' is a required property"),
    ("unknown key in a form", FORM + "titel: Lead\n", "('titel' was unexpected)"),
    (
        "unknown key in a field",
        FORM.replace("{type: string}", "{type: string, requird: true}"),
        "('requird' was unexpected)",
    ),
    ("missing required key", "kind: form\nversion: 1\nentity: lead\n", "'fields' is a required"),
    (
        "wrong type",
        FORM.replace("{type: string}", "{type: string, max_length: [40]}"),
        "[40] is not valid under any of the given schemas",
    ),
    ("bad enum literal", FORM.replace("type: string", "type: strng"), "'strng' is not one of"),
    (
        "bad name",
        FORM.replace("entity: lead", "entity: Lead"),
        "'Lead' does not match '^[a-z][a-z0-9_]*$'",
    ),
    (
        "duration without unit",
        "kind: schedule\nversion: 1\nname: s\nevery: 72\nactions:\n  - recompute_forecast:"
        " {forecast: f}\n",
        "72 is not valid under any of the given schemas",
    ),
    (
        "date that is not a date",
        "kind: validation\nversion: 1\nname: v\nentity: e\nrefuse_if: 'True'\nmessage: m\n"
        "effective_from: March 1\n",
        "effective_from: 'March 1' is not valid under any of the given schemas",
    ),
]


@pytest.mark.parametrize(
    ("text", "fragment"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED]
)
def test_schema_rejects(text: str, fragment: str) -> None:
    errors = schema_errors(load_one(text).data)
    assert any(fragment in e for e in errors), errors


@pytest.mark.parametrize(
    ("case", "file"),
    [
        ("unknown_kind", "forms/lead.yaml"),
        ("unsupported_version", "forms/lead.yaml"),
        ("unknown_key", "forms/lead.yaml"),
        ("wrong_type", "forms/lead.yaml"),
        ("wrong_type", "bundle.yaml"),
        ("bad_enum_literal", "forms/lead.yaml"),
        ("bad_duration", "workflows/visit.yaml"),
        ("missing_required_key", "rules/routing.yaml"),
    ],
)
def test_schema_rejects_the_invalid_fixture(case: str, file: str) -> None:
    path = FIXTURES / "invalid" / case / file
    docs, problems = load_documents(path.name, path.read_bytes())
    assert problems == [] and docs
    assert any(schema_errors(doc.data) for doc in docs)


# Documents on which the schema (what an editor shows) and the compiler must agree.
BUNDLE = "kind: bundle\nversion: 1\nname: b\ntimezone: UTC\n"
SCHEDULE = "kind: schedule\nversion: 1\nname: s\nactions:\n  - recompute_forecast: {forecast: f}\n"
WORKFLOW = "kind: workflow\nversion: 1\nname: w\nentity: e\nstages:\n"


def agree(name: str, text: str, accepted: bool) -> Any:
    return pytest.param(text, accepted, id=name)


AGREEMENT = [
    agree("plain form", FORM, True),
    agree("roles as a mapping", BUNDLE + "roles: {rep: {title: Rep}}\n", True),
    agree("two working days", WORKFLOW + "  - {id: a, sla: {within: 2 working days}}\n", True),
    agree("forecast weight above 1", WORKFLOW + "  - {id: a, forecast_weight: 2}\n", False),
    agree("version true", FORM.replace("version: 1", "version: true"), False),
    agree("every without unit", SCHEDULE + "every: 72\n", False),
    agree("required: yes", FORM.replace("string}", "string, required: yes}"), False),
    agree("capacity as text", BUNDLE + "roles: [rep]\nusers:\n  li: {capacity: '40'}\n", False),
    agree(
        "weight as text",
        "kind: scoring\nversion: 1\nname: s\nentity: e\n"
        "features:\n  a: {value: '1', weight: '0.4'}\n",
        False,
    ),
    agree("duration in capitals", SCHEDULE + "every: 72H\n", True),
    agree(
        "field name not snake_case",
        "kind: form\nversion: 1\nentity: lead\nfields:\n  Quote Price: {type: decimal}\n",
        False,
    ),
]


@pytest.mark.parametrize(("text", "accepted"), AGREEMENT)
def test_schema_and_compiler_agree(text: str, accepted: bool) -> None:
    doc = load_one(text)
    spec, problems = parse_document(doc)
    compiler_ok = spec is not None
    schema_ok = not schema_errors(doc.data)
    assert (compiler_ok, schema_ok) == (accepted, accepted), [p.render() for p in problems]
