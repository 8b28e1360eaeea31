"""A required text field refuses a blank value (only whitespace) on create, update and ingest."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.core import Runtime
from runtime.errors import Invalid
from runtime.store import T_RECORD, Store
from tests.runtime.helpers import count, make_runtime

OPPORTUNITY = {"pharmacy_name": "Kang Pharmacy", "region": "sichuan"}
LEAD = {"source": "jd_health", "external_id": "A-17", "pharmacy_name": "Kang"}


@pytest.fixture
def rt(store: Store, tmp_path: Path) -> Runtime:
    return make_runtime(store, tmp_path)


def problems(caught: pytest.ExceptionInfo[Invalid]) -> list[tuple[str, str | None, str]]:
    return [(p.code, p.field, p.message) for p in caught.value.problems]


@pytest.mark.parametrize("blank", ["", " ", " \t\n ", "\u3000"])
def test_create_refuses_a_blank_required_text(rt: Runtime, store: Store, blank: str) -> None:
    with pytest.raises(Invalid) as caught:
        rt.create("opportunity", {**OPPORTUNITY, "pharmacy_name": blank})
    assert problems(caught) == [
        ("blank", "pharmacy_name", "pharmacy_name: is required and may not be blank")
    ]
    assert count(store, T_RECORD) == 0


def test_a_blank_is_listed_with_the_other_problems(rt: Runtime) -> None:
    with pytest.raises(Invalid) as caught:
        rt.create("opportunity", {"pharmacy_name": "  ", "region": "tibet"})
    assert [(code, field) for code, field, _ in problems(caught)] == [
        ("literal_error", "region"),
        ("blank", "pharmacy_name"),
    ]


def test_update_refuses_a_blank_required_text(rt: Runtime) -> None:
    record = rt.create("opportunity", OPPORTUNITY)
    with pytest.raises(Invalid) as caught:
        rt.update(record.id, {"pharmacy_name": "   "})
    assert problems(caught) == [
        ("blank", "pharmacy_name", "pharmacy_name: is required and may not be blank")
    ]
    assert rt.get(record.id).data["pharmacy_name"] == "Kang Pharmacy"


def test_ingest_refuses_a_blank_required_text_after_normalising(rt: Runtime) -> None:
    # pharmacy_name is trimmed and its spaces collapsed first: "  \t " becomes "".
    with pytest.raises(Invalid) as caught:
        rt.ingest("lead", {**LEAD, "pharmacy_name": "  \t "})
    assert problems(caught) == [
        ("blank", "pharmacy_name", "pharmacy_name: is required and may not be blank")
    ]
    with pytest.raises(Invalid) as caught:
        rt.ingest("lead", {**LEAD, "external_id": " "})
    assert [(code, field) for code, field, _ in problems(caught)] == [("blank", "external_id")]


def test_an_optional_text_may_be_blank_and_a_required_one_keeps_its_spaces(rt: Runtime) -> None:
    lead, _ = rt.ingest("lead", {**LEAD, "district": " "})
    assert lead.data["district"] == ""
    assert (
        rt.create("opportunity", {**OPPORTUNITY, "pharmacy_name": " K "}).data["pharmacy_name"]
        == " K "
    )
