"""Store fixtures: every store test runs on SQLite and on PostgreSQL (its own schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from runtime.db import normalise_url
from runtime.store import Store

PG_URL = os.environ.get("SOPFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Name the database the test runs on."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """Yield (url, schema) of a fresh, empty database for one test."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'sopflow.db'}", None
        return
    with _pg_schema() as schema:
        yield PG_URL, schema


@contextmanager
def _pg_schema() -> Iterator[str]:
    """Create a PostgreSQL schema of its own for one test; drop it afterwards."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(normalise_url(PG_URL))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def store(db_url: tuple[str, str | None]) -> Iterator[Store]:
    """Yield an upgraded, empty store on the test's backend."""
    url, schema = db_url
    opened = Store.open(url, schema=schema)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """Yield a PostgreSQL store (own schema), for what only PostgreSQL does: locks."""
    with _pg_schema() as schema:
        opened = Store.open(PG_URL, schema=schema)
        try:
            yield opened
        finally:
            opened.dispose()
