"""`sopflow test` with a case that starts on an earlier bundle (`before`) and reloads.

The migration bundle of the conformance suite is copied and its cases edited: a case
without `before` cannot reload, a `before` that is no folder or does not compile stops
the case with a located failure, and a reload the pre-flight refuses is a failure
unless the step expects the refusal.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from api.cli import main

MIGRATION = Path(__file__).resolve().parent / "conformance" / "migration"


def copy(tmp_path: Path, test: str) -> Path:
    root = tmp_path / "bundle"
    shutil.copytree(MIGRATION, root)
    (root / "tests" / "renames.yaml").write_text(test, encoding="utf-8")
    return root


def run(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["test", str(root)])
    return result.exit_code, result.output


def test_the_migration_cases_pass() -> None:
    code, out = run(MIGRATION)
    assert code == 0, out
    assert "4 passed, 0 failed" in out


def test_a_reload_without_before_fails_the_case(tmp_path: Path) -> None:
    root = copy(
        tmp_path,
        "kind: test\nversion: 1\nname: no before\nsteps:\n  - reload: true\n",
    )
    code, out = run(root)
    assert code == 1
    assert "renames.yaml:5:13: fail[reload]: the case runs on the bundle under test already" in out


def test_a_before_that_is_missing_or_broken_stops_the_case(tmp_path: Path) -> None:
    case = "kind: test\nversion: 1\nname: gone\nbefore: .older\nsteps:\n  - reload: true\n"
    code, out = run(copy(tmp_path, case))
    assert code == 1
    assert "renames.yaml:4:9: fail[before]: 'before' names '.older', which is no folder" in out
    root = tmp_path / "broken"
    shutil.copytree(MIGRATION, root)
    (root / "tests" / "renames.yaml").write_text(case.replace(".older", ".before"))
    flow = root / ".before" / "workflows" / "claim_flow.yaml"
    flow.write_text(flow.read_text().replace("entity: insurance_claim", "entity: nothing"))
    code, out = run(root)
    assert code == 1 and "fail[before]: the bundle in '.before' does not compile" in out


def test_a_refused_reload_fails_unless_expected(tmp_path: Path) -> None:
    case = (
        "kind: test\nversion: 1\nname: refused\nbefore: .before\nsteps:\n"
        "  - create: {entity: insurance_claim, as: Q, data: {amount: -1}}\n"
        "  - reload: true\n"
    )
    code, out = run(copy(tmp_path, case))
    assert code == 1
    assert "fail[step]: reload was refused: the reload was refused" in out
    assert "amount_due" in out
