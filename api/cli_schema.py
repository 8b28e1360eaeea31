"""`sopflow schema`: print the JSON Schema of definition files."""

from __future__ import annotations

import json
from pathlib import Path

import click

from engine.schema import definition_schema


@click.command()
@click.option("--out", type=click.Path(dir_okay=False), help="Write the schema to this file.")
def schema(out: str | None) -> None:
    """Print the JSON Schema (draft 2020-12) of definition files, for editors and CI."""
    text = json.dumps(definition_schema(), indent=2, ensure_ascii=False) + "\n"
    if out:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
    else:
        click.echo(text, nl=False)
