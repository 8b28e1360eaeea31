"""`sopflow db`: bring a database up to sopflow's schema with one command."""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from api.config import Config
from runtime import migrate
from runtime.db import make_engine


@click.group()
def db() -> None:
    """Create, upgrade or inspect the store's database."""


@db.command()
@click.option(
    "--url",
    default=None,
    help="Database URL (default: $SOPFLOW_DATABASE_URL or sqlite:///var/sopflow.db).",
)
def upgrade(url: str | None) -> None:
    """Create the schema of a fresh database, or upgrade an older one."""
    config = Config.load(database_url=url)
    target = config.database_url
    try:
        version = migrate.upgrade(make_engine(target, schema=config.database_schema))
    except SQLAlchemyError as exc:
        click.echo(f"error: cannot upgrade {target}: {exc.__class__.__name__}: {exc.args[0]}")
        sys.exit(1)
    click.echo(f"{target}: schema at version {version}")


@db.command()
@click.option(
    "--url",
    default=None,
    help="Database URL (default: $SOPFLOW_DATABASE_URL or sqlite:///var/sopflow.db).",
)
def version(url: str | None) -> None:
    """Print the schema version of the database and the newest one this code knows."""
    config = Config.load(database_url=url)
    target = config.database_url
    try:
        found = migrate.current(make_engine(target, schema=config.database_schema))
    except SQLAlchemyError as exc:
        click.echo(f"error: cannot read {target}: {exc.__class__.__name__}: {exc.args[0]}")
        sys.exit(1)
    click.echo(f"{target}: at {found or 'nothing (empty database)'}; newest {migrate.head()}")
