"""The store: one engine, transactions that commit whole or not at all, schema upkeep."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from runtime import migrate, models
from runtime.clock import utc
from runtime.db import READ_ONLY, dumps, is_sqlite, loads, make_engine, watched

T_RECORD: Table = models.Record.__table__  # type: ignore[attr-defined]
T_STAY: Table = models.StageStay.__table__  # type: ignore[attr-defined]
T_EVENT: Table = models.Event.__table__  # type: ignore[attr-defined]
T_EVIDENCE: Table = models.Evidence.__table__  # type: ignore[attr-defined]
T_DECISION: Table = models.Decision.__table__  # type: ignore[attr-defined]
T_ALERT: Table = models.Alert.__table__  # type: ignore[attr-defined]
T_TIMER: Table = models.Timer.__table__  # type: ignore[attr-defined]
T_OUTBOX: Table = models.Outbox.__table__  # type: ignore[attr-defined]
T_LOAD: Table = models.Assignment.__table__  # type: ignore[attr-defined]
T_ASSIGNMENT: Table = models.NamedAssignment.__table__  # type: ignore[attr-defined]
T_SCHEDULE: Table = models.ScheduleRun.__table__  # type: ignore[attr-defined]
T_FORECAST: Table = models.ForecastSnapshot.__table__  # type: ignore[attr-defined]
T_BUNDLE: Table = models.BundleVersion.__table__  # type: ignore[attr-defined]
T_REEVAL: Table = models.Reevaluation.__table__  # type: ignore[attr-defined]
T_SNAPSHOT: Table = models.MetricSnapshotRow.__table__  # type: ignore[attr-defined]


# -- hot-path SQL -------------------------------------------------------------------------
# The statements a transition or a tick sends many times are written out once as SQL
# text with `:name` parameters and run with `exec_driver_sql`: no statement is built,
# compiled or cache-keyed per call (profiles showed that to be most of a command's
# time). Values cross in the driver's own terms: on SQLite, datetimes as the text
# SQLAlchemy stores and JSON as text; on PostgreSQL, as they are.

_NAMED = re.compile(r"(?<!:):(\w+)")


@lru_cache(maxsize=256)
def driver_sql(text: str, postgres: bool) -> str:
    """Return `text` (with `:name` parameters) in the driver's parameter style."""
    return _NAMED.sub(r"%(\1)s", text) if postgres else text


def is_postgres(conn: Connection) -> bool:
    """Tell whether a connection talks to PostgreSQL."""
    return bool(conn.dialect.name == "postgresql")


@dataclass(frozen=True)
class Ran:
    """What one hand-written statement returned: its rows (all read) and rowcount."""

    rows: list[Any]
    rowcount: int

    def fetchone(self) -> Any:
        """Return the first row, or None."""
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Any]:
        """Return every row (they index by position)."""
        return self.rows


def run_sql(conn: Connection, text: str, params: Mapping[str, Any]) -> Ran:
    """Run one hand-written statement (`:name` parameters) on `conn`.

    Its rows are read at once and its cursor closed, so no statement stays open on the
    connection. When something listens to the connection's statements (statement
    counters, tracing), the statement goes through SQLAlchemy so they see it; otherwise
    straight to the driver's cursor, in the connection's transaction. Driver errors are
    raised as SQLAlchemy's, as `Connection.execute` raises them.
    """
    return _run(conn, driver_sql(text, is_postgres(conn)), params, watched(conn))


def _run(conn: Connection, sql: str, params: Mapping[str, Any], watch: bool) -> Ran:
    """Run a statement already in the driver's style (`watch`: through SQLAlchemy)."""
    if watch:
        result = conn.exec_driver_sql(sql, dict(params))
        found: list[Any] = list(result.fetchall()) if result.returns_rows else []
        result.close()
        return Ran(found, result.rowcount)
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        rows: list[Any] = list(cursor.fetchall()) if cursor.description is not None else []
        return Ran(rows, cursor.rowcount)
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, dict(params), exc, dbapi.Error) from exc
    finally:
        cursor.close()


def db_time(value: datetime | None, postgres: bool) -> Any:
    """Return a datetime as the driver stores it (SQLite: SQLAlchemy's text form)."""
    if value is None or postgres:
        return value
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


def py_time(value: Any) -> datetime | None:
    """Return a datetime column's value read through the driver as a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def db_json(value: Any) -> str:
    """Return a JSON column's value as the driver takes it (text on both databases)."""
    return dumps(value)


def py_json(value: Any) -> Any:
    """Return a JSON column's value read through the driver as Python data."""
    return loads(value) if isinstance(value, (str, bytes)) else value


_INSERT_EVENT = (
    "INSERT INTO sf_event (at, record_id, entity, kind, actor, bundle_hash, detail) "
    "VALUES (:at, :record_id, :entity, :kind, :actor, :bundle_hash, :detail)"
)


_INSERT_DECISION = (
    "INSERT INTO sf_decision (record_id, kind, rule, at, outcome, detail, version) "
    "VALUES (:record_id, :kind, :rule, :at, :outcome, :detail, :version)"
)


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
    postgres: bool = field(init=False)
    # Read once per transaction (a command sends about ten statements): whether
    # statements go through SQLAlchemy for a listener, and `now` as the driver stores it.
    _watched: bool = field(init=False, repr=False)
    _now: tuple[datetime, Any] = field(init=False, repr=False)  # (now, as stored)

    def __post_init__(self) -> None:
        self.postgres = is_postgres(self.conn)
        self._watched = watched(self.conn)
        self._now = (self.now, db_time(self.now, self.postgres))

    def sql(self, text: str, params: Mapping[str, Any]) -> Ran:
        """Run one hand-written statement (`:name` parameters) in this transaction."""
        return _run(self.conn, driver_sql(text, self.postgres), params, self._watched)

    def time(self, value: datetime | None) -> Any:
        """Return a datetime as this transaction's driver stores it."""
        now, stored = self._now
        return stored if value is now else db_time(value, self.postgres)

    def event(self, kind: str, record_id: str | None, entity: str | None, **detail: Any) -> None:
        """Append an entry to the audit/event log."""
        params = {
            "at": self.time(self.now),
            "record_id": record_id,
            "entity": entity,
            "kind": kind,
            "actor": self.actor,
            "bundle_hash": self.bundle_hash,
            "detail": db_json(detail),
        }
        self.sql(_INSERT_EVENT, params)
        self.events.append({**params, "at": self.now, "detail": detail})

    def decision(
        self,
        record_id: str | None,
        kind: str,
        rule: str,
        outcome: str,
        detail: dict[str, Any],
        version: str | None = None,
    ) -> None:
        """Keep why an automated decision came out as it did (and the rule's version)."""
        self.sql(
            _INSERT_DECISION,
            {
                "record_id": record_id,
                "kind": kind,
                "rule": rule,
                "at": self.time(self.now),
                "outcome": outcome[:255],
                "detail": db_json(detail),
                "version": version,
            },
        )


class Abandoned(Exception):
    """Whoever waited for this work gave up on it: its transaction is rolled back."""


class CommitGate:
    """Decides, once, between "the work commits" and "the work is abandoned".

    A caller that runs work in another thread and stops waiting for it (a request past
    its time) closes the gate; the work's transactions then roll back instead of
    committing. If a commit got through first, closing fails and the caller waits for
    the work's real outcome instead: a commit is never reported as not having happened.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = "open"  # open -> committed | closed

    def check(self) -> None:
        """Raise Abandoned when the gate is closed (before starting more work)."""
        if self._state == "closed":
            raise Abandoned("the caller stopped waiting; nothing was committed")

    def enter_commit(self) -> None:
        """Let a commit through, or raise Abandoned (rolling back) when closed."""
        with self._lock:
            self.check()
            self._state = "committed"

    def close(self) -> bool:
        """Refuse every later commit; return False when a commit already got through."""
        with self._lock:
            if self._state == "committed":
                return False
            self._state = "closed"
            return True


_GATE: ContextVar[CommitGate | None] = ContextVar("sopflow_commit_gate", default=None)


@contextmanager
def gated(gate: CommitGate) -> Iterator[CommitGate]:
    """Make every Store transaction opened inside the block pass `gate` to commit."""
    token = _GATE.set(gate)
    try:
        yield gate
    finally:
        _GATE.reset(token)


class Store:
    """A database holding sopflow's state (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Why: SQLite takes one writer at a time (BEGIN IMMEDIATE). Writers of this
        # process queue on a lock instead of on SQLite's busy handler, which polls with
        # sleeps of up to 100 ms; re-entrant, as a refusal is noted in a transaction of
        # its own. PostgreSQL runs writers side by side (row locks, row versions).
        self._writers = threading.RLock() if is_sqlite(engine) else None
        # SQLite: the writers' one connection, kept between commands (under `_writers`)
        # instead of checked out of the pool for each (decision 90).
        self._writer: Connection | None = None
        self._writing = False

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
        """Open a transaction that commits when the block ends and rolls back on error.

        Inside `gated(gate)` the commit must pass the gate: once the gate is closed
        (the caller stopped waiting) the transaction rolls back and raises Abandoned.
        """
        gate = _GATE.get()
        if gate is not None:
            gate.check()
        with self._writers or nullcontext(), self._connection() as conn, conn.begin():
            yield Tx(conn, utc(now), actor, bundle_hash)
            if gate is not None:
                gate.enter_commit()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection for one command's transaction.

        On SQLite, where writers take turns (`_writers`), it is one connection kept
        between commands: a pool checkout and a new SQLAlchemy Connection cost about
        20 us a command, a tenth of a transition. A command that fails gives it back
        to the pool (see below); a closed one is replaced (SQLAlchemy reconnects an
        invalidated one); a command begun inside another on the same thread (which the
        lock lets through) gets a pooled one. PostgreSQL checks one out each time.
        """
        if self._writers is None or self._writing:
            with self.engine.connect() as conn:
                yield conn
            return
        kept = self._writer
        if kept is not None and kept.in_transaction():
            # Used after its command's block ended (which SQLAlchemy answers by beginning
            # again): whatever it began goes back to the pool, which rolls it back.
            kept.close()
        if kept is None or kept.closed:  # (an invalidated one reconnects by itself)
            kept = self._writer = self.engine.connect()
        self._writing = True
        try:
            yield kept
        except BaseException:
            # Whatever failed (a refusal, or a COMMIT the database refused, which leaves
            # SQLite inside its transaction), the connection goes back to the pool, whose
            # reset rolls back what is left: the next command gets a clean one.
            self._writer = None
            kept.close()
            raise
        finally:
            self._writing = False

    @contextmanager
    def rehearse(
        self, now: datetime, actor: str | None = None, bundle_hash: str | None = None
    ) -> Iterator[Tx]:
        """Open a transaction that always rolls back: to see what writes would do.

        The pre-flight applies a definition migration here and checks the result
        (runtime/evolve.py); nothing of it is ever committed.
        """
        with self._writers or nullcontext(), self.engine.connect() as conn:
            outer = conn.begin()
            try:
                yield Tx(conn, utc(now), actor, bundle_hash)
            finally:
                outer.rollback()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Open a connection for reads (on SQLite it never takes the write lock)."""
        with self.engine.connect() as conn:
            yield conn.execution_options(**{READ_ONLY: True})

    def dispose(self) -> None:
        """Close every pooled connection (and the writers' kept one)."""
        with self._writers or nullcontext():
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()


def metadata() -> Any:
    """Return the SQLAlchemy metadata of sopflow's tables."""
    return SQLModel.metadata
