"""The `sopflow` command line: validate, test, schema, serve, demo, db, token, user.

This module is only the dispatcher: it imports click and nothing of sopflow, and loads
a command's module when that command runs (or `--help` lists it). So `sopflow validate`
and `sopflow schema` import the engine alone, `sopflow test` the engine and the runtime,
and only `serve` the server stack (Litestar, uvicorn). tests/api/test_cli_imports.py pins it.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# Command name -> "module:attribute" of its click command, loaded on first use.
COMMANDS: dict[str, str] = {
    "db": "api.cli_db:db",
    "demo": "api.cli_demo:demo",
    "schema": "api.cli_schema:schema",
    "serve": "api.cli_serve:serve",
    "test": "api.cli_test:test_command",
    "token": "api.cli_serve:token",
    "user": "api.cli_serve:user",
    "validate": "api.cli_validate:validate",
}


class LazyGroup(click.Group):
    """A click group whose commands live in modules imported only when a command is used."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Name every command, loaded or not, in alphabetical order (as click.Group does)."""
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the command `cmd_name`, importing its module the first time."""
        if cmd_name not in self.commands and cmd_name in self.lazy:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve as click does; for an unknown name, load every command first.

        Then click's own error ("No such command ... Did you mean ...?") sees them all.
        """
        if args and self.get_command(ctx, args[0]) is None:
            for name in self.lazy:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sopflow")
def main() -> None:
    """sopflow: business operations described in YAML, compiled and run."""


if __name__ == "__main__":  # pragma: no cover
    main()
