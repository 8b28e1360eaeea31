"""Run definition tests: each case on a fresh database of its own, one after the other.

SQLite (the default): the schema is migrated once into a template file, and each case
runs on a copy of it, so a case costs a file copy rather than a migration. PostgreSQL
(given a URL): each case runs in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import fnmatch
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from engine.bundle import Bundle
from engine.testfiles import TestCase
from runtime.db import normalise_url
from runtime.store import Store
from runtime.testing.case import CaseRun
from runtime.testing.outcome import CaseResult


class Databases:
    """Hands out an empty, migrated store per case, and cleans up after it."""

    def __init__(self, workdir: Path, url: str | None = None) -> None:
        self.workdir = workdir
        self.url = url
        self._template: Path | None = None

    @contextmanager
    def fresh(self, tag: str) -> Iterator[Store]:
        """Yield a store no other case has touched."""
        if self.url is None:
            path = self.workdir / f"{tag}.db"
            shutil.copyfile(self._sqlite_template(), path)
            store = Store.open(f"sqlite:///{path}", upgrade=False)
            try:
                yield store
            finally:
                store.dispose()
                for suffix in ("", "-wal", "-shm"):
                    path.with_name(path.name + suffix).unlink(missing_ok=True)
            return
        schema = f"sopflow_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(normalise_url(self.url))
        try:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            store = Store.open(self.url, schema=schema)
            try:
                yield store
            finally:
                store.dispose()
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        finally:
            admin.dispose()

    def _sqlite_template(self) -> Path:
        if self._template is None:
            path = self.workdir / "template.db"
            store = Store.open(f"sqlite:///{path}")
            store.dispose()
            with sqlite3.connect(path) as conn:  # fold the WAL in: the copy is one file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
            self._template = path
        return self._template


@dataclass
class TestRun:
    """What a `sopflow test` run gave: one result per case, and how long it took."""

    __test__ = False  # not a pytest test class

    results: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> int:
        """Count the cases that passed."""
        return sum(1 for r in self.results if r.passed)

    @property
    def failed(self) -> int:
        """Count the cases that failed."""
        return len(self.results) - self.passed


def selected(case: TestCase, patterns: list[str]) -> bool:
    """Tell whether a case matches `-k`: any pattern, as a substring or glob of 'file::name'."""
    if not patterns:
        return True
    ident = f"{case.path}::{case.spec.name}".lower()
    return any(p.lower() in ident or fnmatch.fnmatch(ident, p.lower()) for p in patterns)


def run_cases(
    bundle: Bundle,
    cases: list[TestCase],
    *,
    database_url: str | None = None,
    patterns: list[str] | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> TestRun:
    """Run the selected cases, each isolated from the next; report each as it ends."""
    run = TestRun()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sopflow-test-") as tmp:
        databases = Databases(Path(tmp), database_url)
        for n, case in enumerate(c for c in cases if selected(c, patterns or [])):
            started = time.perf_counter()
            workdir = Path(tmp) / f"case{n}"
            workdir.mkdir()
            with databases.fresh(f"case{n}") as store:
                failures = CaseRun(bundle, case, store, workdir).run()
            shutil.rmtree(workdir, ignore_errors=True)
            result = CaseResult(case, failures, time.perf_counter() - started)
            run.results.append(result)
            if on_result is not None:
                on_result(result)
    run.seconds = time.perf_counter() - began
    return run


__all__ = ["Databases", "TestRun", "run_cases", "selected"]
