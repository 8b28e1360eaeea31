"""The Litestar application: for now, the compiled bundle and its diagnostics, read-only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Litestar, get
from litestar.datastructures import State

from engine.compiler.pipeline import CompileResult, compile_bundle
from engine.schema import definition_schema


@dataclass(frozen=True)
class Served:
    """What the server serves: the folder and the result of compiling it."""

    directory: Path
    result: CompileResult


def _served(state: State) -> Served:
    served: Served = state.served
    return served


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    """Say the process is up."""
    return {"status": "ok"}


@get("/definitions", sync_to_thread=False)
def definitions(state: State) -> dict[str, Any]:
    """Return the current bundle (hash, what it holds) and every diagnostic."""
    served = _served(state)
    bundle = served.result.bundle
    return {
        "directory": str(served.directory),
        "ok": bundle is not None,
        "hash": bundle.hash if bundle else None,
        "summary": bundle.summary() if bundle else None,
        "counts": dict(bundle.counts) if bundle else {},
        "diagnostics": [d.to_dict() for d in served.result.diagnostics],
    }


@get("/definitions/schema", sync_to_thread=False)
def schema() -> dict[str, Any]:
    """Return the JSON Schema of definition files."""
    return definition_schema()


def create_app(directory: str | Path = "definitions") -> Litestar:
    """Build the application serving the bundle in `directory`."""
    path = Path(directory)
    served = Served(path, compile_bundle(path, display_root=str(directory)))
    return Litestar(route_handlers=[healthz, definitions, schema], state=State({"served": served}))
