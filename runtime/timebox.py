"""Run one read statement within a time budget; None when it would take longer.

A listing's count is worth a fraction of a second to a person, never seconds: past the
budget the caller shows "more than N" instead. SQLite: a progress handler interrupts
the statement (sqlite3 raises OperationalError "interrupted"); PostgreSQL: a
`statement_timeout` set for a savepoint only (the savepoint is rolled back either way,
which also restores the timeout).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Connection, Executable, text
from sqlalchemy.exc import DBAPIError, OperationalError

_CHECK_EVERY = 1000  # SQLite virtual machine instructions between two looks at the clock


def scalar_within(conn: Connection, statement: Executable, seconds: float) -> Any | None:
    """Return `statement`'s scalar, or None when it takes more than `seconds`."""
    if conn.dialect.name == "postgresql":
        return _postgres(conn, statement, seconds)
    return _sqlite(conn, statement, seconds)


def _sqlite(conn: Connection, statement: Executable, seconds: float) -> Any | None:
    raw = conn.connection.driver_connection
    deadline = time.monotonic() + seconds

    def past() -> int:
        return 1 if time.monotonic() > deadline else 0

    raw.set_progress_handler(past, _CHECK_EVERY)  # type: ignore[union-attr]
    try:
        return conn.execute(statement).scalar_one()
    except OperationalError as exc:
        if "interrupted" in str(exc.orig):
            return None
        raise
    finally:
        raw.set_progress_handler(None, 0)  # type: ignore[union-attr]


def _postgres(conn: Connection, statement: Executable, seconds: float) -> Any | None:
    savepoint = conn.begin_nested()
    try:
        conn.execute(text(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}"))
        return conn.execute(statement).scalar_one()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == "57014":  # query_canceled
            return None
        raise
    finally:
        savepoint.rollback()  # the timeout was LOCAL to it: rolled back with it
