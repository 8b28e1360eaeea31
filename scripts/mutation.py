"""Mutation testing of one part of sopflow with mutmut 3, and its score.

    python scripts/mutation.py expr                 # every mutant of engine/expr/
    python scripts/mutation.py expr --sample 300    # 300 mutants drawn at random (seed 15)
    python scripts/mutation.py expr --survivors     # retest last run's survivors (and untested)
    python scripts/mutation.py expr --report        # only print the score of the last run
    python scripts/mutation.py all                  # every target, one after the other

A target is a table `[tool.sopflow.mutation.<name>]` of pyproject.toml: `mutate` (globs of the
files to mutate), `tests` (the test files that pin them) and optionally `pytest_args`. What
every target shares is mutmut's own `[tool.mutmut]` table. Each target runs in a directory of
its own, `mutants/<name>/`, holding symlinks to the project and a pyproject.toml whose
`[tool.mutmut]` is the shared table plus the target's files and tests, so targets neither share
results nor mix their test selections; mutmut's state lives in `mutants/<name>/mutants/`
(`cd mutants/<name> && mutmut show <mutant>` shows one).

The score is killed / (killed + survived); a timeout counts as killed, a mutant no selected
test reaches ("no tests") is listed apart and left out of the score.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tomllib
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parent.parent
# What a run needs from the project, linked into mutants/<target>/.
LINKED = ["engine", "runtime", "api", "tests", "definitions", "docs"]
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
SEED = 15


def load_pyproject() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)


def targets(pyproject: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = pyproject["tool"]["sopflow"]["mutation"]
    return found


def toml_value(value: Any) -> str:
    """A TOML literal for the values [tool.mutmut] takes (JSON's are TOML's for these)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} in [tool.mutmut]")


def mutmut_table(pyproject: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    table = dict(pyproject["tool"].get("mutmut", {}))
    table["only_mutate"] = list(target["mutate"])
    table["pytest_add_cli_args_test_selection"] = list(target["tests"])
    table["pytest_add_cli_args"] = list(table.get("pytest_add_cli_args", [])) + list(
        target.get("pytest_args", [])
    )
    return table


def prepare(name: str, pyproject: dict[str, Any]) -> Path:
    """Lay out mutants/<name>/: links to the project and the target's pyproject.toml."""
    target = targets(pyproject)[name]
    work = ROOT / "mutants" / name
    work.mkdir(parents=True, exist_ok=True)
    for entry in LINKED:
        link = work / entry
        if not link.is_symlink():
            link.symlink_to(ROOT / entry)
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    # Drop the shared [tool.mutmut] table (up to the next table) and write the merged one.
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[)", "", text)
    table = mutmut_table(pyproject, target)
    text += "\n[tool.mutmut]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
    (work / "pyproject.toml").write_text(text, encoding="utf-8")
    return work


def mutmut(work: Path, *args: str, quiet: bool = False) -> int:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    exe = Path(sys.executable).parent / "mutmut"
    command = [str(exe) if exe.exists() else "mutmut", *args]
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(command, cwd=work, env=env, stdout=out, check=False).returncode


def generate(work: Path) -> None:
    """Write the mutants (without testing them), to draw a sample from their names.

    mutmut 3 has no command for this alone; these are the steps `mutmut run` starts with.
    """
    code = (
        "import mutmut.__main__ as m\n"
        "import os\n"
        "os.makedirs('mutants', exist_ok=True)\n"
        "m.copy_src_dir(); m.copy_also_copy_files(); m.create_mutants(1)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL
    )


def statuses(work: Path, mutate: list[str]) -> dict[str, str]:
    """Mutant name -> mutmut's status, from the meta files of the last run."""
    found: dict[str, str] = {}
    for meta in sorted((work / "mutants").rglob("*.py.meta")):
        source = meta.relative_to(work / "mutants").as_posix().removesuffix(".meta")
        if not any(fnmatch(source, glob) for glob in mutate):
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        for key, code in data["exit_code_by_key"].items():
            found[key] = status_by_exit_code[code]
    return found


def sample_file(work: Path) -> Path:
    return work / "sample.json"


def report(name: str, work: Path, mutate: list[str]) -> float | None:
    found = statuses(work, mutate)
    chosen = sample_file(work)
    if chosen.exists():
        names = json.loads(chosen.read_text(encoding="utf-8"))
        found = {k: v for k, v in found.items() if k in set(names)}
        scope = f"a sample of {len(names)} of the mutants"
    else:
        scope = "all mutants"
    counts = Counter(found.values())
    killed = sum(n for status, n in counts.items() if status in KILLED)
    survived = counts["survived"]
    print(f"\n== mutation score of {name} ({', '.join(mutate)}), {scope} ==")
    for status, n in sorted(counts.items()):
        print(f"  {status:<14} {n}")
    for status in ("survived", "no tests", "suspicious", "not checked"):
        listed = sorted(k for k, v in found.items() if v == status)
        if listed:
            print(f"  {status}:")
            for key in listed:
                print(f"    {key}")
    if killed + survived == 0:
        print("  score: nothing tested yet")
        return None
    score = 100 * killed / (killed + survived)
    print(f"  score: {killed} / {killed + survived} = {score:.1f}% (timeouts count as killed)")
    return score


def run(name: str, pyproject: dict[str, Any], args: argparse.Namespace) -> float | None:
    target = targets(pyproject)[name]
    work = prepare(name, pyproject)
    if args.report:
        return report(name, work, target["mutate"])
    run_args = ["run", "--max-children", str(args.max_children)]
    if args.sample:
        generate(work)
        names = sorted(statuses(work, target["mutate"]))
        chosen = sorted(random.Random(args.seed).sample(names, min(args.sample, len(names))))
        sample_file(work).write_text(json.dumps(chosen, indent=1), encoding="utf-8")
        run_args += chosen
    elif args.survivors:
        # Survivors, mutants no test reached, and mutants not yet tested (a changed
        # function's mutants are new), of the sample if the last run drew one.
        generate(work)
        found = statuses(work, target["mutate"])
        if sample_file(work).exists():
            drawn = set(json.loads(sample_file(work).read_text(encoding="utf-8")))
            found = {k: v for k, v in found.items() if k in drawn}
        again = sorted(k for k, v in found.items() if v in ("survived", "no tests", "not checked"))
        if not again:
            print(f"{name}: no survivors to retest")
            return report(name, work, target["mutate"])
        run_args += again
    else:
        sample_file(work).unlink(missing_ok=True)
    print(f"== {name}: mutmut {' '.join(run_args[:3])} ... (in {work.relative_to(ROOT)})")
    code = mutmut(work, *run_args)
    if code != 0:
        print(f"mutmut exited with {code}", file=sys.stderr)
        sys.exit(code)
    return report(name, work, target["mutate"])


def main() -> None:
    pyproject = load_pyproject()
    known = sorted(targets(pyproject))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("target", choices=[*known, "all"], help="a [tool.sopflow.mutation] table")
    parser.add_argument("--sample", type=int, help="test this many mutants drawn at random")
    parser.add_argument("--seed", type=int, default=SEED, help="the sample's seed (15)")
    parser.add_argument("--survivors", action="store_true", help="retest last run's survivors")
    parser.add_argument("--report", action="store_true", help="only print the last score")
    parser.add_argument("--max-children", type=int, default=1, help="mutants tested at once")
    parser.add_argument("--fail-under", type=float, help="exit 1 if a score is below this")
    args = parser.parse_args()
    low = False
    for name in known if args.target == "all" else [args.target]:
        score = run(name, pyproject, args)
        if args.fail_under is not None and (score is None or score < args.fail_under):
            low = True
    sys.exit(1 if low else 0)


if __name__ == "__main__":
    main()
