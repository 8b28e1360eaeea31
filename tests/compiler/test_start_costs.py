"""What the compiler does cheaply since issue 14 (start-up time), pinned at the edges.

Test documents are told apart without the test spec models; deep_freeze answers leaves
with one lookup; the cron gap check stops as soon as the overnight gap cannot win and
remembers each cron. Each keeps the answers it gave before.
"""

from __future__ import annotations

import enum
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import pytest
from pydantic import BaseModel, ConfigDict

import engine.spec.testing
from engine.crongap import shortest_gap_minutes
from engine.frozen import FrozenDict, FrozenList, deep_freeze
from engine.testkind import TEST_KIND, is_test

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kind": "test", "version": 1}, True),
        ({"kind": "form"}, False),
        ({"kind": "Test"}, False),
        ({}, False),
        (["kind", "test"], False),
        ("kind: test", False),
        (None, False),
    ],
)
def test_is_test_reads_the_kind_of_a_mapping(data: object, expected: bool) -> None:
    assert is_test(SimpleNamespace(data=data)) is expected


def test_is_test_of_something_without_data_is_false() -> None:
    assert is_test(object()) is False


def test_the_test_spec_module_still_offers_the_same_names() -> None:
    assert TEST_KIND == "test"
    assert engine.spec.testing.TEST_KIND is TEST_KIND
    assert engine.spec.testing.is_test is is_test


def test_the_compiler_does_not_build_the_test_models() -> None:
    code = "import sys, engine.compiler.pipeline; print('engine.spec.testing' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "False"


class Colour(enum.StrEnum):
    RED = "red"


@pytest.mark.parametrize("leaf", ["text", "", 0, 7, -1.5, True, False, None, Colour.RED])
def test_deep_freeze_returns_a_leaf_itself(leaf: object) -> None:
    assert deep_freeze(leaf) is leaf


def test_deep_freeze_keeps_frozen_containers_and_freezes_what_is_inside_others() -> None:
    done_dict, done_list = FrozenDict({"a": [1]}), FrozenList([{"b": 2}])
    assert deep_freeze(done_dict) is done_dict
    assert deep_freeze(done_list) is done_list
    value = ({"x": [1, {"y": "z"}]}, MappingProxyType({"k": [2]}))
    frozen = deep_freeze(value)
    assert type(frozen) is tuple
    assert type(frozen[0]) is FrozenDict and type(frozen[0]["x"]) is FrozenList
    assert type(frozen[0]["x"][1]) is FrozenDict
    assert type(frozen[1]) is MappingProxyType and type(frozen[1]["k"]) is FrozenList
    assert frozen == ({"x": [1, {"y": "z"}]}, MappingProxyType({"k": [2]}))
    with pytest.raises(TypeError, match=r"^a compiled Bundle is read-only$"):
        frozen[0]["x"].append(3)
    with pytest.raises(TypeError, match=r"^a compiled Bundle is read-only$"):
        frozen[0]["y"] = 1


class Loose(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    items: list[int]
    inner: dict[str, list[str]]
    name: str


@dataclass(frozen=True)
class Holder:
    rows: list[dict[str, int]]
    label: str


def test_deep_freeze_freezes_the_fields_and_extras_of_a_model_in_place() -> None:
    model = Loose(items=[1, 2], inner={"a": ["b"]}, name="n", more={"k": [3]})
    assert deep_freeze(model) is model
    assert type(model.items) is FrozenList and model.items == [1, 2]
    assert type(model.inner) is FrozenDict and type(model.inner["a"]) is FrozenList
    assert model.name == "n"
    extra = model.__pydantic_extra__
    assert type(extra) is FrozenDict and extra == {"more": {"k": [3]}}
    assert type(extra["more"]) is FrozenDict and type(extra["more"]["k"]) is FrozenList
    assert Loose(items=[], inner={}, name="m").__pydantic_extra__ == {}


def test_deep_freeze_freezes_the_fields_of_a_dataclass_but_not_the_class() -> None:
    holder = Holder([{"a": 1}], "x")
    assert deep_freeze(holder) is holder
    assert type(holder.rows) is FrozenList and type(holder.rows[0]) is FrozenDict
    assert holder.rows == [{"a": 1}] and holder.label == "x"
    assert deep_freeze(Holder) is Holder
    assert Holder.__dataclass_fields__["rows"].name == "rows"


@pytest.mark.parametrize(
    ("cron", "minutes"),
    [
        ("* * * * *", 1),
        ("*/15 * * * *", 15),
        ("0 9,17 * * *", 480),  # within a day: 8 h, overnight 16 h
        ("0 0,12 * * *", 720),  # within == overnight: exactly at the early exit's edge
        ("30 0,23 * * *", 60),  # overnight (23:30 -> 00:30) is shorter than within
        ("0 9 * * 1-5", 1440),  # one run a day: across days only
        ("0 23 * * *", 1440),
        ("0 0 1 * *", 28 * 1440),  # monthly: February is the shortest month
        ("0 8 1 * *", 28 * 1440),
        ("0 0 29 2 *", 1461 * 1440),  # leap days, four years apart
        ("0 0 30 2 *", None),  # never runs
        ("0 0,12 30 2 *", 720),  # never runs, but twice a day if it did (as before)
        ("0 9 * * MON-FRI", 1440),  # names, in any case
        ("0 9 * * sat,sun", 1440),
        ("0 9 * * fri-sat", 1440),
        ("0 9 * * 0", 7 * 1440),  # Sunday as 0 ...
        ("0 9 * * 7", 7 * 1440),  # ... and as 7
        ("0 0 1 jan,JUL *", 181 * 1440),  # 1 January to 1 July (2025: no leap day)
        ("0 0 1 jan-feb *", 31 * 1440),
        ("5/20 * * * *", 20),  # a step from a start runs to the end of the range
        ("0 6-8/2 * * *", 120),
    ],
)
def test_shortest_gap_minutes(cron: str, minutes: int | None) -> None:
    shortest_gap_minutes.cache_clear()
    assert shortest_gap_minutes(cron) == minutes
    assert shortest_gap_minutes(cron) == minutes  # the remembered answer is the same


def test_shortest_gap_minutes_remembers_each_cron() -> None:
    shortest_gap_minutes.cache_clear()
    for _ in range(3):
        shortest_gap_minutes("0 0 1 * *")
    info = shortest_gap_minutes.cache_info()
    assert (info.hits, info.misses) == (2, 1)
