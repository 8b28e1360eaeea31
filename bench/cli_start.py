"""How long a `sopflow` command takes as a whole process: the editor's and CI's wait.

Times `sopflow validate definitions` (the default bundle), `sopflow schema` and
`sopflow --version` end to end (interpreter start, imports, work, exit), next to
`python -c pass` (the interpreter alone) and `python -c "import api.cli_validate"`
(the imports of validate without its work), all measured in the same rounds, in
rotating order so the box's noise hits each. Target (issue 14): validate < 0.5 s.

The children run with a bytecode cache, as an installed sopflow has (pip writes the
.pyc files): PYTHONPYCACHEPREFIX points at a temporary folder that one untimed run of
each command fills, so the source tree is left alone even where the environment sets
PYTHONDONTWRITEBYTECODE. One more row times validate with PYTHONDONTWRITEBYTECODE=1 and
no prefix (the libraries' installed .pyc files, sopflow's own modules compiled from
source unless the checkout has __pycache__ folders), for comparison.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    BenchError,
    Machine,
    Result,
    Stats,
    Timing,
    load,
    md_table,
    seconds,
    timed,
    verdict,
)

NAME = "cli_start"
TITLE = "`sopflow` commands as whole processes (start-up included)"
TARGET_SECONDS = 0.5
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Probe:
    """One command line to time: its label in the table, and whether it reads bytecode."""

    key: str
    label: str
    args: tuple[str, ...]
    cached: bool = True


def sopflow() -> list[str]:
    """Return the command that runs this interpreter's `sopflow` (its script if installed)."""
    script = Path(sys.executable).parent / "sopflow"
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def probes() -> list[Probe]:
    """Return every command this benchmark times, baseline first."""
    cli, python = sopflow(), sys.executable
    return [
        Probe("pass", "`python -c pass`: the interpreter alone (baseline)", (python, "-c", "pass")),
        Probe("version", "`sopflow --version`: dispatcher and click", (*cli, "--version")),
        Probe(
            "imports",
            "`python -c 'import api.cli_validate'`: validate's imports, no work",
            (python, "-c", "import api.cli_validate"),
        ),
        Probe("schema", "`sopflow schema`", (*cli, "schema")),
        Probe("validate", "`sopflow validate definitions`", (*cli, "validate", "definitions")),
        Probe(
            "validate_nopyc",
            "`sopflow validate definitions`, PYTHONDONTWRITEBYTECODE=1 (sopflow from source)",
            (*cli, "validate", "definitions"),
            cached=False,
        ),
    ]


def environment(cache: Path | None) -> dict[str, str]:
    """Return the children's environment: this checkout first, bytecode cache on or off."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONPYCACHEPREFIX", None)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(args: tuple[str, ...], env: dict[str, str]) -> Timing:
    """Run a command from the repository root to its end; return its wall and CPU time."""
    before = _children_cpu()
    timing, proc = timed(
        lambda: subprocess.run(args, cwd=ROOT, env=env, capture_output=True, check=False)
    )
    if proc.returncode != 0:
        tail = proc.stdout[-300:].decode(errors="replace") + proc.stderr[-300:].decode()
        raise BenchError(f"{' '.join(args)} exited {proc.returncode}: {tail}")
    return Timing(timing.wall, _children_cpu() - before)


@dataclass(frozen=True)
class Measured:
    """Every probe's wall and CPU time statistics, and the load before and after."""

    probes: list[Probe]
    wall: dict[str, Stats]
    cpu: dict[str, Stats]
    load: list[str]
    pycache: bool  # does this checkout hold __pycache__ folders (read by the last row)?


def measure(repeats: int) -> Measured:
    """Time every probe `repeats` times, rotating their order each round."""
    cache = Path(tempfile.mkdtemp(prefix="sopflow-bench-pyc-"))
    try:
        envs = {True: environment(cache), False: environment(None)}
        chosen = probes()
        for probe in chosen:  # untimed: fills the bytecode cache, checks each command works
            run_process(probe.args, envs[probe.cached])
        loads = [load()]
        walls: dict[str, list[float]] = {p.key: [] for p in chosen}
        cpus: dict[str, list[float]] = {p.key: [] for p in chosen}
        for round_ in range(repeats):
            shift = round_ % len(chosen)
            for probe in chosen[shift:] + chosen[:shift]:
                timing = run_process(probe.args, envs[probe.cached])
                walls[probe.key].append(timing.wall)
                cpus[probe.key].append(timing.cpu)
        loads.append(load())
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return Measured(
        chosen,
        {k: Stats.of(v) for k, v in walls.items()},
        {k: Stats.of(v) for k, v in cpus.items()},
        loads,
        (ROOT / "engine" / "__pycache__").is_dir(),
    )


def run(*, repeats: int, machine: Machine) -> Result:
    """Measure and report."""
    return report(measure(repeats), machine)


def report(data: Measured, machine: Machine) -> Result:
    """Build the console lines and the Markdown section from the measurements."""
    chosen, wall, cpu = data.probes, data.wall, data.cpu
    base = wall["pass"].median
    validate = wall["validate"]
    passed = validate.median < TARGET_SECONDS
    rows = [
        [
            p.label,
            seconds(wall[p.key].median),
            seconds(wall[p.key].min),
            seconds(wall[p.key].max),
            seconds(cpu[p.key].median),
            f"{wall[p.key].median / base:.0f}x" if p.key != "pass" else "1x",
        ]
        for p in chosen
    ]
    own = validate.median - wall["imports"].median
    cpu_validate = seconds(cpu["validate"].median)
    target = f"`sopflow validate definitions` process < {seconds(TARGET_SECONDS)} (median)"
    lines = [
        ("validate process median", f"{seconds(validate.median)} (CPU {cpu_validate})"),
        ("  of which imports", seconds(wall["imports"].median - base)),
        ("  of which the compile and report", seconds(own)),
        ("schema process median", seconds(wall["schema"].median)),
        ("--version process median", seconds(wall["version"].median)),
        ("python -c pass median", seconds(base)),
        ("validate without bytecode cache", seconds(wall["validate_nopyc"].median)),
    ]
    markdown = "\n".join(
        [
            f"## {TITLE}",
            "",
            f"Measured {machine.line()}; 1-minute load average "
            f"{' -> '.join(data.load)} (other processes share the cores); n={validate.n} rounds.",
            "",
            f"- Target: {target}, wall clock. Result: **{verdict(passed)}** "
            f"({seconds(validate.median)} median; the interpreter alone "
            f"{seconds(base)}, validate's imports {seconds(wall['imports'].median - base)}, "
            f"its compile and report {seconds(own)}).",
            "- Each command runs from the repository root in a fresh process, as a user "
            "types it; `ratio` is the median over `python -c pass` measured in the same "
            "rounds. The rounds rotate the order of the commands so noise hits each.",
            "- The children read a bytecode cache (a temporary PYTHONPYCACHEPREFIX, filled "
            "by one untimed run of each), as an installed sopflow does; the last row runs with "
            "PYTHONDONTWRITEBYTECODE=1 and no prefix instead: the libraries still read "
            "their installed .pyc files; sopflow's own modules "
            + (
                "read this checkout's __pycache__ folders."
                if data.pycache
                else "compile from source (this checkout has no __pycache__ folders)."
            ),
            "- `sopflow validate` and `schema` import the engine only, `--version` no "
            "sopflow package (`api/cli.py` loads a command's module when it runs; "
            "tests/api/test_cli_imports.py pins which modules each command loads).",
            "",
            md_table(["command", "median", "min", "max", "median CPU time", "ratio"], rows),
        ]
    )
    data_out = {
        "validate": validate.median,
        "schema": wall["schema"].median,
        "version": wall["version"].median,
        "baseline": base,
        "imports": wall["imports"].median,
        "validate_nopyc": wall["validate_nopyc"].median,
    }
    return Result(NAME, TITLE, target, passed, lines, markdown, data_out)
