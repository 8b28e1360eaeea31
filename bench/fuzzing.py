"""Long fuzzing runs of the YAML loader, the expression and template compilers and a bundle.

Each target is fuzzed for a fixed time (five minutes in `make bench`) by the harness of
tests/fuzz/ (docs/testing.md, "Fuzzing"): atheris where its wheel installs, else
hypothesis. A crash is an input that gives anything but a located diagnostic; each one is
kept in tests/fuzz/corpus/<target>/ as crash-<sha1>, where the suite replays it (and fails
until the engine is fixed). Target: no crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench.common import Machine, Result, load, md_table, seconds
from tests.fuzz.runner import CORPUS, FUZZED, Outcome, fuzz_atheris, fuzz_hypothesis, has_atheris

NAME = "fuzzing"
TITLE = "Fuzzing the loader and compilers"


def run(
    *,
    seconds_each: float,
    machine: Machine,
    targets: Sequence[str] = FUZZED,
    corpus: Path = CORPUS,
    crashes: Path | None = None,
) -> Result:
    """Fuzz each target for `seconds_each`; crashes go to corpus/<target>/ (or `crashes`)."""
    fuzz = fuzz_atheris if has_atheris() else fuzz_hypothesis
    outcomes: list[Outcome] = []
    for target in targets:
        kept = crashes if crashes is not None else corpus / target
        outcomes.append(fuzz(target, None, seconds_each, corpus, kept))
    engine = outcomes[0].engine if outcomes else "none"
    rows = [
        [
            f"`{o.target}`",
            f"{o.runs:,}",
            f"{o.runs / o.seconds:,.0f}/s" if o.seconds else "-",
            seconds(o.seconds),
            str(o.coverage),
            str(o.corpus),
            str(len(o.crashes)),
        ]
        for o in outcomes
    ]
    found = [path for o in outcomes for path in o.crashes]
    total = sum(o.runs for o in outcomes)
    kept_where = "kept in `tests/fuzz/corpus/<target>/`" if crashes is None else f"in {crashes}"
    markdown = "\n\n".join(
        [
            f"## {TITLE}",
            f"Measured {machine.line()}; load average {load()}; engine: {engine}, "
            f"{seconds(seconds_each)} a target.",
            "Target: no input gives anything but a located diagnostic (a crash).",
            md_table(
                ["target", "executions", "rate", "time", "coverage", "corpus", "crashes"], rows
            ),
            "Coverage is libFuzzer's count of instrumented edges reached (the modules each "
            "target instruments are in `tests/fuzz/runner.py`); corpus is the number of inputs "
            "it kept for reaching new ones, from the seeds in `tests/fuzz/corpus/`. "
            + (
                f"Crashes: {len(found)}, {kept_where}: " + ", ".join(p.name for p in found)
                if found
                else "No crash."
            ),
        ]
    )
    return Result(
        NAME,
        TITLE,
        "no crash",
        not found,
        lines=[(f"{r[0].strip('`')}", f"{r[1]} runs, {r[6]} crashes") for r in rows]
        + [("total", f"{total:,} runs")],
        markdown=markdown,
        data={"outcomes": outcomes, "runs": total, "crashes": found, "engine": engine},
    )
