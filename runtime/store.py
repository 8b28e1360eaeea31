"""The store: one engine, transactions that commit whole or not at all, schema upkeep."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert
from sqlmodel import SQLModel

from runtime import migrate, models
from runtime.db import READ_ONLY, is_sqlite, make_engine

T_RECORD: Table = models.Record.__table__  # type: ignore[attr-defined]
T_STAY: Table = models.StageStay.__table__  # type: ignore[attr-defined]
T_EVENT: Table = models.Event.__table__  # type: ignore[attr-defined]
T_EVIDENCE: Table = models.Evidence.__table__  # type: ignore[attr-defined]
T_DECISION: Table = models.Decision.__table__  # type: ignore[attr-defined]
T_ALERT: Table = models.Alert.__table__  # type: ignore[attr-defined]
T_TIMER: Table = models.Timer.__table__  # type: ignore[attr-defined]
T_OUTBOX: Table = models.Outbox.__table__  # type: ignore[attr-defined]
T_LOAD: Table = models.Assignment.__table__  # type: ignore[attr-defined]
T_SCHEDULE: Table = models.ScheduleRun.__table__  # type: ignore[attr-defined]
T_FORECAST: Table = models.ForecastSnapshot.__table__  # type: ignore[attr-defined]
T_BUNDLE: Table = models.BundleVersion.__table__  # type: ignore[attr-defined]


@dataclass
class Tx:
    """One transaction: a connection, the time it runs at, who acts, and what it wrote.

    Everything written through one Tx commits together or not at all.
    """

    conn: Connection
    now: datetime
    actor: str | None = None
    bundle_hash: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def postgres(self) -> bool:
        """Tell whether this transaction runs on PostgreSQL."""
        return self.conn.dialect.name == "postgresql"

    def event(self, kind: str, record_id: str | None, entity: str | None, **detail: Any) -> None:
        """Append an entry to the audit/event log."""
        row = {
            "at": self.now,
            "record_id": record_id,
            "entity": entity,
            "kind": kind,
            "actor": self.actor,
            "bundle_hash": self.bundle_hash,
            "detail": detail,
        }
        self.conn.execute(insert(T_EVENT), row)
        self.events.append(row)

    def decision(
        self, record_id: str | None, kind: str, rule: str, outcome: str, detail: dict[str, Any]
    ) -> None:
        """Keep why an automated decision came out as it did."""
        self.conn.execute(
            insert(T_DECISION),
            {
                "record_id": record_id,
                "kind": kind,
                "rule": rule,
                "at": self.now,
                "outcome": outcome[:255],
                "detail": detail,
            },
        )


class Store:
    """A database holding sopflow's state (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, schema: str | None = None, upgrade: bool = True) -> Store:
        """Connect to `url`; bring the schema up to date unless `upgrade` is False."""
        store = cls(make_engine(url, schema=schema))
        if upgrade:
            store.upgrade()
        return store

    @property
    def sqlite(self) -> bool:
        """Tell whether this store is SQLite."""
        return is_sqlite(self.engine)

    def upgrade(self) -> str:
        """Create or upgrade the schema (Alembic migrations); return its version."""
        return migrate.upgrade(self.engine)

    def version(self) -> str | None:
        """Return the schema version of the database."""
        return migrate.current(self.engine)

    @contextmanager
    def begin(
        self, now: datetime, actor: str | None = None, bundle_hash: str | None = None
    ) -> Iterator[Tx]:
        """Open a transaction that commits when the block ends and rolls back on error."""
        with self.engine.begin() as conn:
            yield Tx(conn, now, actor, bundle_hash)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Open a connection for reads (on SQLite it never takes the write lock)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(**{READ_ONLY: True})

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def metadata() -> Any:
    """Return the SQLAlchemy metadata of sopflow's tables."""
    return SQLModel.metadata
