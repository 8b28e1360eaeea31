"""Print branch coverage per package from coverage.json and fail under each package's floor.

`make test` runs it after `coverage json`. Branch coverage of a package is its covered
branches over its branches (coverage.py's `percent_covered` mixes lines in).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Issue 15's targets; FLOORS is the gate: the measured figure rounded down, never under the
# target once it is reached (docs/testing.md has the figures). Raise a floor as tests land,
# never lower it.
TARGETS: dict[str, float] = {"engine": 95.0, "runtime": 90.0, "api": 90.0}
# Why engine's floor sits about a point under its measure (98.4-98.7%): the hypothesis tests
# draw new bundles and expressions each run, so which compiler branches they reach varies a
# little (0.3 points between two runs of one commit).
FLOORS: dict[str, float] = {"engine": 97.5, "runtime": 90.0, "api": 90.0}
LEAST = 12  # how many of the least-covered files to list


def package_of(path: str) -> str:
    return Path(path).parts[0]


def main(argv: list[str]) -> int:
    report = json.loads(Path(argv[1] if len(argv) > 1 else "coverage.json").read_text())
    totals: dict[str, list[int]] = {name: [0, 0, 0, 0] for name in FLOORS}
    files: list[tuple[float, str, int, int]] = []
    for path, data in report["files"].items():
        summary = data["summary"]
        row = totals.setdefault(package_of(path), [0, 0, 0, 0])
        branches, covered = summary["num_branches"], summary["covered_branches"]
        row[0] += summary["num_statements"]
        row[1] += summary["covered_lines"]
        row[2] += branches
        row[3] += covered
        if branches:
            files.append((100.0 * covered / branches, path, covered, branches))
    failed = []
    print(f"{'package':<10} {'lines':>8} {'branches':>9}  gate (target)")
    for name, (stmts, lines, branches, covered) in sorted(totals.items()):
        line_pct = 100.0 * lines / stmts if stmts else 100.0
        branch_pct = 100.0 * covered / branches if branches else 100.0
        floor = FLOORS.get(name)
        target = TARGETS.get(name, 0.0)
        verdict = "" if floor is None else f"  >= {floor:g}% ({target:g}%)"
        if floor is not None and branch_pct < floor:
            verdict += "  FAIL"
            failed.append(f"{name} {branch_pct:.1f}% < {floor:.0f}%")
        print(f"{name:<10} {line_pct:>7.1f}% {branch_pct:>8.1f}%{verdict}")
    print("least covered files (branches):")
    for pct, path, covered, branches in sorted(files)[:LEAST]:
        print(f"  {pct:5.1f}%  {covered:>4}/{branches:<4} {path}")
    if failed:
        print("branch coverage under the floor: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
