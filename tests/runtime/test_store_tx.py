"""A store transaction's details: how it begins on SQLite, its time, what listeners see."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from runtime.store import Store, db_time

NOW = datetime(2026, 3, 2, 9, 30, 15, 250, tzinfo=UTC)


def _locked_for(path: Path) -> bool:
    """Tell whether another connection is kept from taking the write lock now."""
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc)
        return True
    else:
        other.execute("ROLLBACK")
        return False
    finally:
        other.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    opened = Store.open(f"sqlite:///{tmp_path / 'sopflow.db'}")
    try:
        yield opened, tmp_path / "sopflow.db"
    finally:
        opened.dispose()


@pytest.mark.parametrize("listening", [False, True])
def test_a_command_takes_the_write_lock_at_once_and_a_read_never(
    sqlite_store: Any, listening: bool
) -> None:
    store, path = sqlite_store
    sent: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        sent.append(statement)

    if listening:
        event.listen(store.engine, "before_cursor_execute", note)
    try:
        with store.begin(NOW, "ana") as tx:
            # nothing written yet: the lock is taken by BEGIN IMMEDIATE itself
            assert _locked_for(path)
            assert tx.conn.connection.dbapi_connection.in_transaction
        assert not _locked_for(path)
        with store.read() as conn:
            conn.exec_driver_sql("SELECT 1").all()
            assert not _locked_for(path)
    finally:
        if listening:
            event.remove(store.engine, "before_cursor_execute", note)
    # a listener sees the BEGIN of both (it is how statement counts find them); without
    # one the BEGIN goes straight to the driver and nothing is noted
    assert sent == (["BEGIN IMMEDIATE", "BEGIN", "SELECT 1"] if listening else [])


def test_a_transaction_gives_its_time_as_the_driver_stores_it(store: Store) -> None:
    later = NOW + timedelta(hours=1, microseconds=1)
    with store.begin(NOW, "ana") as tx:
        assert tx.now == NOW.replace(tzinfo=None)  # stored as naive UTC
        if tx.postgres:
            assert tx.time(tx.now) == tx.now and tx.time(later) == later
        else:
            assert tx.time(tx.now) == "2026-03-02 09:30:15.000250" == db_time(NOW, False)
            assert tx.time(later) == "2026-03-02 10:30:15.000251"
            # an equal time that is another object is converted, not taken for `now`
            assert tx.time(NOW.replace()) == "2026-03-02 09:30:15.000250"
        assert tx.time(None) is None


def test_statements_a_transaction_sends_reach_a_listener_added_before_it(store: Store) -> None:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        with store.begin(NOW, "ana") as tx:
            tx.event("noted", None, None, what="x")
    finally:
        event.remove(store.engine, "before_cursor_execute", note)
    inserts = [s for s in seen if s.startswith("INSERT INTO sf_event")]
    assert len(inserts) == 1
    with store.begin(NOW, "ana") as tx:  # no listener now: the event is still written
        tx.event("noted", None, None, what="y")
    with store.read() as conn:
        kinds = conn.exec_driver_sql("SELECT kind, actor FROM sf_event ORDER BY id").all()
    assert [tuple(k) for k in kinds] == [("noted", "ana"), ("noted", "ana")]
