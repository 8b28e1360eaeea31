"""How a pydantic error location becomes a path in the analyst's data, and the model there."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from engine.compiler.parse import data_path, model_at
from engine.spec import FormSpec
from engine.spec.form import CanonicalMap, FieldSpec


class Leaf(BaseModel):
    x: int = 0


class Holder(BaseModel):
    items: Annotated[list[Leaf], Field(min_length=1)] | None = None
    named: dict[str, Leaf] = {}
    plain: int = 0


def test_model_at_follows_fields_lists_dicts_and_annotated_unions() -> None:
    assert model_at(Holder, ("items", 0)) is Leaf
    assert model_at(Holder, ("named", "a")) is Leaf
    assert model_at(FormSpec, ("fields", "a", "normalize", 1, "canonical")) is CanonicalMap
    assert model_at(FormSpec, ("fields", "a")) is FieldSpec


def test_model_at_finds_nothing_off_the_model() -> None:
    assert model_at(Holder, ("nope",)) is None
    assert model_at(Holder, ("plain", "x")) is None
    assert model_at(Holder, ("items", "x")) is None
    assert model_at(Holder, ("plain",)) is None


def test_data_path_drops_union_tags_and_keys_under_a_scalar() -> None:
    data = {"fields": {"a": {"min": True}}}
    assert data_path(data, ("fields", "a", "min", "float")) == (("fields", "a", "min"), True)
    assert data_path(data, ("fields", "a", "min", "x")) == (("fields", "a", "min"), True)
    # A key absent from the data ends the path; what pydantic located under it is dropped.
    assert data_path(data, ("fields", "b")) == (("fields", "b"), False)
    assert data_path(data, ("fields", "b", "type")) == (("fields", "b"), True)
    assert data_path({"l": [1]}, ("l", 3)) == (("l", 3), False)
