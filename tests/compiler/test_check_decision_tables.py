"""Decision tables at compile time: hit: unique overlaps, collect outputs, aggregates, load."""

from __future__ import annotations

from pathlib import Path

from tests.runtime.small import diagnostics

FORM = """\
kind: form
version: 1
entity: ticket
fields:
  tier: {type: enum, values: [vip, normal, trial]}
  severity: {type: integer}
  group: {type: string}
  groups: {type: list, of: string}
  points: {type: integer}
"""


def table(hit: str, rows: str, outputs: str = "[group]", extra: str = "") -> dict[str, str]:
    text = (
        "kind: decision_table\nversion: 1\nname: seats\nentity: ticket\n"
        f"hit: {hit}\n{extra}inputs: [tier, severity]\noutputs: {outputs}\nrows:\n{rows}"
    )
    return {"forms/ticket.yaml": FORM, "rules/seats.yaml": text}


def test_unique_rows_with_identical_cells_are_an_error(tmp_path: Path) -> None:
    rows = "  - [vip, 1, a]\n  - [normal, 2, b]\n  - [vip, 1, c]\n"
    assert diagnostics(tmp_path / "defs", table("unique", rows)) == [
        "rules/seats.yaml:11:5: error[overlapping-rows]: rows 1 and 3 can both match the "
        "same inputs, and table 'seats' is hit: unique "
        "(make the rows exclusive, or use hit: first or hit: collect)"
    ]


def test_a_star_covering_a_literal_in_every_column_is_an_error(tmp_path: Path) -> None:
    rows = '  - ["*", ">= 3", a]\n  - [vip, "1..4", b]\n'
    assert diagnostics(tmp_path / "defs", table("unique", rows)) == [
        "rules/seats.yaml:10:5: error[overlapping-rows]: rows 1 and 2 can both match the "
        "same inputs, and table 'seats' is hit: unique "
        "(make the rows exclusive, or use hit: first or hit: collect)"
    ]


def test_exclusive_rows_and_undecidable_ones_compile(tmp_path: Path) -> None:
    rows = (
        '  - [vip, "1..2", a]\n'
        '  - [vip, "3..4", b]\n'  # ranges apart
        '  - [normal, "*", c]\n'  # another tier
        '  - ["in [trial]", "< 1", d]\n'
        '  - ["in [trial]", ">= 1", e]\n'  # the boundary belongs to one row only
    )
    assert diagnostics(tmp_path / "defs", table("unique", rows)) == []
    first = "  - [vip, 1, a]\n  - [vip, 1, b]\n"
    assert diagnostics(tmp_path / "defs2", table("first", first)) == []


def test_aggregate_needs_hit_collect(tmp_path: Path) -> None:
    rows = "  - [vip, 1, 3]\n"
    found = diagnostics(tmp_path / "defs", table("first", rows, "[points]", "aggregate: sum\n"))
    assert found == [
        "rules/seats.yaml:6:12: error[invalid]: 'aggregate' combines the rows of hit: collect; "
        "table 'seats' is hit: first (use hit: collect, or drop 'aggregate')"
    ]


def test_collect_outputs_must_hold_a_list_or_a_number(tmp_path: Path) -> None:
    rows = "  - [vip, 1, a, a]\n"
    found = diagnostics(tmp_path / "defs", table("collect", rows, "[group, groups]"))
    assert found == [
        "rules/seats.yaml:7:11: error[type-mismatch]: hit: collect gives 'group' the list of "
        "every matching row's value; it is a string field (give the table an 'aggregate' "
        "(sum, max, min, count) or make it a list field)"
    ]
    extra = "aggregate: {group: max, point: sum}\n"
    found = diagnostics(tmp_path / "defs2", table("collect", rows, "[group, groups]", extra))
    assert found == [
        "rules/seats.yaml:6:25: error[unknown-output]: table 'seats': output 'point' is not "
        "defined (known: 'group', 'groups')",
        "rules/seats.yaml:8:11: error[type-mismatch]: aggregate max gives 'group' a number; "
        "it is a string field",
    ]


LEAD = """\
kind: form
version: 1
entity: lead
fields:
  state: {type: enum, values: [new, won]}
load:
"""


def test_a_form_load_is_checked_where_it_is_written(tmp_path: Path) -> None:
    bad = LEAD + "  counts_while: \"stat == 'new'\"\n  for: 2 working days\n"
    assert diagnostics(tmp_path / "defs", {"forms/lead.yaml": bad}) == [
        "forms/lead.yaml:7:18: error[unknown-name]: name 'stat' is not a field of entity 'lead' (did you mean 'state'?)",
        "forms/lead.yaml:8:8: error[invalid]: load 'for: 2 working days' counts working time; "
        "a load window runs on the clock (write it in hours or days, e.g. '7 days')",
    ]
    number = LEAD + '  counts_while: "1 + 1"\n'
    assert [
        d.split(": error")[0] for d in diagnostics(tmp_path / "d2", {"forms/lead.yaml": number})
    ] == ["forms/lead.yaml:7:18"]
    empty = LEAD + "  {}\n"
    assert len(diagnostics(tmp_path / "d3", {"forms/lead.yaml": empty})) == 1
    good = LEAD + "  counts_while: \"state == 'new'\"\n  for: 7 days\n"
    assert diagnostics(tmp_path / "d4", {"forms/lead.yaml": good}) == []


def test_inputs_computed_from_one_field_are_not_judged_column_by_column(tmp_path: Path) -> None:
    """`severity * 2 > 4` and `severity + 1 < 3` never hold together, though each column
    alone could: the compiler must not call them overlapping (the run time refuses a real
    overlap); the same cells on two different fields do overlap."""
    text = (
        "kind: decision_table\nversion: 1\nname: seats\nentity: ticket\nhit: unique\n"
        'inputs: ["severity * 2", "severity + 1"]\noutputs: [group]\nrows:\n'
        '  - ["> 4", "*", high]\n  - ["*", "< 3", low]\n'
    )
    files = {"forms/ticket.yaml": FORM, "rules/seats.yaml": text}
    assert diagnostics(tmp_path / "defs", files) == []
    same_field = text.replace('["severity * 2", "severity + 1"]', "[severity, severity]")
    assert diagnostics(tmp_path / "defs2", {**files, "rules/seats.yaml": same_field}) == []
    two_fields = text.replace('["severity * 2", "severity + 1"]', "[severity, points]")
    assert diagnostics(tmp_path / "defs3", {**files, "rules/seats.yaml": two_fields}) == [
        "rules/seats.yaml:10:5: error[overlapping-rows]: rows 1 and 2 can both match the "
        "same inputs, and table 'seats' is hit: unique "
        "(make the rows exclusive, or use hit: first or hit: collect)"
    ]
