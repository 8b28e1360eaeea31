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

from bench import (
    api_fuzz_bench,
    cli_start,
    concurrent_writes,
    console_pages,
    decision_tables,
    definition_tests,
    demo_quarter,
    expressions,
    fuzzing,
    lead_creation,
    move_checks,
    reload_latency,
    scoring_speed,
    server_requests,
    sla_tick,
    transitions,
    validate_bundle,
)
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


def _cli_start(quick: bool, where: Machine, profile: bool) -> Result:
    return cli_start.run(repeats=3 if quick else 15, machine=where)


def _expressions(quick: bool, where: Machine, profile: bool) -> Result:
    return expressions.run(
        records=20_000 if quick else 100_000,
        repeats=3 if quick else 7,
        simpleeval_records=2_000 if quick else 10_000,
        machine=where,
    )


def _decision_tables(quick: bool, where: Machine, profile: bool) -> Result:
    return decision_tables.run(
        records=20_000 if quick else 100_000,
        repeats=3 if quick else 7,
        zen_records=1_000 if quick else 5_000,
        machine=where,
    )


def _scoring(quick: bool, where: Machine, profile: bool) -> Result:
    return scoring_speed.run(
        records=20_000 if quick else 100_000,
        repeats=3 if quick else 7,
        simpleeval_records=1_000 if quick else 5_000,
        refusing_records=1_000 if quick else 5_000,
        machine=where,
    )


def _profile_top(quick: bool, profile: bool) -> int:
    # The runtime benchmarks keep a profile in their section on full runs: where the
    # time of a store operation goes is what a missed target needs next.
    return 12 if profile or not quick else 0


def _transitions(quick: bool, where: Machine, profile: bool) -> Result:
    return transitions.run(
        records=40 if quick else 200,
        repeats=3 if quick else 7,
        floor_ops=1_000 if quick else 5_000,
        pg_records=20 if quick else 100,
        pg_floor_ops=200 if quick else 1_000,
        machine=where,
        profile_top=_profile_top(quick, profile),
    )


def _concurrent_writes(quick: bool, where: Machine, profile: bool) -> Result:
    return concurrent_writes.run(moves=400 if quick else 2_000, machine=where)


def _move_checks(quick: bool, where: Machine, profile: bool) -> Result:
    return move_checks.run(
        per_stage=10 if quick else 20,
        repeats=3 if quick else 7,
        rounds=20 if quick else 50,
        machine=where,
    )


def _lead_creation(quick: bool, where: Machine, profile: bool) -> Result:
    return lead_creation.run(
        leads=100 if quick else 500,
        repeats=3 if quick else 7,
        machine=where,
        profile_top=_profile_top(quick, profile),
    )


def _sla_tick(quick: bool, where: Machine, profile: bool) -> Result:
    return sla_tick.run(
        sizes=(10_000, 100_000) if quick else (10_000, 100_000, 1_000_000),
        repeats=3 if quick else 9,
        machine=where,
        profile_top=_profile_top(quick, profile),
    )


def _definition_tests(quick: bool, where: Machine, profile: bool) -> Result:
    return definition_tests.run(repeats=2 if quick else 5, machine=where)


def _reload_latency(quick: bool, where: Machine, profile: bool) -> Result:
    return reload_latency.run(edits=5 if quick else 20, machine=where)


def _server_requests(quick: bool, where: Machine, profile: bool) -> Result:
    return server_requests.run(seconds=3 if quick else 10, rounds=1 if quick else 3, machine=where)


def _api_fuzz(quick: bool, where: Machine, profile: bool) -> Result:
    return api_fuzz_bench.run(max_examples=5 if quick else 50, machine=where)


def _fuzzing(quick: bool, where: Machine, profile: bool) -> Result:
    return fuzzing.run(seconds_each=10 if quick else 300, machine=where)


def _demo_quarter(quick: bool, where: Machine, profile: bool) -> Result:
    return demo_quarter.run(sizes=(300, 1_000) if quick else (100_000,), repeats=1, machine=where)


def _console_pages(quick: bool, where: Machine, profile: bool) -> Result:
    return console_pages.run(
        leads=10_000 if quick else console_pages.FULL, repeats=10 if quick else 30, machine=where
    )


# In document order; a new benchmark adds its module and one line here.
RUNNERS: dict[str, Runner] = {
    validate_bundle.NAME: _validate,
    cli_start.NAME: _cli_start,
    expressions.NAME: _expressions,
    decision_tables.NAME: _decision_tables,
    scoring_speed.NAME: _scoring,
    transitions.NAME: _transitions,
    concurrent_writes.NAME: _concurrent_writes,
    move_checks.NAME: _move_checks,
    lead_creation.NAME: _lead_creation,
    sla_tick.NAME: _sla_tick,
    server_requests.NAME: _server_requests,
    reload_latency.NAME: _reload_latency,
    definition_tests.NAME: _definition_tests,
    demo_quarter.NAME: _demo_quarter,
    console_pages.NAME: _console_pages,
    api_fuzz_bench.NAME: _api_fuzz,
    fuzzing.NAME: _fuzzing,
}


def run_one(name: str, quick: bool, where: Machine, profile: bool) -> Result:
    """Run benchmark `name` in this process."""
    return RUNNERS[name](quick, where, profile)


def run_isolated(name: str, quick: bool, where: Machine, profile: bool) -> Result:
    """Run benchmark `name` in a fresh interpreter and return its Result."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(run_one, name, quick, where, profile).result()
