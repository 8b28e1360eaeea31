"""Move checks with nothing written: sopflow's check against a dict and a guard, and two
state-machine libraries.

The workflow is the generated six-stage one of `runtime_bundles.write_move_bundle`
(required fields, a guard on every stage, roles on the moves, the `closing` stage and
the `won` exit, a discount validation on leaving `quote`). Records are stored once in
their stages (untimed); each variant then decides, for every (record, target) case,
whether the move may go:

- baseline: a dict of allowed moves (source -> target -> guard) and one hand-written
  guard function per move holding the same rules as the bundle (roles, required
  fields, the amount guard, the discount rule at `quote`), so its decisions are the
  same on every case, refusals included;
- sopflow: `runtime.stages.move_problems(unit, wf, record, target)`, as
  `Runtime.check_transition` calls it once the record is loaded (one open unit, nothing
  written), a move allowed when the list is empty;
- sopflow's full listing (`refusals`): every check with its message, what
  `move_problems` cost before it settled passing moves from a plan (decision NN);
- `transitions`: one Machine over all records, one trigger per target, the same guard
  as its condition, asked with `may_<trigger>()`;
- python-statemachine: one machine per record, the same guard as `cond`, asked whether
  the event is among `enabled_events()`.

Two workloads: every case passing (the target's subject: a check that lets the move go
should cost about what the dict and the guard cost), and a mixed one where about half
the cases are refused (guards, missing fields, the discount rule, moves not allowed,
a role). Every variant's decisions are checked equal to the baseline's. Rates are
checks/s of CPU time; variants run once per round in rotating order.
"""

from __future__ import annotations

import operator
import shutil
import tempfile
from collections.abc import Callable
from functools import reduce
from pathlib import Path
from typing import Any

import transitions as transitions_lib
from statemachine import State, StateMachine

from bench import runtime_bundles as rb
from bench.common import BenchError, Machine, Result, load, md_table, rate, verdict
from bench.expressions import Outcome, race
from engine.bundle import CompiledWorkflow
from runtime import stages
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.records import RecordView
from runtime.records import load as load_record
from runtime.store import Store

NAME = "move_checks"
TITLE = "Move checks: sopflow vs a dict and a guard vs transitions and python-statemachine"
TARGET_RATIO = 0.5
MANAGER = "mgr.0"
ROLES = {rb.CHECK_ACTOR: frozenset({"rep"}), MANAGER: frozenset({"manager"})}
LIMIT = 1_000_000
BASELINE = "dict of moves + guard function"
GUARD_ONLY = "dict of moves + the amount guard alone"
SOPFLOW = "sopflow move_problems"
FULL = "sopflow full listing (refusals)"
TRANSITIONS = "transitions Machine, may_<trigger>()"
STATEMACHINE = "python-statemachine, enabled_events()"

Case = tuple[RecordView, str]
Guard = Callable[[dict[str, Any], frozenset[str]], bool]


BLANK = (None, "")  # what a hand-written check takes for a field not filled in
MOVERS = frozenset({"rep", "manager"})


def rule(source: str, target: str) -> Guard:
    """Return the hand-written check of one move: the bundle's rules, written out for it."""
    ids = list(rb.STAGES)
    forward = source in ids and target in ids and ids.index(target) > ids.index(source)
    cap, limit = rb.DISCOUNT_CAP, LIMIT
    if target == "won":
        return lambda r, roles: (
            "manager" in roles
            and r.get("account_name") not in BLANK
            and r.get("amount") not in BLANK
            and not (r["amount"] > limit and r["tier"] != "VIP")
            and r.get("expected_close") not in BLANK
        )
    if forward and source == "quote":
        return lambda r, roles: (
            not roles.isdisjoint(MOVERS)
            and r.get("account_name") not in BLANK
            and r.get("amount") not in BLANK
            and not (r["amount"] > limit and r["tier"] != "VIP")
            and not (r["discount"] > cap and r["tier"] != "VIP")
        )
    if forward:
        return lambda r, roles: (
            not roles.isdisjoint(MOVERS)
            and r.get("account_name") not in BLANK
            and r.get("amount") not in BLANK
            and not (r["amount"] > limit and r["tier"] != "VIP")
        )
    if source == "quote":
        return lambda r, roles: (
            not roles.isdisjoint(MOVERS) and not (r["discount"] > cap and r["tier"] != "VIP")
        )
    return lambda r, roles: not roles.isdisjoint(MOVERS)


def moves_dict(wf: CompiledWorkflow) -> dict[str, dict[str, Guard]]:
    """Return source -> target -> the move's hand-written check."""
    out: dict[str, dict[str, Guard]] = {}
    for source, target in sorted(wf.moves):
        out.setdefault(source, {})[target] = rule(source, target)
    return out


# What a record of each kind changes once it is in its stage (moved there as "ok").
CHANGES: dict[str, dict[str, Any]] = {
    "ok": {},
    "over_limit": {"amount": 2_000_000, "tier": "normal"},
    "no_amount": {"amount": None},
    "discount": {"discount": 30, "tier": "normal"},
}


def _deal(i: int) -> dict[str, Any]:
    data = rb.deal(i)
    data.update(discount=5, expected_close="2026-03-01", account_name=f"Pharmacy {i}")
    return data


# What each record of the mixed workload holds, and which target it is asked about:
# `next` the next stage (won after closing), `skip` two stages ahead (not allowed).
MIXED = (
    ("ok", "next"),
    ("over_limit", "next"),
    ("ok", "next"),
    ("no_amount", "next"),
    ("discount", "next"),
    ("ok", "skip"),
)


def _target(stage: str, how: str) -> str:
    ids = list(rb.STAGES)
    at = ids.index(stage)
    if how == "skip":
        return ids[at + 2] if at + 2 < len(ids) else "lost"
    return ids[at + 1] if at + 1 < len(ids) else "won"


class Bench:
    """A runtime on the move bundle with records stored in every stage (untimed)."""

    def __init__(self, root: Path, per_stage: int) -> None:
        rb.write_move_bundle(root / "bundle")
        self.bundle = rb.compiled(root / "bundle")
        self.wf = self.bundle.workflows["deal_flow"]
        self.store = Store.open(f"sqlite:///{root / 'sopflow.db'}")
        self.rt = Runtime(self.bundle, self.store, FakeClock(), evidence_dir=root / "evidence")
        self.passing: list[tuple[str, str]] = []
        self.mixed: list[tuple[str, str]] = []
        for k, stage in enumerate(rb.STAGES):
            for i in range(per_stage):
                n = k * per_stage + i
                self.passing.append((self._stored(n, "ok", stage), _target(stage, "next")))
                kind, how = MIXED[n % len(MIXED)]
                self.mixed.append((self._stored(n, kind, stage), _target(stage, how)))

    def _stored(self, n: int, kind: str, stage: str) -> str:
        view = self.rt.create("deal", _deal(n), actor=MANAGER)
        for target in rb.STAGES[1 : rb.STAGES.index(stage) + 1]:
            self.rt.transition(view.id, target, actor=MANAGER)
        if CHANGES[kind]:
            self.rt.update(view.id, CHANGES[kind], actor=MANAGER)
        return view.id

    def cases(self, unit: Any, pairs: list[tuple[str, str]]) -> list[Case]:
        """Load the records of `pairs` in `unit`: (view, target)."""
        return [(load_record(unit.tx.conn, self.bundle, rid), target) for rid, target in pairs]


def _transitions_machine(wf: CompiledWorkflow, cases: list[Case], who: str) -> list[Any]:
    """Return one model per case, all on one `transitions` Machine with the moves."""
    rules = moves_dict(wf)
    roles = ROLES[who]

    class Deal:
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

    def condition(source: str, target: str) -> Callable[[Any], bool]:
        check = rules[source][target]
        return lambda event: check(event.model.data, roles)

    states = [*rb.STAGES, "won", "lost"]
    moves = [
        {"trigger": f"go_{t}", "source": s, "dest": t, "conditions": condition(s, t)}
        for s, t in sorted(wf.moves)
    ]
    models = [Deal(view.data) for view, _ in cases]
    machine = transitions_lib.Machine(
        model=models,
        states=states,
        transitions=moves,
        initial=rb.STAGES[0],
        send_event=True,
        auto_transitions=False,
        ignore_invalid_triggers=True,
    )
    for model, (view, _) in zip(models, cases, strict=True):
        machine.set_state(view.stage, model=model)
    return models


def _statemachines(wf: CompiledWorkflow, cases: list[Case], who: str) -> list[Any]:
    """Return one python-statemachine machine per case, in the record's stage."""
    rules = moves_dict(wf)
    roles = ROLES[who]
    names = [*rb.STAGES, "won", "lost"]
    states = {
        n: State(n, value=n, initial=n == rb.STAGES[0], final=n in ("won", "lost")) for n in names
    }
    events: dict[str, list[Any]] = {}

    def guard(source: str, target: str) -> Callable[..., bool]:
        check = rules[source][target]
        return lambda model: check(model.data, roles)

    for s, t in sorted(wf.moves):
        events.setdefault(f"go_{t}", []).append(states[s].to(states[t], cond=guard(s, t)))
    attrs: dict[str, Any] = dict(states)
    attrs.update({name: reduce(operator.or_, ts) for name, ts in events.items()})
    deal_machine = type("DealMachine", (StateMachine,), attrs)

    class Deal:
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

    return [deal_machine(Deal(view.data), start_value=view.stage) for view, _ in cases]


def variants(
    bench: Bench, unit: Any, cases: list[Case], who: str, *, guard_only: bool
) -> list[tuple[str, Callable[[], list[Any]], int]]:
    """Build the contenders for one workload (one open unit acting as `who`)."""
    wf, n = bench.wf, len(cases)
    rules, roles = moves_dict(wf), ROLES[who]
    plain = [(view.stage or "", view.data, target) for view, target in cases]
    check, full = stages.move_problems, stages.refusals

    def decide(source: str, data: dict[str, Any], target: str) -> bool:
        guard = rules[source].get(target)
        return guard is not None and guard(data, roles)

    amount = {s: dict.fromkeys(ts, lambda r: r["amount"] > LIMIT) for s, ts in rules.items()}

    def decide_bare(source: str, data: dict[str, Any], target: str) -> bool:
        guard = amount[source].get(target)
        return guard is not None and not guard(data)

    def baseline() -> list[Any]:
        return [decide(s, d, t) for s, d, t in plain]

    def bare() -> list[Any]:
        return [decide_bare(s, d, t) for s, d, t in plain]

    models = _transitions_machine(wf, cases, who)
    asks = [getattr(m, f"may_go_{target}") for m, (_, target) in zip(models, cases, strict=True)]
    machines = _statemachines(wf, cases, who)
    events = [f"go_{target}" for _, target in cases]

    def enabled() -> list[Any]:
        return [
            any(e.id == event for e in sm.enabled_events())
            for sm, event in zip(machines, events, strict=True)
        ]

    found: list[tuple[str, Callable[[], list[Any]], int]] = [
        (BASELINE, baseline, n),
        (SOPFLOW, lambda: [not check(unit, wf, v, t) for v, t in cases], n),
        (FULL, lambda: [not full(unit, wf, v, t) for v, t in cases], n),
        (TRANSITIONS, lambda: [ask() for ask in asks], n),
        (STATEMACHINE, enabled, n),
    ]
    if guard_only:
        found.insert(1, (GUARD_ONLY, bare, n))
    return found


def _same(outcomes: dict[str, Outcome]) -> None:
    expected = outcomes[BASELINE].results
    for name, outcome in outcomes.items():
        if outcome.results != expected:
            wrong = next(
                i for i, (a, b) in enumerate(zip(outcome.results, expected, strict=True)) if a != b
            )
            raise BenchError(f"{name} decides case {wrong} otherwise than the baseline")


def _workload(
    bench: Bench, pairs: list[tuple[str, str]], who: str, repeats: int, rounds: int, *, bare: bool
) -> dict[str, Outcome]:
    with bench.rt.unit(who) as unit:
        cases = bench.cases(unit, pairs) * rounds
        outcomes = race(variants(bench, unit, cases, who, guard_only=bare), repeats)
        unit.tx.conn.rollback()  # nothing was written; as check_transition ends
    _same(outcomes)
    return outcomes


def _rows(outcomes: dict[str, Outcome]) -> list[list[str]]:
    base = outcomes[BASELINE]
    return [
        [
            name,
            f"{len(o.results):,}",
            rate(o.cpu.median),
            f"{rate(o.cpu.min)} - {rate(o.cpu.max)}",
            f"{1e9 / o.cpu.median:,.0f} ns",
            f"{o.cpu.median / base.cpu.median:.3f}x",
            f"{o.wall.median / base.wall.median:.3f}x",
        ]
        for name, o in outcomes.items()
    ]


def run(per_stage: int = 20, repeats: int = 7, rounds: int = 50, *, machine: Machine) -> Result:
    """Measure both workloads; check every variant decides as the baseline."""
    loads = [load()]
    tmp = Path(tempfile.mkdtemp(prefix="sopflow-moves-"))
    try:
        bench = Bench(tmp, per_stage)
        passing = _workload(bench, bench.passing, MANAGER, repeats, rounds, bare=True)
        if not all(passing[BASELINE].results):
            raise BenchError("a case of the passing workload is refused")
        mixed = _workload(bench, bench.mixed, rb.CHECK_ACTOR, repeats, rounds, bare=False)
        bench.store.dispose()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    loads.append(load())
    distinct = len(bench.mixed)
    refused = mixed[BASELINE].results[:distinct].count(False)
    base, sop = passing[BASELINE], passing[SOPFLOW]
    ratio = sop.cpu.median / base.cpu.median
    wall_ratio = sop.wall.median / base.wall.median
    mixed_ratio = mixed[SOPFLOW].cpu.median / mixed[BASELINE].cpu.median
    bare_ratio = sop.cpu.median / passing[GUARD_ONLY].cpu.median
    passed = ratio >= TARGET_RATIO
    target = "a passing sopflow move check >= 0.5x the rate of a dict of moves and a guard"
    lines = [
        (f"{name} (passing)", f"{rate(o.cpu.median)} = {o.cpu.median / base.cpu.median:.3f}x")
        for name, o in passing.items()
    ]
    lines.append(("sopflow (mixed)", f"{mixed_ratio:.3f}x the baseline"))
    header = ["variant", "checks", "median rate", "min - max", "CPU per check", "ratio", "(wall)"]
    n_cases = len(bench.passing)
    markdown = "\n".join(
        [
            f"## {TITLE}",
            "",
            f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
            "",
            f"- Target: {target}. Result: **{verdict(passed)}**: "
            f"{rate(sop.cpu.median)} against {rate(base.cpu.median)}, {ratio:.3f}x "
            f"(wall clock {wall_ratio:.3f}x); against the amount guard alone {bare_ratio:.3f}x.",
            f"- Workflow: `bench/runtime_bundles.py` `write_move_bundle` (six stages, each "
            "requiring two fields with a guard; roles on the moves, on leaving `closing` and "
            "on the `won` exit; a leave_stage validation at `quote`). "
            f"{n_cases} stored records, {per_stage} per stage, each asked about one move, "
            f"the list repeated {rounds} times; {repeats} rounds, every variant once per "
            "round in rotating order, GC paused while timing. Rates are checks/s of CPU "
            "time; ratios are medians over the baseline's from the same run. Every "
            "variant's decisions equal the baseline's (checked).",
            "- The baseline is a dict of allowed moves and, per move, one hand-written guard "
            "function holding the bundle's rules (roles, required fields, the amount guard, "
            "the discount rule), so that it decides every case as sopflow does; the same "
            "function is the `transitions` condition and the python-statemachine `cond`. "
            "The row with the amount guard alone is a dict and one comparison: what the "
            "check would cost with none of the other rules (same decisions here, as every "
            "case passes).",
            "- sopflow runs inside one open unit (`Runtime.unit`, as `check_transition` "
            "after loading the record; nothing is written): it looks the move up in the "
            "plan read once per workflow (engine/moves.py), meets the role lists, finds "
            "the fields set, and runs the compiled guard and validation on the record's "
            "fields. The full listing is every check with the message of each refusal.",
            "",
            "### Every case passing (actor: a manager)",
            "",
            md_table(header, _rows(passing)),
            "",
            f"### Mixed: {refused:,} of {distinct:,} cases refused (actor: a rep)",
            "",
            "Refused cases are listed in full by sopflow (each refusal with its message), "
            f"so the mixed rate is lower: {mixed_ratio:.3f}x the baseline. No target.",
            "",
            md_table(header, _rows(mixed)),
        ]
    )
    stats = {k: v.cpu for k, v in passing.items()}
    data = {"stats": stats, "mixed": {k: v.cpu for k, v in mixed.items()}, "ratio": ratio}
    return Result(NAME, TITLE, target, passed, lines, markdown, data)
