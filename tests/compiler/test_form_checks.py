"""A form's field checks at compile time: core names, bounds, defaults and enum tables."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tests.runtime.small import diagnostics, small_bundle

TABLE = """\
kind: table
version: 1
name: tiers
key: [code]
columns: {code: string, label: string}
rows:
  - {code: gold, label: Gold}
  - {code: silver, label: Silver}
"""


def form(fields: str) -> dict[str, str]:
    text = f"kind: form\nversion: 1\nentity: lead\nfields:\n{fields}"
    return {"tables/tiers.yaml": TABLE, "forms/lead.yaml": text}


def test_a_field_may_not_take_a_core_column_name(tmp_path: Path) -> None:
    assert diagnostics(tmp_path, form("  stage: {type: string}\n")) == [
        "forms/lead.yaml:5:3: error[reserved-field]: 'stage' is a core column every record has "
        "(choose another name)"
    ]


def test_a_bound_must_have_the_type_of_its_field(tmp_path: Path) -> None:
    # Before this check an integer field with `min: 2026-01-01` compiled, and every record
    # of the entity then failed to validate with a TypeError.
    fields = (
        '  due: {type: date, min: "2026-13-01", max: 5}\n'
        '  at: {type: datetime, max: "tomorrow"}\n'
        '  n: {type: integer, min: "five", max: 2026-01-01}\n'
        '  m: {type: decimal, min: "2026-01-01"}\n'
    )
    assert diagnostics(tmp_path, form(fields)) == [
        "forms/lead.yaml:5:26: error[bad-type]: 'min' of a date field must be a date, "
        "got 2026-13-01",
        "forms/lead.yaml:5:45: error[bad-type]: 'max' of a date field must be a date, got 5.0",
        "forms/lead.yaml:6:29: error[bad-type]: 'max' of a datetime field must be a date, "
        "got tomorrow",
        "forms/lead.yaml:7:27: error[bad-type]: 'min' of an integer field must be a number, "
        "got five",
        "forms/lead.yaml:7:40: error[bad-type]: 'max' of an integer field must be a number, "
        'got "2026-01-01"',
        "forms/lead.yaml:8:27: error[bad-type]: 'min' of a decimal field must be a number, "
        "got 2026-01-01",
    ]


def test_bounds_of_the_right_type_compile(tmp_path: Path) -> None:
    fields = (
        '  due: {type: date, min: "2026-01-01", max: 2026-12-31}\n'
        '  at: {type: datetime, min: 2026-01-01, max: "2026-06-30T18:00:00+08:00"}\n'
        "  n: {type: integer, min: 0, max: 9}\n"
        "  m: {type: decimal, min: 0.5}\n"
    )
    spec = small_bundle(tmp_path, form(fields)).forms["lead"].spec.fields
    assert [(spec[n].min, spec[n].max) for n in ("due", "at", "n", "m")] == [
        (dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        (dt.date(2026, 1, 1), dt.datetime(2026, 6, 30, 10, 0)),
        (0, 9),
        (0.5, None),
    ]


def test_a_default_must_fit_the_type_and_the_table_values(tmp_path: Path) -> None:
    fields = (
        "  tier: {type: enum, values_from: tiers.code, default: bronze}\n"
        "  tiers: {type: multi_enum, values_from: tiers.code, default: [gold, lead]}\n"
        "  ok: {type: enum, values_from: tiers.code, default: silver}\n"
        "  flag: {type: boolean, default: 3}\n"
    )
    assert diagnostics(tmp_path, form(fields)) == [
        "forms/lead.yaml:5:56: error[unknown-enum-value]: enum value 'bronze' is not defined "
        "(known: 'gold', 'silver')",
        "forms/lead.yaml:6:70: error[unknown-enum-value]: enum value 'lead' is not defined "
        "(known: 'gold', 'silver')",
        "forms/lead.yaml:8:34: error[bad-type]: default 3 does not fit a boolean field",
    ]


def test_a_pattern_too_large_to_compile_is_an_error(tmp_path: Path) -> None:
    fields = '  code: {type: string, pattern: "a{99999999999}"}\n'
    assert diagnostics(tmp_path, form(fields)) == [
        "forms/lead.yaml:5:33: error[bad-pattern]: pattern is too large or too deeply nested to "
        "compile (simplify the regular expression)"
    ]
