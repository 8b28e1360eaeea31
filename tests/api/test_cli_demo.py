"""`sopflow demo`: a summary line, no bar off a terminal, and a checked --quarter."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from api.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_demo_fills_the_database_and_says_what_it_made(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["demo", str(REPO / "definitions"), "--database-url", url, "--leads", "50"]
    args += ["--seed", "7", "--evidence-dir", str(tmp_path / "ev"), "--quarter", "2026Q2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "sopflow: demo 2026Q2 (seed 7) in " in result.output
    assert "50 lead" in result.output and "728 ticket" in result.output  # 91 days x 8
    assert "simulating" not in result.output  # not a terminal: no progress bar


def test_a_bad_quarter_is_a_usage_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(main, ["demo", "--database-url", url, "--quarter", "2026Q5"])
    assert result.exit_code == 2 and "use YYYYQn" in result.output
