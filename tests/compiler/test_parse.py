"""Parsing one document: `kind`/`version` checks and pydantic errors in the analyst's words."""

from __future__ import annotations

import pytest

from engine.compiler.parse import parse_document
from engine.spec import FormSpec
from engine.yamlsource import load_documents


def messages(text: str) -> list[str]:
    docs, problems = load_documents("f.yaml", text.encode())
    assert problems == []
    return [d.render() for doc in docs for d in parse_document(doc)[1]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "- a\n",
            [
                "f.yaml:1:1: error[not-a-definition]: a definition is a mapping that starts "
                "with 'kind:' (got list)"
            ],
        ),
        (
            "version: 1\n",
            [
                "f.yaml:1:1: error[missing-kind]: missing 'kind:' (one of: bundle, "
                "table, staff, form, workflow, workflow_template, scoring, routing, "
                "decision_table, validation, alert, metric, schedule, forecast, "
                "notification)"
            ],
        ),
        (
            "kind: sorcing\nversion: 1\n",
            ["f.yaml:1:7: error[unknown-kind]: unknown kind 'sorcing' (did you mean 'scoring'?)"],
        ),
        (
            "kind: form\n",
            ["f.yaml:1:1: error[missing-version]: form is missing 'version:' (add 'version: 1')"],
        ),
        (
            "kind: form\nversion: 2\n",
            [
                "f.yaml:2:10: error[unsupported-version]: language version '2' is not supported "
                "(this sopflow reads version 1)"
            ],
        ),
        (
            "kind: form\nversion: 1\nentity: Lead\nfields: {}\n",
            [
                "f.yaml:3:9: error[invalid]: 'entity' is 'Lead'; a name is snake_case: lower-case "
                "letters, digits and '_'"
            ],
        ),
        (
            "kind: form\nversion: 1\nentity: lead\ntitel: x\nfields: {}\n",
            ["f.yaml:4:1: error[unknown-key]: unknown key 'titel' in form (did you mean 'title'?)"],
        ),
        (
            "kind: form\nversion: 1\nentity: lead\n",
            ["f.yaml:1:1: error[missing-key]: form is missing required key 'fields'"],
        ),
        (
            "kind: form\nversion: 1\nentity: lead\nfields:\n  a: {type: strng}\n",
            [
                "f.yaml:5:13: error[bad-value]: 'fields.a.type' is 'strng', which is not one of: "
                "string, text, integer, decimal, boolean, date, datetime, enum, multi_enum, ref, list, "
                "evidence, phone, address, email (did you mean 'string'?)"
            ],
        ),
        (
            "kind: form\nversion: 1\nentity: lead\nfields:\n  a: {type: enum}\n",
            [
                "f.yaml:5:6: error[invalid]: 'fields.a': an enum field needs 'values' or "
                "'values_from'"
            ],
        ),
        (
            "kind: form\nversion: 1\nentity: lead\nfields:\n"
            "  a: {type: string, normalize: [trim, {canonical: {tabel: x}}, trimm]}\n",
            [
                "f.yaml:5:51: error[missing-key]: 'fields.a.normalize[1].canonical' is missing "
                "required key 'table'",
                "f.yaml:5:52: error[unknown-key]: unknown key 'tabel' in "
                "'fields.a.normalize[1].canonical' (did you mean 'table'?)",
                "f.yaml:5:64: error[bad-value]: 'fields.a.normalize[2]' is 'trimm', which is not one "
                "of: trim, lower, upper, collapse_spaces, digits_only (did you mean 'trim'?)",
            ],
        ),
        (
            "kind: form\nversion: 1\nentity: lead\nfields:\n  a: {type: list, of: string, "
            "max_length: -1}\n",
            ["f.yaml:5:43: error[invalid]: 'fields.a.max_length' must be at least 0, got -1"],
        ),
        (
            "kind: scoring\nversion: 1\nname: s\nentity: lead\nfeatures:\n"
            "  f: {value: x, weight: high}\n",
            ["f.yaml:6:25: error[bad-type]: 'features.f.weight' must be a number, got 'high'"],
        ),
        (
            "kind: schedule\nversion: 1\nname: s\ncron: '0 25 * * *'\nactions: [{}]\n",
            [
                "f.yaml:4:7: error[invalid]: 'cron': '25' is out of range for hour (0-23)",
                "f.yaml:5:11: error[invalid]: 'actions[0]': an action has exactly one of: notify, "
                "create_record, set, assign, start_workflow, webhook, recompute_forecast, suggest "
                "(got none)",
            ],
        ),
        (
            "kind: alert\nversion: 1\nname: a\nwhen: x\nfor: 3 fortnights\nentity: e\n",
            [
                "f.yaml:5:6: error[invalid]: 'for': unknown time unit 'fortnights' in '3 fortnights' "
                "(units: s, m, h, d, w, minutes, hours, days, weeks)"
            ],
        ),
        (
            "kind: workflow\nversion: 1\nname: w\nentity: e\nstages: [{id: a}]\n"
            "moves: {back: [a to b]}\n",
            [
                "f.yaml:6:15: error[invalid]: 'moves.back': 'a to b' is not a move like "
                "'quote -> proposal_demo'"
            ],
        ),
    ],
)
def test_document_errors_read_like_the_analyst_wrote(text: str, expected: list[str]) -> None:
    assert messages(text) == expected


def test_a_valid_document_becomes_its_spec() -> None:
    (doc,), _ = load_documents(
        "f.yaml",
        b"kind: form\nversion: 1\nentity: lead\nfields:\n  name: {type: string, required: true}\n",
    )
    spec, problems = parse_document(doc)
    assert problems == []
    assert isinstance(spec, FormSpec)
    assert spec.fields["name"].required is True
