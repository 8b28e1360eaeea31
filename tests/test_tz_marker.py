"""The `tz` selection that `make test-tz` reruns under TZ=America/New_York names real files."""

from __future__ import annotations

from pathlib import Path

from tz_files import TZ_DEPENDENT

REPO = Path(__file__).resolve().parent.parent


def test_every_tz_dependent_file_exists() -> None:
    assert sorted(p for p in TZ_DEPENDENT if not (REPO / p).is_file()) == []
