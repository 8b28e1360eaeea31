"""A listing's count within a time budget: past it, "more than" the records shown."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text

from engine.bundle import Bundle
from runtime import timebox
from runtime.core import Runtime
from runtime.queries import RecordQuery, list_records
from runtime.store import Store
from tests.runtime.test_cov_queries import setup  # noqa: F401  (three items: one, two, three)

SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 200000000) SELECT count(*) FROM c",
    "postgresql": "SELECT count(*) FROM generate_series(1, 2000000000)",
}


def test_a_statement_within_its_budget_answers(store: Store) -> None:
    with store.read() as conn:
        assert timebox.scalar_within(conn, select(text("41 + 1")), 5.0) == 42


def test_a_statement_past_its_budget_is_stopped_and_the_connection_goes_on(
    store: Store, backend: str
) -> None:
    with store.read() as conn:
        assert timebox.scalar_within(conn, text(SLOW[backend]), 0.05) is None
        # the connection still reads, and (PostgreSQL) no timeout is left behind
        assert conn.execute(text("SELECT 7")).scalar_one() == 7
        if backend == "postgresql":
            assert conn.execute(text("SHOW statement_timeout")).scalar_one() == "0"


def test_another_error_is_not_taken_for_a_timeout(store: Store) -> None:
    with store.read() as conn, pytest.raises(Exception, match="no_such_table"):
        timebox.scalar_within(conn, text("SELECT count(*) FROM no_such_table"), 5.0)


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (1, (1, True, 1)),  # more records follow: "more than 1"
        (5, (3, False, None)),  # the page holds them all: the total is exact anyway
    ],
)
def test_a_count_out_of_time_says_more_than_the_page(
    setup: tuple[Runtime, Bundle],  # noqa: F811
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    limit: int,
    expected: tuple[int, bool, int | None],
) -> None:
    _, bundle = setup
    asked: list[float] = []

    def out_of_time(conn: Any, statement: Any, seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(timebox, "scalar_within", out_of_time)
    query = RecordQuery(("item",), limit=limit, count_cap=100, count_seconds=0.25)
    with store.read() as conn:
        page = list_records(conn, bundle, query)
    assert (page.total, page.capped, page.next) == expected
    assert asked == [0.25]
    # Without a budget the count is exact and timebox is not asked.
    with store.read() as conn:
        whole = list_records(conn, bundle, RecordQuery(("item",), limit=limit, count_cap=100))
    assert (whole.total, whole.capped) == (3, False) and asked == [0.25]
