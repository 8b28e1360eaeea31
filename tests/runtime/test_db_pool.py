"""How a SQLite store's pool hands out connections."""

from __future__ import annotations

from pathlib import Path

from runtime.store import Store


def test_sqlite_hands_out_the_connection_returned_last(tmp_path: Path) -> None:
    """The last connection returned is the next one handed out (its page cache is warm)."""
    store = Store.open(f"sqlite:///{tmp_path / 'pool.db'}")
    try:
        first, second = store.engine.connect(), store.engine.connect()
        ids = [id(c.connection.dbapi_connection) for c in (first, second)]
        first.close()
        second.close()  # returned last
        with store.engine.connect() as again:
            assert id(again.connection.dbapi_connection) == ids[1]
        with store.read() as read, store.engine.connect() as other:
            # Two at once: the most recent first, then the one returned before it.
            assert id(read.connection.dbapi_connection) == ids[1]
            assert id(other.connection.dbapi_connection) == ids[0]
    finally:
        store.dispose()
