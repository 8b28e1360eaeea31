"""Parametrize tests over the bundles in tests/fixtures/definitions/{valid,invalid}/."""

from __future__ import annotations

from pathlib import Path

import pytest
from tz_files import TZ_DEPENDENT

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "definitions"


def cases(group: str) -> list[Path]:
    """Return the case folders of `valid` or `invalid`, sorted by name."""
    return sorted(p for p in (FIXTURES / group).iterdir() if p.is_dir())


def _param(case: Path) -> object:
    return pytest.param(case, id=case.name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give every test asking for `valid_case` / `invalid_case` one run per fixture folder."""
    if "valid_case" in metafunc.fixturenames:
        metafunc.parametrize("valid_case", [_param(c) for c in cases("valid")])
    if "invalid_case" in metafunc.fixturenames:
        metafunc.parametrize("invalid_case", [_param(c) for c in cases("invalid")])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of the files in tz_files.TZ_DEPENDENT `tz` (`make test-tz` reruns them)."""
    for item in items:
        if item.path.relative_to(REPO).as_posix() in TZ_DEPENDENT:
            item.add_marker(pytest.mark.tz)
