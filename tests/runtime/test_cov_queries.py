"""Record listings filtered by decimal, boolean, date and datetime fields; bad values named."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.queries import (
    QueryError,
    RecordQuery,
    field_filters,
    list_records,
    queue_sizes,
    readable_fields,
    sort_keys,
)
from runtime.store import Store

BUNDLE = """kind: bundle
version: 1
name: filters
timezone: UTC
roles: [rep]
users:
  li.wei: {roles: [rep]}
---
kind: form
version: 1
entity: item
fields:
  name: {type: string}
  price: {type: decimal}
  count: {type: integer}
  active: {type: boolean}
  due: {type: date}
  at: {type: datetime}
  kind: {type: enum, values: [a, b]}
  tags: {type: multi_enum, values: [x, y]}
"""


@pytest.fixture
def setup(store: Store, tmp_path: Path) -> tuple[Runtime, Bundle]:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(BUNDLE)
    bundle = compile_bundle(tmp_path / "b").bundle
    assert bundle is not None
    rt = Runtime(bundle, store, FakeClock(datetime(2026, 1, 5, 9)), evidence_dir=tmp_path / "ev")
    rows = [
        ("one", 12.5, 3, True, "2026-01-05", "2026-01-05T10:00:00+08:00", "a"),
        ("two", 12.0, 12, False, "2026-01-06", "2026-01-05T02:00:00Z", "b"),
        ("three", 0.1, -1, True, "2026-12-31", "2026-01-05T03:00:00Z", "a"),
    ]
    for name, price, count, active, due, at, kind in rows:
        data = {"name": name, "price": price, "count": count, "active": active, "due": due}
        rt.create("item", {**data, "at": at, "kind": kind}, actor="li.wei")
    return rt, bundle


def names(store: Store, bundle: Bundle, asked: dict[str, list[str]]) -> list[str]:
    form = bundle.forms["item"]
    filters = field_filters(form, readable_fields(form), asked)
    with store.read() as conn:
        page = list_records(conn, bundle, RecordQuery(("item",), fields=filters))
    return sorted(view.data["name"] for view in page.items)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({"price": ["12.5"]}, ["one"]),
        ({"price": ["12.50", "0.1"]}, ["one", "three"]),
        ({"price": ["12"]}, ["two"]),  # 12 and 12.0 are the same number
        ({"price": ["1.25e1"]}, ["one"]),
        ({"count": ["12"]}, ["two"]),
        ({"count": ["-1"]}, ["three"]),
        ({"active": ["true"]}, ["one", "three"]),
        ({"active": ["YES"]}, ["one", "three"]),
        ({"active": ["0"]}, ["two"]),
        ({"active": ["false", "true"]}, ["one", "three", "two"]),
        ({"due": ["2026-01-05"]}, ["one"]),
        ({"due": ["2026-12-31", "2026-01-06"]}, ["three", "two"]),
        # The same instant written with another offset matches (stored in UTC).
        ({"at": ["2026-01-05T02:00:00+00:00"]}, ["one", "two"]),
        ({"at": ["2026-01-05T11:00:00+08:00"]}, ["three"]),
        ({"kind": ["a"], "active": ["true"]}, ["one", "three"]),
        ({"price": ["99"]}, []),
    ],
)
def test_typed_field_filters(
    setup: tuple[Runtime, Bundle], store: Store, asked: dict[str, list[str]], expected: list[str]
) -> None:
    _, bundle = setup
    assert names(store, bundle, asked) == expected


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"price": ["cheap"]}, "field.price: 'cheap' is not a number"),
        ({"price": ["inf"]}, "field.price: 'inf' is not a finite number"),
        ({"price": ["1e301"]}, "field.price: '1e301' is not a finite number"),
        ({"count": ["1.5"]}, "field.count: '1.5' is not an integer"),
        ({"count": [str(2**63)]}, "field.count: the integer is out of range (64 bits)"),
        ({"active": ["maybe"]}, "field.active: 'maybe' is not a boolean (true or false)"),
        ({"due": ["05/01/2026"]}, "field.due: '05/01/2026' is not a date (YYYY-MM-DD)"),
        ({"at": ["noon"]}, "field.at: 'noon' is not an ISO date and time"),
        ({"kind": ["c"]}, "field.kind: 'c' is not one of: a, b"),
        (
            {"tags": ["x"]},
            "field.tags: a multi_enum field holds a list; it cannot be filtered by equality",
        ),
    ],
)
def test_a_value_that_does_not_fit_the_field_is_named(
    setup: tuple[Runtime, Bundle], asked: dict[str, list[str]], message: str
) -> None:
    _, bundle = setup
    form = bundle.forms["item"]
    with pytest.raises(QueryError) as caught:
        field_filters(form, readable_fields(form), asked)
    assert [(p.code, p.message) for p in caught.value.problems] == [("bad-value", message)]


def test_every_problem_is_reported_at_once(setup: tuple[Runtime, Bundle]) -> None:
    _, bundle = setup
    form = bundle.forms["item"]
    with pytest.raises(QueryError) as caught:
        field_filters(form, readable_fields(form), {"prise": ["1"], "active": ["2"]})
    assert [p.code for p in caught.value.problems] == ["unknown-field", "bad-value"]
    assert "did you mean 'price'" in caught.value.problems[0].message


def test_sorting_on_typed_fields_with_a_blank_part_skipped(
    setup: tuple[Runtime, Bundle], store: Store
) -> None:
    _, bundle = setup
    form = bundle.forms["item"]
    keys = sort_keys(readable_fields(form), "-field.price, ,+due")
    assert [(k.name, k.descending, k.type) for k in keys] == [
        ("price", True, "decimal"),
        ("due", False, "date"),
    ]
    keys = sort_keys(readable_fields(form), "-field.price,field.due")
    with store.read() as conn:
        page = list_records(conn, bundle, RecordQuery(("item",), sort=keys))
    assert [v.data["name"] for v in page.items] == ["one", "two", "three"]
    with store.read() as conn:
        by_date = list_records(
            conn,
            bundle,
            RecordQuery(("item",), sort=sort_keys(readable_fields(form), "-field.due")),
        )
    assert [v.data["name"] for v in by_date.items] == ["three", "two", "one"]


def test_sort_keys_that_do_not_fit_are_named(setup: tuple[Runtime, Bundle]) -> None:
    _, bundle = setup
    form = bundle.forms["item"]
    with pytest.raises(QueryError) as caught:
        sort_keys(readable_fields(form), "field.prise,field.tags,created_at")
    problems = [(p.code, p.message) for p in caught.value.problems]
    assert problems[1] == ("bad-sort", "'tags' holds a list; it has no order")
    assert problems[0][0] == "unknown-sort"
    assert problems[0][1].startswith("cannot sort on 'field.prise' (did you mean 'field.price'?)")


def test_no_entity_lists_nothing_and_no_queue_counts_nothing(
    setup: tuple[Runtime, Bundle], store: Store
) -> None:
    _, bundle = setup
    with store.read() as conn:
        page = list_records(conn, bundle, RecordQuery(()))
        assert (page.items, page.total, page.next) == ([], 0, None)
        assert queue_sizes(conn, ["q1", "q2"], []) == {"q1": 0, "q2": 0}
        assert queue_sizes(conn, [], ["item"]) == {}
        assert queue_sizes(conn, ["q1"], ["item"]) == {"q1": 0}
