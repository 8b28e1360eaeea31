"""`sopflow test`: a `reload` step does the pre-flight and the declared migration.

The migration bundle of the conformance suite (tests/conformance/migration) reloads to
the earlier version of its bundle kept in `.before/`, stores records, and reloads back
with `files: {}`. A reload the pre-flight refuses fails the case unless the step
expects the refusal.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

from api.cli import main

MIGRATION = Path(__file__).resolve().parent / "conformance" / "migration"
BACK = """\
  - reload:
      files:
        forms/claim.yaml: .before/forms/claim.yaml
        workflows/claim_flow.yaml: .before/workflows/claim_flow.yaml
"""


def run(root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["test", str(root)])
    return result.exit_code, result.output


def test_the_migration_cases_pass() -> None:
    code, out = run(MIGRATION)
    assert code == 0, out
    assert "4 passed, 0 failed" in out


def test_a_refused_reload_fails_the_case_unless_expected(tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    shutil.copytree(MIGRATION, root)
    case = (
        "kind: test\nversion: 1\nname: refused\nsteps:\n"
        + BACK
        + "  - create: {entity: insurance_claim, as: Q, data: {amount: -1}}\n"
        "  - reload: {files: {}}\n"
    )
    (root / "tests" / "renames.yaml").write_text(case, encoding="utf-8")
    code, out = run(root)
    assert code == 1
    assert "renames.yaml:10:13: fail[step]: reload was refused: the reload was refused" in out
    assert "amount_due" in out
    expected = case + "    refused: {codes: [type-changed]}\n"
    (root / "tests" / "renames.yaml").write_text(expected, encoding="utf-8")
    code, out = run(root)
    assert code == 0, out
