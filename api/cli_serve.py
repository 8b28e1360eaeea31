"""`sopflow serve`, and the admin commands for API tokens and API users."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from api.config import Config
from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from engine.diagnostics import errors
from runtime import access as tokens
from runtime import sessions
from runtime.clock import SystemClock
from runtime.errors import CommandError
from runtime.store import Store

DEFAULT_DIR = "definitions"
log = logging.getLogger("sopflow.server")


@click.command()
@click.argument("directory", default=DEFAULT_DIR, type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, envvar="SOPFLOW_HOST")
@click.option("--port", default=8000, show_default=True, type=int, envvar="SOPFLOW_PORT")
@click.option(
    "--database-url",
    default=None,
    help="Default: $SOPFLOW_DATABASE_URL or sqlite:///var/sopflow.db.",
)
@click.option(
    "--evidence-dir", default=None, help="Default: $SOPFLOW_EVIDENCE_DIR or var/evidence."
)
@click.option("--watch/--no-watch", default=True, show_default=True, help="Reload on file changes.")
@click.option("--log-format", type=click.Choice(["json", "text"]), default=None)
@click.option(
    "--watch-author",
    default=None,
    help="Author recorded for a reload after a file save. "
    "Default: $SOPFLOW_WATCH_AUTHOR, else the changed file's owner (os:<user>).",
)
def serve(
    directory: str,
    host: str,
    port: int,
    database_url: str | None,
    evidence_dir: str | None,
    watch: bool,
    log_format: str | None,
    watch_author: str | None,
) -> None:
    """Serve the bundle in DIRECTORY: REST API, scheduler, outbox worker, hot reload."""
    import uvicorn  # noqa: PLC0415  (only `serve` needs the server stack)

    from api import logs  # noqa: PLC0415
    from api.app import create_app  # noqa: PLC0415
    from api.server import StartRefused  # noqa: PLC0415

    if not Path(directory).is_dir():
        raise click.UsageError(f"'{directory}' is not a folder of definitions")
    config = Config.load(
        directory=Path(directory),
        host=host,
        port=port,
        database_url=database_url,
        evidence_dir=Path(evidence_dir) if evidence_dir else None,
        watch=watch,
        log_format=log_format,
        watch_author=watch_author,
    )
    logs.configure(config.log_format)
    try:
        app = create_app(config)
    except StartRefused as exc:
        for line in exc.report():
            click.echo(line, err=True)
        click.echo(
            f"sopflow: not starting: {exc}; the same edit would be refused by a reload "
            "(fix the definitions or the data, then start again)",
            err=True,
        )
        sys.exit(1)
    server = app.state.server
    bundle = server.bundle
    if bundle is None:
        click.echo(f"sopflow: the definitions in {directory} have errors; not ready until fixed")
    else:
        click.echo(f"sopflow: {bundle.summary()}")
        for change in server.last.migration if server.last else []:
            click.echo(f"sopflow: migrated {_migrated(change)}")
        _first_token(server.store, bundle)
        _first_password(server.store, bundle, host, port)
        _demo_tokens(server.store, bundle)
    click.echo(
        f"sopflow: serving on http://{host}:{port}/ (the console; API under /api/v1, docs at "
        "/schema/swagger)"
    )
    uvicorn.run(
        app, host=host, port=port, log_config=None, access_log=False, timeout_graceful_shutdown=30
    )


def _migrated(change: dict[str, Any]) -> str:
    """Say what one change of the start-up's definition migration did."""
    from runtime.evolve import Change  # noqa: PLC0415

    return Change(
        change["kind"],
        change["entity"],
        change["from"],
        change.get("to"),
        change["count"],
        change.get("workflow"),
    ).describe()


def _first_token(store: Store, bundle: Bundle) -> None:
    """On a store with no tokens, make one for the first user who may manage users."""
    if tokens.list_tokens(store):
        click.echo("sopflow: API tokens exist; make another with 'sopflow token create USER'")
        return
    admins = tokens_admins(bundle)
    if not admins:
        click.echo("sopflow: no token exists; create one with 'sopflow token create USER'")
        return
    _, token = tokens.create_token(store, bundle, admins[0], SystemClock().now(), name="first")
    click.echo(f"sopflow: first API token, for '{admins[0]}' (shown once): {token}")


def _first_password(store: Store, bundle: Bundle, host: str, port: int) -> None:
    """On a store where nobody has a console password, give the first admin one."""
    if sessions.any_password(store):
        return
    admins = tokens_admins(bundle)
    if not admins:
        return
    password = sessions.new_password()
    sessions.set_password(store, bundle, admins[0], password, SystemClock().now(), by="sopflow")
    click.echo(
        f"sopflow: sign in to the console at http://{host}:{port}/ as '{admins[0]}' with the "
        f"password (shown once): {password}; give others one with 'sopflow user password USER'"
    )


def _demo_tokens(store: Store, bundle: Bundle) -> None:
    """On a demo database (`sopflow demo`), print a token for each of the demo staff.

    The staff are bundle users (runtime.demo.demo_staff): the rep holding the most open
    records, their manager and an analyst. The tokens an earlier start made (named
    "demo") are revoked first, so one demo token per person stays live.
    """
    from runtime.demo import demo_staff, is_demo  # noqa: PLC0415

    if not is_demo(store):
        return
    now = SystemClock().now()
    for row in tokens.list_tokens(store):
        if row["name"] == "demo" and row["revoked_at"] is None:
            tokens.revoke_token(store, row["id"], now)
    for person in demo_staff(bundle, store):
        _, token = tokens.create_token(store, bundle, person.user, now, name="demo")
        password = sessions.new_password()
        sessions.set_password(store, bundle, person.user, password, now, by="sopflow")
        spec = bundle.manifest.users[person.user]
        click.echo(
            f"sopflow: demo {person.role} '{person.user}' ({spec.name or person.user}; "
            f"roles {', '.join(spec.roles)}; {person.note}) console password: {password} "
            f"token (both shown once): {token}"
        )


def tokens_admins(bundle: Bundle) -> list[str]:
    """Return the bundle's active users who may manage tokens and users."""
    allowed = set(bundle.manifest.access.users)
    return [u for u, s in bundle.manifest.users.items() if s.active and allowed & set(s.roles)]


def _open(directory: str, url: str | None) -> tuple[Store, Bundle]:
    result = compile_bundle(Path(directory), display_root=directory)
    if result.bundle is None or errors(result.diagnostics):
        click.echo(f"error: the definitions in {directory} have errors; run 'sopflow validate'")
        sys.exit(1)
    config = Config.load(database_url=url)
    return Store.open(config.database_url, schema=config.database_schema), result.bundle


def _fail(exc: CommandError) -> None:
    click.echo(f"error: {exc.message}")
    for problem in exc.problems:
        click.echo(f"  - {problem.message}")
    sys.exit(1)


_dir = click.option("--dir", "directory", default=DEFAULT_DIR, show_default=True)
_url = click.option(
    "--url",
    default=None,
    help="Database URL (default: $SOPFLOW_DATABASE_URL or sqlite:///var/sopflow.db).",
)


@click.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.argument("user")
@click.option("--name", default="", help="What the token is for.")
@_dir
@_url
def token_create(user: str, name: str, directory: str, url: str | None) -> None:
    """Create a token for USER (a bundle user or an API user); it is printed once."""
    store, bundle = _open(directory, url)
    try:
        _, value = tokens.create_token(store, bundle, user, SystemClock().now(), name=name)
    except CommandError as exc:
        _fail(exc)
    click.echo(value)


@token.command("list")
@_url
def token_list(url: str | None) -> None:
    """List tokens (never the tokens themselves)."""
    config = Config.load(database_url=url)
    store = Store.open(config.database_url, schema=config.database_schema)
    for row in tokens.list_tokens(store):
        state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "active"
        click.echo(f"{row['id']}\t{row['user_id']}\t{row['name'] or '-'}\t{state}")


@token.command("revoke")
@click.argument("token_id", type=int)
@_url
def token_revoke(token_id: int, url: str | None) -> None:
    """Revoke the token with id TOKEN_ID."""
    config = Config.load(database_url=url)
    store = Store.open(config.database_url, schema=config.database_schema)
    try:
        tokens.revoke_token(store, token_id, SystemClock().now())
    except CommandError as exc:
        _fail(exc)
    click.echo(f"revoked token {token_id}")


@click.group()
def user() -> None:
    """Create API users (people or services the bundle does not list)."""


@user.command("password")
@click.argument("user_id")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
@_dir
@_url
def user_password(user_id: str, password_stdin: bool, directory: str, url: str | None) -> None:
    """Set USER_ID's console password (asked twice; their browser sessions end)."""
    store, bundle = _open(directory, url)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        sessions.set_password(store, bundle, user_id, password, SystemClock().now(), by="sopflow")
    except CommandError as exc:
        _fail(exc)
    click.echo(f"set the console password of {user_id}")


@user.command("add")
@click.argument("user_id")
@click.option("--role", "roles", multiple=True, required=True, help="A bundle role (repeatable).")
@click.option("--name", default="")
@_dir
@_url
def user_add(user_id: str, roles: Any, name: str, directory: str, url: str | None) -> None:
    """Create the API user USER_ID holding bundle roles."""
    store, bundle = _open(directory, url)
    try:
        tokens.create_user(store, bundle, user_id, list(roles), SystemClock().now(), name=name)
    except CommandError as exc:
        _fail(exc)
    click.echo(f"created user {user_id} with roles {', '.join(sorted(roles))}")
