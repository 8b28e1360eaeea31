"""Database connections: SQLite (embedded default) or PostgreSQL (scale-out), one code path."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

DEFAULT_SQLITE = "var/sopflow.db"  # relative to the working directory (make run, every CLI command)
ENV_URL = "SOPFLOW_DATABASE_URL"


def database_url(default: str | Path = DEFAULT_SQLITE) -> str:
    """Return the database URL: $SOPFLOW_DATABASE_URL, else a SQLite file."""
    url = os.environ.get(ENV_URL, "").strip()
    return url or f"sqlite:///{default}"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """Create an engine tuned for sopflow: SQLite in WAL mode, PostgreSQL with a pool.

    `schema` (PostgreSQL only) puts every table in that schema, so that test runs or
    tenants sharing one database never see each other.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": dumps, "json_deserializer": loads}
    if parsed.get_backend_name() == "sqlite":
        if (
            parsed.database
            and parsed.database != ":memory:"
            and not parsed.database.startswith("file:")
        ):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        # (A database in memory gets SQLAlchemy's one-connection-per-thread pool, which
        # has no order to choose.)
        # Why: a connection's page cache is dropped whenever another connection wrote
        # since it last ran, and the pool's default (FIFO) hands out the connection idle
        # longest: with a few pooled connections (API worker threads, reads, background
        # jobs) a command nearly always began on a cold cache. Handing out the one
        # returned last keeps the writer's cache warm (served lead creation: about 10%
        # less CPU a request, 11% more requests/s).
        if not _in_memory(parsed.database, parsed.query):
            kwargs["pool_use_lifo"] = True
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Why: pysqlite opens transactions lazily and never for SELECT, so two writers
        # could both read a row version before either writes; BEGIN IMMEDIATE makes a
        # command's transaction take the write lock up front. Reads (Store.read) begin
        # deferred: in WAL mode they see a snapshot and never hold the write lock.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if schema:
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    # No pre-ping: it costs a round trip per command (about 15% of a transition here).
    # After a server restart the first command on a stale connection fails once;
    # SQLAlchemy sees the disconnect and drops every pooled connection, so the
    # next command reconnects (decision 39). Connections are recycled hourly.
    kwargs.update(pool_size=5, max_overflow=10, pool_pre_ping=False, pool_recycle=3600)
    return create_engine(url, **kwargs)


READ_ONLY = "sopflow_read_only"

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_pack = msgspec.msgpack.Encoder().encode
# A float that is not finite, as msgpack writes every float: 0xcb, then 8 bytes whose
# exponent bits are all set. A match inside other bytes only costs a stdlib encode.
_NOT_FINITE = re.compile(rb"\xcb[\x7f\xff][\xf0-\xff]")


def dumps(value: Any) -> str:
    """Return `value` as JSON text, as every JSON column and payload is stored.

    msgspec's C encoder (decision NN): UTF-8 text, no spaces. It writes a float that
    is not finite as `null` where the stdlib writes `NaN`/`Infinity`, so a value with
    such a float (looked for only when the text has a `null`), or that msgspec refuses
    (a lone surrogate, a `True` key), is written (or refused) by the stdlib instead:
    the values stored are the stdlib's.
    """
    try:
        out = _encode(value)
        if b"null" in out and _NOT_FINITE.search(_pack(value)) is not None:
            return json.dumps(value)
    except (TypeError, ValueError, OverflowError):
        return json.dumps(value)
    return out.decode()


def loads(text: str | bytes) -> Any:
    """Return the data of JSON text (the stdlib's reading of `NaN`, huge numbers too)."""
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


def _in_memory(database: str | None, query: Any) -> bool:
    """Tell whether a SQLite URL's database lives in memory (no file)."""
    if not database or database == ":memory:":
        return True
    return bool(database.startswith("file:") and "mode=memory" in database) or (
        query.get("mode") == "memory"
    )


def watched(conn: Connection) -> bool:
    """Tell whether something listens to the statements `conn` sends (counters, tracing)."""
    return bool(conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute)


def _sqlite_begin(conn: Connection) -> None:
    deferred = conn.get_execution_options().get(READ_ONLY, False)
    sql = "BEGIN" if deferred else "BEGIN IMMEDIATE"
    if watched(conn):
        conn.exec_driver_sql(sql)  # a listener (statement counter, tracing) sees it
        return
    # Straight to the driver: SQLAlchemy's statement machinery costs ~30 us. Its error
    # is raised as SQLAlchemy's, as exec_driver_sql raises it ("database is locked").
    dbapi = conn.dialect.loaded_dbapi
    try:
        conn.connection.dbapi_connection.execute(sql)  # type: ignore[union-attr]
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, {}, exc, dbapi.Error) from exc


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy emit BEGIN itself (see make_engine) instead of pysqlite.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Why: a transition dirties ~10 pages, so the default checkpoint (every 1,000 WAL
    # pages) ran every ~100 commits, each with an fsync of the database file, and made
    # up most of a commit's average cost; every 10,000 pages (a WAL of ~40 MiB at most
    # between checkpoints) pays that a tenth as often.
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.execute("PRAGMA cache_size=-16384")  # 16 MiB per connection (default 2 MiB)
    cur.execute("PRAGMA mmap_size=268435456")  # reads map the file: no read() per page
    cur.close()


def is_sqlite(engine: Engine) -> bool:
    """Tell whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"
