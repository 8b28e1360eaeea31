"""The store's schema comes up with one command, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, insert, inspect, select

from runtime import migrate
from runtime.store import T_EVENT, Store


def test_fresh_database_is_at_head(store: Store) -> None:
    assert store.version() == migrate.head()
    tables = set(inspect(store.engine).get_table_names())
    assert {"sf_record", "sf_stage_history", "sf_event", "sf_evidence", "sf_alert"} <= tables
    assert {"sf_timer", "sf_outbox", "sf_bundle_version", "sf_decision"} <= tables


def test_upgrade_twice_is_a_no_op(store: Store) -> None:
    assert store.upgrade() == migrate.head()
    assert store.upgrade() == migrate.head()


def test_a_failed_transaction_leaves_nothing(store: Store) -> None:
    now = datetime(2026, 1, 1)
    with pytest.raises(RuntimeError), store.begin(now) as tx:
        tx.event("created", "r1", "lead")
        raise RuntimeError("boom")
    with store.begin(now) as tx:
        tx.event("created", "r2", "lead")
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(T_EVENT)).scalar_one() == 1
        assert conn.execute(select(T_EVENT.c.record_id)).scalar_one() == "r2"


def test_an_open_read_never_blocks_a_command(store: Store) -> None:
    """A read holds no write lock: a command commits while a read is still open."""
    now = datetime(2026, 1, 1)
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(T_EVENT)).scalar_one() == 0
        with store.begin(now) as tx:
            tx.event("created", "r1", "lead")
    with store.read() as conn:
        assert conn.execute(select(T_EVENT.c.record_id)).scalar_one() == "r1"


def test_event_detail_round_trips_json(store: Store) -> None:
    with store.begin(datetime(2026, 1, 1), actor="li.wei") as tx:
        tx.conn.execute(
            insert(T_EVENT),
            {
                "at": tx.now,
                "kind": "k",
                "detail": {"a": [1, 2.5, "x", None, {"b": True}]},
            },
        )
    with store.read() as conn:
        assert conn.execute(select(T_EVENT.c.detail)).scalar_one() == {
            "a": [1, 2.5, "x", None, {"b": True}]
        }


def test_migrations_match_the_models(store: Store) -> None:
    """The versioned migrations create exactly the tables runtime/models.py declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    import runtime.access  # (its tables are part of the schema too)
    import runtime.sessions  # noqa: F401  (the console's passwords and sessions)

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_the_store_recovers_after_its_connections_are_cut(store: Store, backend: str) -> None:
    """A database restart cuts pooled connections: at most one command fails, then it heals."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from runtime.db import normalise_url
    from tests.runtime.conftest import PG_URL

    now = datetime(2026, 1, 1)
    with store.begin(now) as tx:
        tx.event("created", "r1", "lead")
    if backend == "postgresql":
        with store.read() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin = create_engine(normalise_url(PG_URL))
        with admin.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
        admin.dispose()
    failures = 0
    for attempt in range(3):
        try:
            with store.begin(now) as tx:
                tx.event("created", f"r{attempt + 2}", "lead")
            break
        except DBAPIError as exc:
            assert exc.connection_invalidated
            failures += 1
    assert failures <= 1
    with store.read() as conn:
        assert conn.execute(select(func.count()).select_from(T_EVENT)).scalar_one() == 2
