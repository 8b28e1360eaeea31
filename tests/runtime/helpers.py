"""Shared helpers of the runtime tests: the default bundle and a runtime on a fake clock."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import Store

ROOT = Path(__file__).resolve().parents[2]
JPEG = b"\xff\xd8\xff\xe0" + b"jpeg-body"
PDF = b"%PDF-1.4\n" + b"pdf-body"


@lru_cache(maxsize=1)
def default_bundle() -> Bundle:
    """Compile the default bundle once per test session."""
    result = compile_bundle(ROOT / "definitions")
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


def make_runtime(store: Store, tmp: Path, bundle: Bundle | None = None) -> Runtime:
    """Return a runtime on the default bundle with a fake clock."""
    return Runtime(bundle or default_bundle(), store, FakeClock(), evidence_dir=tmp / "evidence")


def count(store: Store, table: Any, *where: Any) -> int:
    """Count rows of a table."""
    with store.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
