"""Alembic environment: sopflow runs migrations on a connection it passes in."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

config = context.config
connection = config.attributes.get("connection")
target_metadata = SQLModel.metadata

if connection is None:  # pragma: no cover - `alembic` CLI without sopflow
    from runtime.db import database_url, make_engine

    with make_engine(database_url()).connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
