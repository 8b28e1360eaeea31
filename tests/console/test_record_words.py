"""How the record page says values, problems and names in words, and reads typed form text
(pure functions of api/console/record.py: no app, no store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.console.record import _name, _typed, number, problem_text, shown_value
from engine.bundle import CompiledForm
from engine.compiler.pipeline import compile_bundle
from runtime.errors import Problem

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"


@pytest.fixture(scope="module")
def lead_form() -> CompiledForm:
    result = compile_bundle(DEFINITIONS)
    assert result.bundle is not None
    return result.bundle.forms["lead"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "True"),
        ("12", "12"),
        (7, "7"),
        (2.5, "2.5"),
        (1 / 3, "0.3333"),
        (-0.00001, "0"),
        (0.0, "0"),
    ],
)
def test_a_number_is_said_with_at_most_four_decimals(value: Any, text: str) -> None:
    assert number(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "not set"),
        ("", "not set"),
        ([], "not set"),
        (False, "no"),
        (True, "yes"),
        (3, "3"),
        (0.125, "0.125"),
        (["a", 2, None], "a, 2, not set"),
        ({"min": 1, "max": None}, "min: 1, max: not set"),
        ("text", "text"),
    ],
)
def test_a_value_is_said_in_words(value: Any, text: str) -> None:
    assert shown_value(value) == text


def test_a_problem_names_its_field_by_title(lead_form: CompiledForm) -> None:
    name, spec = next((n, s) for n, s in lead_form.spec.fields.items() if s.title)
    bare = Problem("required", "is required", name)
    assert problem_text(bare, lead_form) == f"{spec.title}: is required"
    prefixed = Problem("required", f"{name}: is required", name)
    assert problem_text(prefixed, lead_form) == f"{spec.title}: is required"
    assert problem_text(prefixed) == f"{name}: is required"  # no form: as it came
    other = Problem("bad", "nowhere: no such field", "nowhere")
    assert problem_text(other, lead_form) == "nowhere: no such field"
    loose = Problem("bad", "the record is read-only")
    assert problem_text(loose, lead_form) == "the record is read-only"


def test_a_record_is_named_by_its_title_else_its_first_text_field_else_its_id() -> None:
    assert _name({"name": "Pharmacy A"}, {}, "r1") == "Pharmacy A"
    layout = [
        {
            "fields": [{"field": "score"}],
            "sections": [{"fields": [{"field": "blank"}, {"field": "city"}]}],
        }
    ]
    data = {"score": 3, "blank": "", "city": "Chengdu"}
    assert _name({"layout": layout}, data, "r1") == "Chengdu"
    assert _name({"layout": layout}, {"score": 3}, "r1") == "r1"
    assert _name({}, data, "r2") == "r2"


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        ("integer", "42", 42),
        ("decimal", "12.50", "12.50"),
        ("boolean", "yes", True),
        ("boolean", "no", False),
        ("list", "a, b,, c ", ["a", "b", "c"]),
        ("multi_enum", "x", ["x"]),
        ("string", " as typed ", " as typed "),
    ],
)
def test_form_text_is_read_as_the_fields_type(kind: str, text: str, value: Any) -> None:
    assert _typed(kind, text) == value


@pytest.mark.parametrize(
    ("kind", "text"), [("integer", "4.5"), ("decimal", "ten"), ("boolean", "true")]
)
def test_form_text_that_is_not_of_the_type_is_refused(kind: str, text: str) -> None:
    with pytest.raises(ValueError):
        _typed(kind, text)
