"""Cross-checks of rules: a score's output, a routing's match, a table's default, validations."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.small import diagnostics

LEAD = """\
kind: form
version: 1
entity: lead
fields:
  tier: {type: enum, values: [vip, normal]}
  size: {type: integer}
  label: {type: string}
"""
DEAL = "kind: form\nversion: 1\nentity: deal\nfields:\n  amount: {type: decimal}\n"
FLOW = "kind: workflow\nversion: 1\nname: flow\nentity: lead\nstages: [{id: new}, {id: won}]\n"


def test_a_score_is_written_to_a_number_field(tmp_path: Path) -> None:
    scoring = (
        "kind: scoring\nversion: 1\nname: fit\nentity: lead\noutput: label\n"
        "features:\n  f: {value: '1', weight: 1}\n"
    )
    assert diagnostics(tmp_path, {"forms/lead.yaml": LEAD, "rules/fit.yaml": scoring}) == [
        "rules/fit.yaml:5:9: error[type-mismatch]: score output 'label' is a string field; "
        "it must be a number"
    ]


def test_a_routing_match_is_a_score_of_its_entity_and_its_threshold_on_the_scale(
    tmp_path: Path,
) -> None:
    match = (
        "kind: scoring\nversion: 1\nname: deal_match\nentity: deal\nagainst: users\n"
        "scale: [0, 10]\nfeatures:\n  f: {value: '1', weight: 1}\n"
    )
    routing = (
        "kind: routing\nversion: 1\nname: route\nentity: lead\ncandidates: {role: rep}\n"
        "match: deal_match\nthreshold: 50\nfallback_queue: overflow\n"
    )
    files = {
        "forms/lead.yaml": LEAD,
        "forms/deal.yaml": DEAL,
        "rules/match.yaml": match,
        "rules/route.yaml": routing,
    }
    assert diagnostics(tmp_path, files) == [
        "rules/route.yaml:6:8: error[entity-mismatch]: scoring 'deal_match' is for entity "
        "'deal', not 'lead'",
        "rules/route.yaml:7:12: error[invalid]: threshold 50.0 is outside the score's scale "
        "[0.0, 10.0]",
    ]


def test_a_table_default_gives_every_output_and_unknown_outputs_are_skipped(
    tmp_path: Path,
) -> None:
    table = (
        "kind: decision_table\nversion: 1\nname: t\nentity: lead\nhit: collect\n"
        "aggregate: sum\ninputs: [tier]\noutputs: [size, nosuch]\nrows:\n  - [vip, 1, 2]\n"
        "default: [0]\n"
    )
    found = diagnostics(tmp_path, {"forms/lead.yaml": LEAD, "rules/t.yaml": table})
    assert found == [
        "rules/t.yaml:8:17: error[unknown-field]: entity 'lead': field 'nosuch' is not defined "
        "(known: 'created_at', 'entity', 'id', 'label', 'owner', 'queue', 'schema_version', "
        "'size' and 6 more)",
        "rules/t.yaml:11:10: error[row-width]: default has 1 values for 2 outputs",
    ]


def test_a_leave_stage_validation_names_its_stages(tmp_path: Path) -> None:
    validation = (
        "kind: validation\nversion: 1\nname: v\nentity: lead\non: [leave_stage]\n"
        "refuse_if: 'size > 3'\nmessage: too big\n"
    )
    files = {"forms/lead.yaml": LEAD, "workflows/flow.yaml": FLOW, "rules/v.yaml": validation}
    assert diagnostics(tmp_path, files) == [
        "rules/v.yaml:5:5: error[invalid]: 'leave_stage' needs the 'stages' it applies to"
    ]
