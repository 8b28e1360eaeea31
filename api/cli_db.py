"""`sopflow db`: bring a database up to sopflow's schema with one command."""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from runtime import migrate
from runtime.db import database_url, make_engine


@click.group()
def db() -> None:
    """Create, upgrade or inspect the store's database."""


@db.command()
@click.option(
    "--url", default=None, help="Database URL (default: $SOPFLOW_DATABASE_URL or sqlite)."
)
def upgrade(url: str | None) -> None:
    """Create the schema of a fresh database, or upgrade an older one."""
    target = url or database_url()
    try:
        version = migrate.upgrade(make_engine(target))
    except SQLAlchemyError as exc:
        click.echo(f"error: cannot upgrade {target}: {exc.__class__.__name__}: {exc.args[0]}")
        sys.exit(1)
    click.echo(f"{target}: schema at version {version}")


@db.command()
@click.option(
    "--url", default=None, help="Database URL (default: $SOPFLOW_DATABASE_URL or sqlite)."
)
def version(url: str | None) -> None:
    """Print the schema version of the database and the newest one this code knows."""
    target = url or database_url()
    try:
        found = migrate.current(make_engine(target))
    except SQLAlchemyError as exc:
        click.echo(f"error: cannot read {target}: {exc.__class__.__name__}: {exc.args[0]}")
        sys.exit(1)
    click.echo(f"{target}: at {found or 'nothing (empty database)'}; newest {migrate.head()}")
