"""How long `sopflow test` takes on the default bundle: the analyst's edit loop.

Measures the whole command as a user runs it (a fresh process: imports, compile, every
case on its own SQLite copy), and inside one process the run of the cases alone, with
the per-case cost. Target (issue: `sopflow test`): the default bundle's test set in well
under 10 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.common import Machine, Result, Stats, load, md_table, seconds, timed
from engine.compiler.pipeline import compile_bundle, discover
from engine.testfiles import load_tests
from runtime.testing import run_cases

NAME = "definition_tests"
ROOT = Path(__file__).resolve().parent.parent
DEFINITIONS = ROOT / "definitions"
TARGET_SECONDS = 10.0


def _command() -> float:
    """Run `sopflow test definitions` in a fresh interpreter; return its wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    timing, proc = timed(
        lambda: subprocess.run(
            [sys.executable, "-m", "api.cli", "test", str(DEFINITIONS), "-q"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    )
    if proc.returncode != 0:
        raise RuntimeError(f"sopflow test failed:\n{proc.stdout}\n{proc.stderr}")
    return timing.wall


def run(*, repeats: int, machine: Machine) -> Result:
    """Measure the command end to end and the cases alone."""
    bundle = compile_bundle(DEFINITIONS).bundle
    assert bundle is not None
    cases, _ = load_tests(DEFINITIONS, discover(DEFINITIONS))
    inner = []
    for _ in range(repeats):
        timing, test_run = timed(lambda: run_cases(bundle, cases))
        assert test_run.failed == 0
        inner.append(timing.wall)
    whole = [_command() for _ in range(repeats)]
    cmd, cases_only = Stats.of(whole), Stats.of(inner)
    per_case = cases_only.median / max(len(cases), 1)
    passed = cmd.median < TARGET_SECONDS
    rows = [
        [
            "`sopflow test definitions` (fresh process)",
            seconds(cmd.median),
            seconds(cmd.min),
            seconds(cmd.max),
        ],
        [
            f"the {len(cases)} cases alone (one process)",
            seconds(cases_only.median),
            seconds(cases_only.min),
            seconds(cases_only.max),
        ],
        ["per case", seconds(per_case), "", ""],
    ]
    markdown = "\n\n".join(
        [
            "## `sopflow test` on the default bundle",
            f"Measured {machine.line()}; load average {load()}; {repeats} runs each.",
            f"Target: the default bundle's whole test set in well under {TARGET_SECONDS:.0f} s.",
            md_table(["what", "median", "min", "max"], rows),
            "Each case runs on its own copy of a SQLite file migrated once per run, with a "
            "fake clock; the command's time includes starting Python and importing sopflow.",
        ]
    )
    return Result(
        NAME,
        "`sopflow test` on the default bundle",
        f"< {TARGET_SECONDS:.0f} s",
        passed,
        lines=[(r[0], r[1]) for r in rows],
        markdown=markdown,
        data={"command": cmd.median, "cases": cases_only.median, "count": len(cases)},
    )
