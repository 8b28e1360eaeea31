"""Cross-checks of metrics, forecasts and workflows: column types, tables, evidence and moves."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.small import diagnostics

LEAD = """\
kind: form
version: 1
entity: lead
fields:
  size: {type: integer}
  label: {type: string}
"""
FLOW = """\
kind: workflow
version: 1
name: flow
entity: lead
stages:
  - id: new
    evidence:
      - {kind: photo}
      - {kind: photo, min: 3, max: 2}
  - id: won
moves:
  back: [won -> won]
"""


def test_a_metric_measures_numbers_filters_known_columns_and_windows_on_time(
    tmp_path: Path,
) -> None:
    metric = (
        "kind: metric\nversion: 1\nname: m\nentity: lead\nmeasure: sum\nof: label\n"
        "where: {nosuch: 1}\nwindow: {last: 30 days, on: size}\n"
    )
    assert diagnostics(tmp_path, {"forms/lead.yaml": LEAD, "signals/m.yaml": metric}) == [
        "signals/m.yaml:6:5: error[type-mismatch]: 'sum' needs a number column; 'label' is string",
        "signals/m.yaml:7:9: error[unknown-field]: records of 'lead': column 'nosuch' is not "
        "defined (known: 'created_at', 'entity', 'id', 'label', 'owner', 'queue', "
        "'schema_version', 'size' and 5 more)",
        "signals/m.yaml:8:29: error[type-mismatch]: window column 'size' must be a date or "
        "datetime",
    ]


def test_a_forecast_reads_a_number_a_date_and_a_seasonal_range_table(tmp_path: Path) -> None:
    flow = "kind: workflow\nversion: 1\nname: flow\nentity: lead\nstages: [{id: new}]\n"
    forecast = (
        "kind: forecast\nversion: 1\nname: f\nworkflow: flow\namount: label\n"
        "close_date: size\nhorizon: 12 weeks\nseasonality: plain\n"
    )
    table = (
        "kind: table\nversion: 1\nname: plain\nkey: [k]\n"
        "columns: {k: string, coefficient: decimal}\nrows: []\n"
    )
    files = {
        "forms/lead.yaml": LEAD,
        "workflows/flow.yaml": flow,
        "signals/f.yaml": forecast,
        "tables/plain.yaml": table,
    }
    assert diagnostics(tmp_path, files) == [
        "signals/f.yaml:5:9: error[type-mismatch]: 'amount' field 'label' is string; it must "
        "be integer or number",
        "signals/f.yaml:6:13: error[type-mismatch]: 'close_date' field 'size' is integer; it "
        "must be date or datetime",
        "signals/f.yaml:8:14: error[bad-table]: table 'plain' must have a date 'range' and a "
        "'coefficient' column",
    ]


def test_stage_evidence_is_listed_once_with_a_max_over_its_min_and_no_move_stays(
    tmp_path: Path,
) -> None:
    assert diagnostics(tmp_path, {"forms/lead.yaml": LEAD, "workflows/flow.yaml": FLOW}) == [
        "workflows/flow.yaml:9:16: error[duplicate-evidence]: evidence 'photo' is listed twice "
        "in stage 'new'",
        "workflows/flow.yaml:9:36: error[invalid]: max 2 is less than min 3",
        "workflows/flow.yaml:12:10: error[invalid]: 'won -> won' goes from a stage to itself "
        "(remove it: a record already in a stage stays there)",
    ]


def test_a_workflow_from_a_template_keeps_the_template_entity(tmp_path: Path) -> None:
    deal = "kind: form\nversion: 1\nentity: deal\nfields:\n  amount: {type: decimal}\n"
    template = (
        "kind: workflow_template\nversion: 1\nname: tpl\n"
        "workflow:\n  entity: deal\n  stages: [{id: open}]\n"
    )
    made = "kind: workflow\nversion: 1\nname: made\ntemplate: tpl\nentity: lead\n"
    files = {
        "forms/lead.yaml": LEAD,
        "forms/deal.yaml": deal,
        "workflows/tpl.yaml": template,
        "workflows/made.yaml": made,
    }
    assert diagnostics(tmp_path, files) == [
        "workflows/made.yaml:5:9: error[template-entity]: template 'tpl' is for entity 'deal', "
        "not 'lead'"
    ]
