"""Decision tables: sopflow's decide path vs a Python loop over row predicates.

Target: `CompiledDecisionTable.evaluate` (what the runtime calls when a record is decided,
runtime/reactions.py `decide_in`) at least as fast as a Python loop over one predicate per
row, written as a person would (rate >= 1.0x). Peers on the same table and records: the
same rows as a hand-written if-chain, GoRules' zen-engine evaluating the table as JDM, and
the interpreter sopflow had before tables were compiled (every row, one matcher per cell).
Every variant runs in each round, the order rotating round by round; ratios are of
medians from the same run, and every variant's outputs are checked equal to the baseline's.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import zen

from bench.common import BenchError, Machine, Result, load, md_table, rate, verdict
from bench.expressions import Outcome, Variant, race
from engine.bundle import CompiledDecisionTable, TableResult
from engine.compiler.cells import Matcher, parse_cell
from engine.compiler.pipeline import compile_bundle

NAME = "decision_tables"
TITLE = "Decision tables: sopflow's decide path vs a Python loop over row predicates"
TARGET_RATIO = 1.0
SEED = 20261205
BASELINE = "Python loop over row predicates"
SOPFLOW = "sopflow table.evaluate(r, c)"
BEFORE = "sopflow before: every row, a matcher per cell"

MANIFEST = """\
kind: bundle
version: 1
name: bench_tables
timezone: UTC
roles:
  rep: {title: Rep}
users:
  ann: {name: Ann, roles: [rep]}
"""
FORM = """\
kind: form
version: 1
entity: deal
fields:
  segment: {type: enum, values: [enterprise, mid_market, smb, public]}
  amount: {type: decimal}
  country: {type: string}
  employees: {type: integer}
  tier: {type: string}
  discount: {type: decimal}
"""
TABLE = """\
kind: decision_table
version: 1
name: deal_tier
entity: deal
hit: first
inputs: [segment, amount, country, employees]
outputs: [tier, discount]
rows:
  - [enterprise, ">= 100000", "*", "*", platinum, 0.15]
  - [enterprise, "50000..99999", "*", "*", gold, 0.10]
  - [enterprise, "*", "in [DE, FR, IT]", "*", gold, 0.08]
  - [mid_market, ">= 50000", "*", ">= 500", gold, 0.07]
  - [mid_market, "20000..49999", "*", "*", silver, 0.05]
  - [mid_market, "*", "not in [US, CA]", "< 200", silver, 0.04]
  - [smb, ">= 20000", "*", "*", silver, 0.03]
  - [smb, "5000..19999", "in [US, CA, GB]", "*", bronze, 0.02]
  - [smb, "< 5000", "*", "<= 10", starter, 0.0]
  - ["!= smb", "< 1000", "*", "*", review, 0.0]
  - ["*", "*", CN, "*", partner, 0.05]
  - ["*", ">= 1", "*", "> 1000", bronze, 0.01]
default: [none, 0.0]
"""

# The same rows as a person writes them: one predicate per row, tried in order.
RULES: list[tuple[Callable[[Mapping[str, Any]], bool], list[Any]]] = [
    (lambda r: r["segment"] == "enterprise" and r["amount"] >= 100_000, ["platinum", 0.15]),
    (lambda r: r["segment"] == "enterprise" and 50_000 <= r["amount"] <= 99_999, ["gold", 0.10]),
    (lambda r: r["segment"] == "enterprise" and r["country"] in ("DE", "FR", "IT"), ["gold", 0.08]),
    (
        lambda r: r["segment"] == "mid_market" and r["amount"] >= 50_000 and r["employees"] >= 500,
        ["gold", 0.07],
    ),
    (lambda r: r["segment"] == "mid_market" and 20_000 <= r["amount"] <= 49_999, ["silver", 0.05]),
    (
        lambda r: (
            r["segment"] == "mid_market"
            and r["country"] not in ("US", "CA")
            and r["employees"] < 200
        ),
        ["silver", 0.04],
    ),
    (lambda r: r["segment"] == "smb" and r["amount"] >= 20_000, ["silver", 0.03]),
    (
        lambda r: (
            r["segment"] == "smb"
            and 5_000 <= r["amount"] <= 19_999
            and r["country"] in ("US", "CA", "GB")
        ),
        ["bronze", 0.02],
    ),
    (
        lambda r: r["segment"] == "smb" and r["amount"] < 5_000 and r["employees"] <= 10,
        ["starter", 0.0],
    ),
    (lambda r: r["segment"] != "smb" and r["amount"] < 1_000, ["review", 0.0]),
    (lambda r: r["country"] == "CN", ["partner", 0.05]),
    (lambda r: r["amount"] >= 1 and r["employees"] > 1_000, ["bronze", 0.01]),
]
DEFAULT = ["none", 0.0]


def by_loop(r: Mapping[str, Any]) -> list[Any]:
    """Return the first matching row's outputs: a loop over row predicates (the baseline)."""
    for matches, outputs in RULES:
        if matches(r):
            return outputs
    return DEFAULT


def by_if_chain(r: Mapping[str, Any]) -> list[Any]:  # noqa: C901 (one branch per row)
    """Return the same outputs from one if-chain, each input read once (hand-generated)."""
    segment, amount, country, employees = r["segment"], r["amount"], r["country"], r["employees"]
    if segment == "enterprise":
        if amount >= 100_000:
            return ["platinum", 0.15]
        if 50_000 <= amount <= 99_999:
            return ["gold", 0.10]
        if country in ("DE", "FR", "IT"):
            return ["gold", 0.08]
    elif segment == "mid_market":
        if amount >= 50_000 and employees >= 500:
            return ["gold", 0.07]
        if 20_000 <= amount <= 49_999:
            return ["silver", 0.05]
        if country not in ("US", "CA") and employees < 200:
            return ["silver", 0.04]
    elif segment == "smb":
        if amount >= 20_000:
            return ["silver", 0.03]
        if 5_000 <= amount <= 19_999 and country in ("US", "CA", "GB"):
            return ["bronze", 0.02]
        if amount < 5_000 and employees <= 10:
            return ["starter", 0.0]
    if segment != "smb" and amount < 1_000:
        return ["review", 0.0]
    if country == "CN":
        return ["partner", 0.05]
    if amount >= 1 and employees > 1_000:
        return ["bronze", 0.01]
    return ["none", 0.0]


SEGMENTS = ("enterprise", "mid_market", "smb", "public")
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "IT", "CN", "JP", "BR")
# Values at the rows' bounds, drawn now and then so that inclusive ends are exercised.
EDGES = (0, 1, 999, 1_000, 4_999, 5_000, 19_999, 20_000, 49_999, 50_000, 99_999, 100_000)


def make_records(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """Generate `n` deals with a seeded RNG (every input set)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        amount = rng.choice(EDGES) if rng.random() < 0.05 else round(rng.uniform(0, 150_000), 2)
        out.append(
            {
                "segment": rng.choices(SEGMENTS, (2, 3, 4, 1))[0],
                "amount": amount,
                "country": rng.choice(COUNTRIES),
                "employees": rng.randint(1, 20) if rng.random() < 0.2 else rng.randint(1, 2_000),
            }
        )
    return out


def compiled_table() -> CompiledDecisionTable:
    """Compile the table the way a bundle is compiled (a bundle on disk, compile_bundle)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "forms").mkdir()
        (root / "rules").mkdir()
        (root / "bundle.yaml").write_text(MANIFEST, encoding="utf-8")
        (root / "forms" / "deal.yaml").write_text(FORM, encoding="utf-8")
        (root / "rules" / "deal_tier.yaml").write_text(TABLE, encoding="utf-8")
        result = compile_bundle(root)
    if result.bundle is None:
        raise BenchError("; ".join(d.render() for d in result.diagnostics))
    table: CompiledDecisionTable = result.bundle.decision_tables["deal_tier"]
    return table


def zen_cell(cell: Matcher) -> str:
    """Write one input cell as a zen unary test (an empty cell matches anything)."""
    value = cell.value
    if cell.op == "any":
        return ""
    if cell.op == "range":
        return f"[{json.dumps(value[0])}..{json.dumps(value[1])}]"
    if cell.op == "in":
        return ", ".join(json.dumps(v) for v in value)
    if cell.op == "not in":
        return f"not ($ in [{', '.join(json.dumps(v) for v in value)}])"
    if cell.op == "==":
        return json.dumps(value)
    if cell.op == "!=":
        return f"$ != {json.dumps(value)}"
    if cell.op in (">=", "<=", ">", "<"):
        return f"{cell.op} {json.dumps(value)}"
    raise BenchError(f"no zen test for a '{cell.op}' cell")


def jdm(table: CompiledDecisionTable) -> dict[str, Any]:
    """Return the table as a JSON Decision Model: input -> decision table -> output.

    zen has no default row: the default is a last rule whose cells all match.
    """
    spec = table.spec
    width = len(spec.inputs)
    rules = []
    for i, row in enumerate(spec.rows):
        rule = {"_id": f"r{i}"}
        rule.update({f"i{j}": zen_cell(parse_cell(cell)) for j, cell in enumerate(row[:width])})
        rule.update({f"o{k}": json.dumps(value) for k, value in enumerate(row[width:])})
        rules.append(rule)
    if spec.default is not None:
        rule = {"_id": "default", **{f"i{j}": "" for j in range(width)}}
        rule.update({f"o{k}": json.dumps(value) for k, value in enumerate(spec.default)})
        rules.append(rule)
    content = {
        "hitPolicy": spec.hit,
        "inputs": [{"id": f"i{j}", "name": s, "field": s} for j, s in enumerate(spec.inputs)],
        "outputs": [{"id": f"o{k}", "name": s, "field": s} for k, s in enumerate(spec.outputs)],
        "rules": rules,
    }
    at = {"x": 0, "y": 0}
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "request", "position": at},
            {"id": "t", "type": "decisionTableNode", "name": spec.name, "position": at,
             "content": content},
            {"id": "out", "type": "outputNode", "name": "response", "position": at},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "t", "type": "edge"},
            {"id": "e2", "sourceId": "t", "targetId": "out", "type": "edge"},
        ],
    }  # fmt: skip


def interpreted(table: CompiledDecisionTable) -> Callable[[Mapping[str, Any]], TableResult]:
    """Return the decide path as it was before tables compiled: every row, every matcher."""
    inputs, rows, finish, c = table.inputs, table.rows, table.finish, {}

    def decide(r: Mapping[str, Any]) -> TableResult:
        values = [expr.fn(r, c) for expr in inputs]
        matched = [
            i for i, row in enumerate(rows) if all(m(v) for m, v in zip(row, values, strict=True))
        ]
        return finish(matched, r, c)

    return decide


ZEN_BATCH = "zen-engine evaluate_batch (JDM, Rust)"
ZEN_ONE = "zen-engine decision.evaluate(r), one call a record"


def zen_variants(
    table: CompiledDecisionTable, records: list[dict[str, Any]], one: int
) -> list[Variant]:
    """Build zen-engine's variants: every record in one evaluate_batch call (its fastest
    way, measured), and one decision.evaluate call a record on the first `one` records."""
    content = jdm(table)
    outputs = list(table.spec.outputs)
    engine = zen.ZenEngine({"loader": {"type": "static", "content": {"table": content}}})
    decision = engine.create_decision(zen.ZenDecisionContent(json.dumps(content)))
    requests = [{"key": "table", "context": r} for r in records]
    subset = records[:one]

    def batch() -> list[Any]:
        found = []
        for answer in engine.evaluate_batch(requests):
            if not answer.get("success"):
                raise BenchError(f"zen-engine failed: {answer.get('error')}")
            result = answer["data"]["result"]
            found.append([result[name] for name in outputs])
        return found

    def each() -> list[Any]:
        found = []
        for r in subset:
            result = decision.evaluate(r)["result"]
            found.append([result[name] for name in outputs])
        return found

    return [(ZEN_BATCH, batch, len(records)), (ZEN_ONE, each, len(subset))]


def variants(records: list[dict[str, Any]], zen_records: int) -> list[Variant]:
    """Build every variant: same table, same records, results as output lists."""
    table = compiled_table()
    evaluate, c = table.evaluate, {}
    before = interpreted(table)
    loop, chain = by_loop, by_if_chain
    n = len(records)
    return [
        (BASELINE, lambda: [loop(r) for r in records], n),
        (SOPFLOW, lambda: [evaluate(r, c).values for r in records], n),
        ("hand-generated if-chain", lambda: [chain(r) for r in records], n),
        *zen_variants(table, records, zen_records),
        (BEFORE, lambda: [before(r).values for r in records], n),
    ]


def check_same(outcomes: dict[str, Outcome], baseline: str) -> None:
    """Raise BenchError unless every variant gave the baseline's outputs."""
    expected = outcomes[baseline].results
    for name, outcome in outcomes.items():
        got = outcome.results
        if got != expected[: len(got)]:
            wrong = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
            raise BenchError(f"{name} disagrees with {baseline} at record {wrong}")


def rows_hit(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """Return how many records each row decides (the last entry: the default)."""
    counts = [0] * (len(RULES) + 1)
    for r in records:
        index = next((i for i, (m, _) in enumerate(RULES) if m(r)), len(RULES))
        counts[index] += 1
    return counts


def _rows(outcomes: dict[str, Outcome]) -> list[list[str]]:
    base = outcomes[BASELINE]
    return [
        [
            name,
            f"{len(o.results):,}",
            rate(o.cpu.median),
            f"{rate(o.cpu.min)} - {rate(o.cpu.max)}",
            f"{o.cpu.median / base.cpu.median:.3f}x",
            f"{o.wall.median / base.wall.median:.3f}x",
        ]
        for name, o in outcomes.items()
    ]


def run(
    records: int = 100_000, repeats: int = 7, zen_records: int = 10_000, *, machine: Machine
) -> Result:
    """Measure every variant on the same records; check they agree."""
    loads = [load()]
    data = make_records(records)
    outcomes = race(variants(data, zen_records), repeats)
    check_same(outcomes, BASELINE)
    loads.append(load())
    base, sop = outcomes[BASELINE], outcomes[SOPFLOW]
    ratio = sop.cpu.median / base.cpu.median
    wall_ratio = sop.wall.median / base.wall.median
    passed = ratio >= TARGET_RATIO
    target = "sopflow's decide path at least as fast as a Python loop over row predicates (>= 1.0x)"
    lines = [
        (
            f"{name} rate",
            f"{rate(o.cpu.median)} = {o.cpu.median / base.cpu.median:.3f}x "
            f"(wall {o.wall.median / base.wall.median:.3f}x)",
        )
        for name, o in outcomes.items()
    ]
    hits = rows_hit(data)
    slower = outcomes[ZEN_BATCH].cpu.median / outcomes[ZEN_ONE].cpu.median
    header = ["variant", "records", "median rate", "min - max rate", "ratio", "ratio (wall)"]
    markdown = "\n".join(
        [
            f"## {TITLE}",
            "",
            f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
            "",
            f"- Target: {target}. Result: **{verdict(passed)}**: {rate(sop.cpu.median)} "
            f"against {rate(base.cpu.median)}, {ratio:.3f}x (wall clock {wall_ratio:.3f}x).",
            f"- One `hit: first` table of {len(RULES)} rows over 4 inputs (enum, number, text, "
            "integer; `==`, `!=`, `>=`, `<`, ranges, `in`, `not in`, `*`) and a default, "
            f"compiled from YAML by `compile_bundle`; {records:,} generated deals (seed {SEED}, "
            f"5% of amounts exactly at a row's bound). Rows deciding them, 1 to {len(RULES)} "
            f"then the default: {', '.join(str(h) for h in hits)}.",
            f"- {repeats} rounds, every variant once per round in rotating order, GC paused "
            "while timing. Rates are records/s of CPU time; ratios are a variant's median over "
            "the baseline's from the same run. Every variant's outputs equal the baseline's "
            "(checked, record by record).",
            f"- sopflow: `CompiledDecisionTable.evaluate(record, context)`, the call "
            "`decide_in` makes (engine/tablecode.py generates it, docs/decisions.md); it "
            "returns a `TableResult` (rows used, outputs, computed cells). Baseline: a list "
            "of (predicate, outputs) pairs and a `for` loop returning the first match's "
            "outputs. If-chain: the same rows as nested `if`s, inputs read once. zen-engine: "
            "the table as JDM (the default as a last all-empty rule), every record in one "
            "`ZenEngine.evaluate_batch` call, and one `ZenDecision.evaluate(r)` call a record "
            f"({slower:.0f}x slower a record) on the first {min(zen_records, records):,} records. "
            "'sopflow before' is the decide path this replaced, kept for comparison.",
            "",
            md_table(header, _rows(outcomes)),
        ]
    )
    stats = {k: v.cpu for k, v in outcomes.items()}
    return Result(
        NAME, TITLE, target, passed, lines, markdown, {"stats": stats, "ratio": ratio, "hits": hits}
    )
