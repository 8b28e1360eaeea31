"""Scenario tests: the default bundle on the real runtime, a fake clock, SQLite and PostgreSQL.

Each test runs one scenario of docs/scenarios.md (its ID is in the docstring) through the public
Runtime API over simulated days and weeks: `clock.advance(...)` then `runtime.tick()`.
The `store` fixture (tests/runtime/conftest.py) gives every test a fresh database on
each backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import Store
from tests.runtime.scenarios.support import START

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    """Compile the default bundle (definitions/) once per session."""
    result = compile_bundle(ROOT / "definitions")
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


@pytest.fixture
def clock() -> FakeClock:
    """A clock that starts on Monday 2026-01-05 09:00 (naive UTC) and moves by hand."""
    return FakeClock(START)


@pytest.fixture
def runtime(bundle: Bundle, store: Store, clock: FakeClock, tmp_path: Path) -> Runtime:
    """The runtime on the default bundle, the test's store and the fake clock."""
    return Runtime(bundle, store, clock, evidence_dir=tmp_path / "evidence")
