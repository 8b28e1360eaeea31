"""The spec models' own cross-key checks, as the analyst reads them: located, with the why."""

from __future__ import annotations

import pytest

from engine.compiler.parse import parse_document
from engine.yamlsource import load_documents


def messages(text: str) -> list[str]:
    docs, problems = load_documents("f.yaml", text.encode())
    assert problems == []
    return [d.render() for doc in docs for d in parse_document(doc)[1]]


SCORING = "kind: scoring\nversion: 1\nname: s\nentity: lead\n"
ROUTING = "kind: routing\nversion: 1\nname: r\nentity: lead\n"
METRIC = "kind: metric\nversion: 1\nname: m\n"
WORKFLOW = "kind: workflow\nversion: 1\nname: w\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            SCORING + "scale: [10, 10]\nfeatures:\n  f: {value: '1', weight: 1}\n",
            "f.yaml:5:1: error[invalid]: scoring 's': 'scale' is [low, high] with low < high",
            id="scale-empty",
        ),
        pytest.param(
            SCORING + "features:\n  f: {value: '1', weight: 0}\n  g: {value: '1', weight: 0}\n",
            "f.yaml:5:1: error[invalid]: scoring 's': the weights of 'features' add up to zero",
            id="weights-zero",
        ),
        pytest.param(
            SCORING + "against: users\noutput: score\nfeatures:\n  f: {value: '1', weight: 1}\n",
            "f.yaml:6:1: error[invalid]: scoring 's': a pair score (against: users) is used by "
            "routing; it has no 'output'",
            id="pair-score-output",
        ),
        pytest.param(
            ROUTING + "candidates: {}\nfallback_queue: q\n",
            "f.yaml:5:13: error[invalid]: 'candidates': candidates need a 'role', 'teams' or "
            "'users'",
            id="no-candidates",
        ),
        pytest.param(
            ROUTING + "candidates: {role: rep}\nthreshold: 50\nfallback_queue: q\n",
            "f.yaml:6:1: error[invalid]: routing 'r': 'threshold' needs a 'match' score to "
            "compare with",
            id="threshold-without-match",
        ),
        pytest.param(
            ROUTING + "candidates: {role: rep}\nstrategy: load_weighted\nmatch: m\n"
            "fallback_queue: q\n",
            "f.yaml:7:1: error[invalid]: routing 'r': strategy load_weighted needs 'match' and "
            "'load_weight'",
            id="load-weighted-without-weight",
        ),
        pytest.param(
            METRIC + "measure: count\n",
            "f.yaml:1:1: error[invalid]: metric 'm': a records metric needs 'entity'",
            id="records-metric-entity",
        ),
        pytest.param(
            METRIC + "source: stage_history\nmeasure: count\n",
            "f.yaml:1:1: error[invalid]: metric 'm': a stage_history metric needs 'workflow'",
            id="stage-history-workflow",
        ),
        pytest.param(
            METRIC + "entity: lead\nmeasure: sum\n",
            "f.yaml:5:1: error[invalid]: metric 'm': the 'measure' sum needs 'of: <column>'",
            id="measure-needs-of",
        ),
        pytest.param(
            "kind: schedule\nversion: 1\nname: s\ncron: '0 9 * * mon;'\n"
            "actions: [{notify: {to: [owner], template: t}}]\n",
            "f.yaml:4:7: error[invalid]: 'cron': 'mon;' is not a valid day of week field",
            id="cron-field",
        ),
        pytest.param(
            "kind: schedule\nversion: 1\nname: s\nevery: 1h\n"
            'actions:\n  - notify: {to: ["boss"], template: t}\n',
            "f.yaml:6:18: error[invalid]: 'actions[0].notify.to': 'boss' is not a recipient "
            "(role:<role>, user:<id>, team:<id>, owner, owner.manager, queue:<name>, "
            "field:<user field>, assignment:<named assignment> or user (the item of a "
            "`for_each: users` schedule))",
            id="recipient",
        ),
        pytest.param(
            WORKFLOW + "entity: lead\n",
            "f.yaml:4:1: error[invalid]: workflow 'w': a workflow needs 'entity' and 'stages' "
            "(or a 'template')",
            id="workflow-without-stages",
        ),
        pytest.param(
            WORKFLOW + "entity: lead\nstages: [{id: a}]\nparams: {x: 1}\n",
            "f.yaml:6:1: error[invalid]: workflow 'w': 'params' only goes with 'template'",
            id="params-without-template",
        ),
        pytest.param(
            WORKFLOW + "template: t\nstages: [{id: a}]\n",
            "f.yaml:5:1: error[invalid]: workflow 'w': a workflow made from a template does not "
            "list its own 'stages' or 'exits'",
            id="template-with-stages",
        ),
        pytest.param(
            WORKFLOW + "entity: lead\nstages:\n  - id: a\n    evidence:\n"
            "      - {kind: photo, types: [image/png, photo]}\n",
            "f.yaml:8:30: error[invalid]: 'stages[0].evidence[0].types': 'photo' is not a media "
            "type like 'image/png' or 'image/*'",
            id="media-type",
        ),
        pytest.param(
            "kind: bundle\nversion: 1\nname: b\ntimezone: UTC\nroles: {rep: {title: R}}\n"
            "users:\n  ann:\n    leave:\n      - {from: 2026-02-01, to: 2026-01-01}\n",
            "f.yaml:9:9: error[invalid]: 'users.ann.leave[0]': leave ends before it starts",
            id="leave-backwards",
        ),
    ],
)
def test_a_model_check_names_the_key_and_the_rule(text: str, expected: str) -> None:
    assert messages(text) == [expected]


def test_field_keys_must_fit_the_field_type_and_each_other() -> None:
    text = (
        "kind: form\nversion: 1\nentity: lead\nfields:\n"
        "  a: {type: string, of: string}\n"
        "  b: {type: list}\n"
        "  c: {type: string, computed: x, required: true}\n"
        "  e: {type: enum, values_from: tablecolumn}\n"
        "  f: {type: enum, values: [x], values_from: t.c}\n"
        "  g:\n    type: date\n    max: 2026-01-01T10:00:00\n"
    )
    assert messages(text) == [
        "f.yaml:5:21: error[invalid]: 'fields.a': 'of' does not apply to string fields "
        "(only: list)",
        "f.yaml:6:6: error[invalid]: 'fields.b': a list field needs 'of: <item type>'",
        "f.yaml:7:6: error[invalid]: 'fields.c': a computed field cannot also be required or "
        "have a default",
        "f.yaml:8:32: error[invalid]: 'fields.e.values_from': 'tablecolumn' is not 'table.column'",
        "f.yaml:9:32: error[invalid]: 'fields.f': a field takes 'values' or 'values_from', "
        "not both",
        "f.yaml:12:5: error[invalid]: 'fields.g': 'max' of a date field cannot have a time of day",
    ]
