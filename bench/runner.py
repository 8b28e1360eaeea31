"""Which benchmarks exist, how to call each in full and quick mode, and in which process.

Each benchmark runs in a fresh interpreter by default: measured in one process, the
expression rates after a 500-file compile came out about 2x lower than alone (the
heap the compile leaves behind slows the record loops, not simpleeval), so one
benchmark must not run in the leftovers of another.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from bench import expressions, validate_bundle
from bench.common import Machine, Result

Runner = Callable[[bool, Machine, bool], Result]


def _validate(quick: bool, where: Machine, profile: bool) -> Result:
    return validate_bundle.run(
        files=500,
        repeats=3 if quick else 7,
        cli_repeats=1 if quick else 5,
        machine=where,
        profile_top=10 if profile else 0,
    )


def _expressions(quick: bool, where: Machine, profile: bool) -> Result:
    return expressions.run(
        records=20_000 if quick else 100_000,
        repeats=3 if quick else 7,
        simpleeval_records=2_000 if quick else 10_000,
        machine=where,
    )


# In document order; a new benchmark adds its module and one line here.
RUNNERS: dict[str, Runner] = {
    validate_bundle.NAME: _validate,
    expressions.NAME: _expressions,
}


def run_one(name: str, quick: bool, where: Machine, profile: bool) -> Result:
    """Run benchmark `name` in this process."""
    return RUNNERS[name](quick, where, profile)


def run_isolated(name: str, quick: bool, where: Machine, profile: bool) -> Result:
    """Run benchmark `name` in a fresh interpreter and return its Result."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_one, name, quick, where, profile).result()
