"""Every bundle in examples/ validates and its own tests pass (on SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from tests.runtime.conftest import PG_URL

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BUNDLES = sorted(p.parent for p in EXAMPLES.glob("*/bundle.yaml"))
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed in [\d.]+ s$", re.M)


def test_there_are_example_bundles() -> None:
    assert [b.name for b in BUNDLES], "examples/ holds no bundle"


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_an_example_bundle_validates(bundle: Path) -> None:
    result = CliRunner().invoke(main, ["validate", str(bundle)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: bundle"), result.output


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_an_example_bundles_tests_pass(bundle: Path, backend: str) -> None:
    extra = ["--database-url", PG_URL] if backend == "postgresql" else []
    result = CliRunner().invoke(main, ["test", str(bundle), "-q", *extra])
    summary = SUMMARY.search(result.output)
    assert result.exit_code == 0, result.output
    assert summary is not None and summary.group(2) == "0", result.output
    assert int(summary.group(1)) >= 3, result.output
