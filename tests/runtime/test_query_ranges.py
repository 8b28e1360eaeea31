"""Range filters on number, date and datetime fields: both ends included, bad ones named."""

from __future__ import annotations

import pytest

from engine.bundle import Bundle
from runtime.core import Runtime
from runtime.queries import QueryError, RecordQuery, field_ranges, list_records, readable_fields
from runtime.store import Store
from tests.runtime.test_cov_queries import setup  # noqa: F401  (three items: one, two, three)


def names(
    store: Store, bundle: Bundle, asked: dict[str, dict[str, str]], cap: int | None = None
) -> list[str]:
    form = bundle.forms["item"]
    ranges = field_ranges(form, readable_fields(form), asked)
    with store.read() as conn:
        page = list_records(conn, bundle, RecordQuery(("item",), ranges=ranges, count_cap=cap))
    return sorted(view.data["name"] for view in page.items)


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({"price": {"from": "12"}}, ["one", "two"]),  # from == value: included
        ({"price": {"to": "12"}}, ["three", "two"]),  # to == value: included
        ({"price": {"from": "12", "to": "12"}}, ["two"]),
        ({"price": {"from": "12.01", "to": "12.49"}}, []),
        ({"count": {"from": "-1", "to": "3"}}, ["one", "three"]),
        ({"due": {"from": "2026-01-06"}}, ["three", "two"]),
        ({"due": {"to": "2026-01-06"}}, ["one", "two"]),
        ({"due": {"from": "2026-01-05", "to": "2026-01-05"}}, ["one"]),
        # one is 02:00Z (written +08:00), two 02:00Z, three 03:00Z
        ({"at": {"from": "2026-01-05T02:00:00Z", "to": "2026-01-05T02:00:00Z"}}, ["one", "two"]),
        ({"at": {"from": "2026-01-05T10:30:00+08:00"}}, ["three"]),
        ({"at": {"to": "2026-01-05T02:59:59.999999Z"}}, ["one", "two"]),
        ({"at": {"to": "2026-01-05"}}, ["one", "three", "two"]),  # a date: the whole day
        ({"at": {"from": "2026-01-06"}}, []),
        ({"price": {"from": "", "to": ""}}, ["one", "three", "two"]),
        ({"price": {"from": "5", "to": "1"}}, []),  # from after to: an empty range
    ],
)
def test_ranges_include_both_ends(
    setup: tuple[Runtime, Bundle],  # noqa: F811
    store: Store,
    asked: dict[str, dict[str, str]],
    expected: list[str],
) -> None:
    _, bundle = setup
    assert names(store, bundle, asked) == expected


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"price": {"from": "cheap"}}, "field.price.from: 'cheap' is not a number"),
        ({"due": {"to": "31/12/2026"}}, "field.due.to: '31/12/2026' is not a date (YYYY-MM-DD)"),
        ({"kind": {"from": "a"}}, "field.kind: a enum field has no range"),
        ({"nope": {"from": "1"}}, "'nope' is not a field of this entity"),
    ],
)
def test_bad_ranges_are_named(
    setup: tuple[Runtime, Bundle],  # noqa: F811
    asked: dict[str, dict[str, str]],
    message: str,
) -> None:
    _, bundle = setup
    form = bundle.forms["item"]
    with pytest.raises(QueryError) as caught:
        field_ranges(form, readable_fields(form), asked)
    assert any(p.message.startswith(message) for p in caught.value.problems), caught.value.problems


def test_a_capped_count_says_so_and_still_pages(
    setup: tuple[Runtime, Bundle],  # noqa: F811
    store: Store,
) -> None:
    _, bundle = setup
    with store.read() as conn:
        page = list_records(conn, bundle, RecordQuery(("item",), limit=1, count_cap=2))
        assert (page.total, page.capped, page.next) == (2, True, 1)
        last = list_records(conn, bundle, RecordQuery(("item",), limit=1, offset=2, count_cap=2))
        assert len(last.items) == 1 and last.next is None
        whole = list_records(conn, bundle, RecordQuery(("item",), limit=5))
        assert (whole.total, whole.capped, whole.next) == (3, False, None)
