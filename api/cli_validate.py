"""`sopflow validate`: compile a folder of definitions and report every problem."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from engine.bundle import Bundle
from engine.catalog import workflow_outline
from engine.compiler.pipeline import compile_bundle
from engine.diagnostics import errors, warnings

DEFAULT_DIR = "definitions"
INTERNAL_ERROR = 3


@click.command()
@click.argument("directory", default=DEFAULT_DIR, type=click.Path(file_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools, github for CI annotations.",
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
def validate(directory: str, fmt: str, strict: bool) -> None:
    """Compile the definitions in DIRECTORY and report every problem.

    Exit status: 0 valid, 1 definition errors, 2 usage error, 3 internal error (a bug).
    """
    path = Path(directory)
    if not path.is_dir():
        raise click.UsageError(f"'{directory}' is not a folder of definitions")
    started = time.perf_counter()
    try:
        result = compile_bundle(path, display_root=directory.rstrip("/"))
    except Exception as exc:  # a bug in sopflow, not in the definitions
        click.echo(
            f"sopflow: internal error while compiling '{directory}': {type(exc).__name__}: {exc}",
            err=True,
        )
        click.echo(
            "sopflow: this is a bug in sopflow; please report it with the folder that caused it",
            err=True,
        )
        sys.exit(INTERNAL_ERROR)
    elapsed_ms = (time.perf_counter() - started) * 1000
    errs, warns = errors(result.diagnostics), warnings(result.diagnostics)
    failed = bool(errs) or (strict and bool(warns))
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "ok": not failed,
                    "files": result.files,
                    "bundle": result.bundle.summary() if result.bundle else None,
                    "hash": result.bundle.hash if result.bundle else None,
                    "errors": len(errs),
                    "warnings": len(warns),
                    "diagnostics": [d.to_dict() for d in result.diagnostics],
                    # What each workflow holds (a template's instance after its include_ifs).
                    "workflows": workflow_outline(result.bundle) if result.bundle else {},
                    # Who may push records in (signed webhooks): entity, fields, secret.
                    "inbound": inbound_outline(result.bundle) if result.bundle else {},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for diag in result.diagnostics:
            click.echo(diag.render_github() if fmt == "github" else diag.render())
        if failed and not errs:
            summary = "FAILED: 0 errors (--strict counts warnings as errors)"
        elif result.bundle is not None:
            summary = f"ok: {result.bundle.summary()}"
        else:
            summary = f"FAILED: {len(errs)} error{'s' if len(errs) != 1 else ''}"
        tail = f", {len(warns)} warning{'s' if len(warns) != 1 else ''} in {elapsed_ms:.0f} ms"
        click.echo(summary + tail)
    sys.exit(1 if failed else 0)


def inbound_outline(bundle: Bundle) -> dict[str, Any]:
    """Return each inbound declaration: its entity, the fields it may set, its secret's name."""
    return {
        name: {
            "title": spec.title,
            "entity": spec.entity,
            "fields": list(spec.fields),
            "secret_env": spec.secret_variable(name),
            "path": f"/api/v1/inbound/{name}",
        }
        for name, spec in bundle.manifest.inbound.items()
    }
