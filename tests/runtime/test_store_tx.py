"""A store transaction's details: how it begins on SQLite, its time, what listeners see."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, OperationalError

from runtime.db import make_engine
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


# -- SQLite: the writers' kept connection ---------------------------------------------------


def _driver_conn(tx: Any) -> Any:
    return tx.conn.connection.dbapi_connection


def test_sqlite_commands_share_one_kept_connection_and_a_failed_one_leaves_nothing(
    sqlite_store: Any,
) -> None:
    store, _ = sqlite_store
    with store.begin(NOW, "ana") as tx:
        first = _driver_conn(tx)
        tx.event("kept", None, None)
    with pytest.raises(RuntimeError), store.begin(NOW, "ana") as tx:
        assert _driver_conn(tx) is first
        failed = tx.conn
        tx.event("lost", None, None)
        raise RuntimeError("the command fails after writing")
    assert failed.closed  # a failed command gives its connection back to the pool
    with store.begin(NOW, "bob") as tx:
        assert tx.conn is not failed and not tx.conn.in_nested_transaction()
        kept = tx.conn
        tx.event("after", None, None)
    with store.begin(NOW, "bob") as tx:
        assert tx.conn is kept  # kept again from then on
    with store.read() as conn:
        kinds = [r[0] for r in conn.exec_driver_sql("SELECT kind FROM sf_event ORDER BY id")]
        reader = conn.connection.dbapi_connection
    assert kinds == ["kept", "after"]
    assert reader is not kept.connection.dbapi_connection  # reads never use the writers' one


def test_sqlite_an_invalidated_kept_connection_is_replaced(sqlite_store: Any) -> None:
    store, _ = sqlite_store
    with store.begin(NOW) as tx:
        first = _driver_conn(tx)
    store._writer.invalidate()
    with store.begin(NOW) as tx:
        second = _driver_conn(tx)
        tx.event("works", None, None)
    assert second is not first
    closed = store._writer
    closed.close()  # closed (not invalidated) is replaced too; its driver connection
    with store.begin(NOW) as tx:  # went back to the pool and may come out again
        assert tx.conn is not closed and not tx.conn.closed
        tx.event("works", None, None)
    store.dispose()
    assert store._writer is None


def test_sqlite_a_connection_asked_for_inside_a_command_is_another(sqlite_store: Any) -> None:
    store, _ = sqlite_store
    with store.begin(NOW) as tx, store._connection() as inner:
        assert inner.connection.dbapi_connection is not _driver_conn(tx)
    with store.begin(NOW) as tx:  # the kept one is free again afterwards
        kept = _driver_conn(tx)
    with store._connection() as again:
        assert again.connection.dbapi_connection is kept


def test_sqlite_commands_from_two_threads_take_turns_on_the_kept_connection(
    sqlite_store: Any,
) -> None:
    store, _ = sqlite_store
    failures: list[BaseException] = []

    def work(who: str) -> None:
        try:
            for i in range(40):
                with store.begin(NOW, who) as tx:
                    tx.event("turn", None, None, i=i)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in ("ana", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with store.read() as conn:
        counts = dict(
            conn.exec_driver_sql("SELECT actor, count(*) FROM sf_event GROUP BY actor").all()
        )
    assert counts == {"ana": 40, "bob": 40}


def test_postgresql_checks_a_connection_out_for_each_command(store: Store) -> None:
    with store.begin(NOW) as tx:
        postgres = tx.postgres
    assert (store._writer is None) == postgres  # only SQLite keeps one


# -- what a hand-written statement returns, watched or not ------------------------------------


@pytest.mark.parametrize("listening", [False, True])
def test_a_statement_gives_its_rows_and_a_driver_error_as_sqlalchemys(
    store: Store, listening: bool
) -> None:
    def note(*_: Any) -> None:
        return None

    if listening:
        event.listen(store.engine, "before_cursor_execute", note)
    try:
        with store.begin(NOW, "ana") as tx:
            tx.event("one", None, None)
            ran = tx.sql("SELECT kind, actor FROM sf_event WHERE kind = :kind", {"kind": "one"})
            assert [tuple(r) for r in ran.fetchall()] == [("one", "ana")]
            assert tuple(ran.fetchone()) == ("one", "ana")
            changed = tx.sql("UPDATE sf_event SET actor = :who WHERE kind = 'one'", {"who": "b"})
            assert changed.rows == [] and changed.rowcount == 1 and changed.fetchone() is None
        with pytest.raises(DBAPIError) as caught, store.begin(NOW) as tx:
            tx.sql("SELECT a_column FROM no_such_table WHERE id = :id", {"id": 1})
    finally:
        if listening:
            event.remove(store.engine, "before_cursor_execute", note)
    error = caught.value
    assert "no_such_table" in str(error.orig)  # the driver's own error, kept
    assert "no_such_table" in str(error.statement) and error.params == {"id": 1}


def test_an_event_is_stored_and_kept_for_the_commands_reactions(store: Store) -> None:
    with store.begin(NOW, "ana", "h1") as tx:
        tx.event("noted", "r1", "lead", score=3, why="x")
        kept = list(tx.events)
    assert kept == [
        {
            "at": tx.now,
            "record_id": "r1",
            "entity": "lead",
            "kind": "noted",
            "actor": "ana",
            "bundle_hash": "h1",
            "detail": {"score": 3, "why": "x"},
        }
    ]
    with store.read() as conn:
        row = conn.exec_driver_sql("SELECT kind, record_id, detail FROM sf_event").one()
    detail = row[2] if isinstance(row[2], dict) else json.loads(row[2])
    assert (row[0], row[1], detail) == ("noted", "r1", {"score": 3, "why": "x"})


def test_a_transactions_now_is_converted_once(store: Store) -> None:
    with store.begin(NOW) as tx:
        if not tx.postgres:  # the same text each time, not a new one per statement
            assert tx.time(tx.now) is tx.time(tx.now)
        assert tx.time(tx.now) == db_time(tx.now, tx.postgres)


def test_sqlite_a_command_whose_commit_fails_leaves_the_next_one_a_clean_connection(
    sqlite_store: Any,
) -> None:
    store, path = sqlite_store

    def refuse(conn: Any) -> None:
        raise RuntimeError("the disk is full")

    event.listen(store.engine, "commit", refuse)
    try:
        with pytest.raises(RuntimeError, match="disk is full"), store.begin(NOW, "ana") as tx:
            tx.event("lost", None, None)
    finally:
        event.remove(store.engine, "commit", refuse)
    assert not _locked_for(path)  # nothing holds the write lock any more
    with store.begin(NOW, "bob") as tx:  # and the next command runs and commits
        tx.event("kept", None, None)
    with store.read() as conn:
        kinds = [r[0] for r in conn.exec_driver_sql("SELECT kind FROM sf_event ORDER BY id")]
    assert kinds == ["kept"]


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_database_in_memory_opens(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar_one() == 1
    finally:
        engine.dispose()


def test_sqlite_a_begin_refused_by_a_held_lock_is_sqlalchemys_error(sqlite_store: Any) -> None:
    store, path = sqlite_store

    def impatient(dbapi_conn: Any, _: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    event.listen(store.engine, "connect", impatient)
    store.dispose()  # new connections wait 50 ms for a lock, not 30 s
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OperationalError) as caught, store.begin(NOW):
            pass
        assert "locked" in str(caught.value.orig) and caught.value.statement == "BEGIN IMMEDIATE"
    finally:
        other.execute("ROLLBACK")
        other.close()
    with store.begin(NOW, "ana") as tx:  # the lock is free again: the next command runs
        tx.event("after", None, None)


def test_sqlite_a_connection_used_after_its_command_does_not_keep_the_lock(
    sqlite_store: Any,
) -> None:
    store, path = sqlite_store
    with store.begin(NOW) as tx:
        late = tx.conn
    late.exec_driver_sql("SELECT 1").all()  # SQLAlchemy begins again, taking the lock
    assert _locked_for(path)
    with store.begin(NOW, "ana") as tx:  # the next command still runs, on another one
        assert tx.conn is not late
        tx.event("after", None, None)
    assert not _locked_for(path)


def test_a_transactions_time_follows_its_now(store: Store) -> None:
    with store.begin(NOW) as tx:
        later = tx.now + timedelta(minutes=5)
        tx.now = later
        assert tx.time(tx.now) == db_time(later, tx.postgres)
