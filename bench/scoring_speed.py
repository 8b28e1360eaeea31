"""Scoring and validation rules at the speed of their compiled expressions.

Two tables from one run, every variant once per round in rotating order (GC paused),
ratios of medians from the same run:

1. The default bundle's 17-feature lead score (`definitions/`, `lead_quality`): a
   hand-written weighted sum (the baseline), sopflow `score()` (the runtime's entry
   point: a result holding the score and each feature's value, from which the
   explanation the runtime stores is worked out), the same plus `explain()` (what the
   runtime stores with the decision), the reference feature-by-feature loop (how
   `score()` ran before), one fused lambda and simpleeval.
2. Validation rules over a record: hand-written checks (the baseline) against
   `check_validations`.

Every variant gives the same results as its baseline (checked), and every explanation
equals the reference loop's (checked on every record).
"""

from __future__ import annotations

import random
from datetime import date, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import simpleeval

from bench.common import BenchError, Machine, Result, load, md_table, rate, verdict
from bench.expressions import Outcome, Variant, race
from bench.runtime_bundles import compiled
from engine.bundle import Bundle, CompiledScoring
from runtime.rules import check_validations, score
from runtime.scoring import ScoreResult, evaluate_each, model_of
from runtime.unit import safe_render

NAME = "scoring"
TITLE = "Scores and validation rules: sopflow vs hand-written code"
TARGET_RATIO = 0.5  # within 2x of the hand-written code, for both tables
SEED = 20261205
DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"
MODEL = "lead_quality"

# The model's weights, written by hand (checked against definitions/ when run).
WEIGHTS = (
    0.14, 0.12, 0.08, 0.07, 0.05, 0.05, 0.06, 0.04, 0.07,
    0.04, 0.04, 0.05, 0.04, 0.05, 0.03, 0.03, 0.04,
)  # fmt: skip


def _sum(weights: tuple[float, ...]) -> float:
    total = 0.0
    for weight in weights:
        total += weight
    return total


WEIGHT_SUM = _sum(WEIGHTS)


def score_by_hand(r: dict[str, Any]) -> float:
    """Return the lead quality score, written by hand as a developer would."""
    w = WEIGHTS
    total = (
        w[0] * min(max(r["orders_90d"] / 12, 0), 1)
        + w[1] * min(max(r["turnover_rate"] / 6, 0), 1)
        + w[2] * (1 if r["policy_change"] else 0)
        + w[3] * min(max(r["avg_order_value"] / 5000, 0), 1)
        + w[4] * min(max(r["categories_bought"] / 10, 0), 1)
        + w[5] * min(max(r["store_count"] / 20, 0), 1)
        + w[6] * (1 if r["insurance_designated"] else 0)
        + w[7] * r["prescription_share"]
        + w[8] * r["on_time_payment_rate"]
        + w[9] * min(max(r["stockout_days_30d"] / 10, 0), 1)
        + w[10] * (1 - min(max(r["competitor_brands"] / 5, 0), 1))
        + w[11] * min(max(r["daily_visitors"] / 500, 0), 1)
        + w[12] * r["online_share"]
        + w[13] * (1 - min(max(r["days_since_last_order"] / 90, 0), 1))
        + w[14] * (r["contact_phone"] not in (None, ""))
        + w[15] * ((5 - r["city_tier"]) / 4)
        + w[16] * ("demo_booked" in r["touchpoints"])
    )
    return round(100 * total / WEIGHT_SUM, 6)


def _fused() -> Any:
    w, ws = WEIGHTS, WEIGHT_SUM
    return lambda r: round(
        100.0
        * (
            w[0] * min(max(r["orders_90d"] / 12, 0), 1)
            + w[1] * min(max(r["turnover_rate"] / 6, 0), 1)
            + w[2] * (1 if r["policy_change"] else 0)
            + w[3] * min(max(r["avg_order_value"] / 5000, 0), 1)
            + w[4] * min(max(r["categories_bought"] / 10, 0), 1)
            + w[5] * min(max(r["store_count"] / 20, 0), 1)
            + w[6] * (1 if r["insurance_designated"] else 0)
            + w[7] * r["prescription_share"]
            + w[8] * r["on_time_payment_rate"]
            + w[9] * min(max(r["stockout_days_30d"] / 10, 0), 1)
            + w[10] * (1 - min(max(r["competitor_brands"] / 5, 0), 1))
            + w[11] * min(max(r["daily_visitors"] / 500, 0), 1)
            + w[12] * r["online_share"]
            + w[13] * (1 - min(max(r["days_since_last_order"] / 90, 0), 1))
            + w[14] * (r["contact_phone"] not in (None, ""))
            + w[15] * ((5 - r["city_tier"]) / 4)
            + w[16] * ("demo_booked" in r["touchpoints"])
        )
        / ws,
        6,
    )


TOUCHPOINTS = ("web_form", "email_opened", "whitepaper", "demo_booked")


def make_leads(n: int, seed: int = SEED) -> list[dict[str, Any]]:
    """Generate `n` leads with every input of the score set, as the form keeps them."""
    rng = random.Random(seed)
    return [
        {
            "orders_90d": rng.randint(0, 30),
            "turnover_rate": round(rng.uniform(0, 9), 2),
            "policy_change": rng.random() < 0.3,
            "avg_order_value": round(rng.uniform(0, 8000), 2),
            "categories_bought": rng.randint(0, 14),
            "store_count": rng.randint(1, 40),
            "insurance_designated": rng.random() < 0.5,
            "prescription_share": round(rng.random(), 3),
            "on_time_payment_rate": round(rng.random(), 3),
            "stockout_days_30d": rng.randint(0, 15),
            "competitor_brands": rng.randint(0, 8),
            "daily_visitors": rng.randint(0, 900),
            "online_share": round(rng.random(), 3),
            "days_since_last_order": rng.randint(0, 120),
            "contact_phone": None if rng.random() < 0.2 else f"138{rng.randint(0, 10**8):08d}",
            "city_tier": rng.randint(1, 4),
            "touchpoints": rng.sample(TOUCHPOINTS, rng.randint(0, 4)),
        }
        for _ in range(n)
    ]


def _simpleeval(model: CompiledScoring) -> Any:
    def is_set(value: Any) -> bool:
        return value is not None and not (isinstance(value, str | list) and len(value) == 0)

    def clamp(x: Any, lo: Any, hi: Any) -> Any:
        return min(max(x, lo), hi)

    evaluator = simpleeval.SimpleEval(functions={"clamp": clamp, "is_set": is_set})
    trees = [(evaluator.parse(f.value), f.value) for f in model.spec.features.values()]

    def one(r: dict[str, Any]) -> float:
        evaluator.names = r
        total = weights = 0.0
        for (tree, source), weight in zip(trees, WEIGHTS, strict=True):
            value = evaluator.eval(source, previously_parsed=tree)
            total += weight * min(max(float(value), 0.0), 1.0)
            weights += weight
        return round(100 * total / weights, 6)

    return one


def score_variants(
    model: CompiledScoring, leads: list[dict[str, Any]], simpleeval_leads: int
) -> list[Variant]:
    """Build the variants of the score table (simpleeval on the first leads only)."""
    hand, fused, c, m = score_by_hand, _fused(), {}, model_of(model)
    slow = _simpleeval(model)
    subset = leads[:simpleeval_leads]
    n = len(leads)
    return [
        ("hand-written weighted sum", lambda: [hand(r) for r in leads], n),
        ("sopflow score()", lambda: [score(model, r, c).score for r in leads], n),
        (
            "sopflow score().explain()",
            lambda: [score(model, r, c).explain()["score"] for r in leads],
            n,
        ),
        (
            "reference loop (score() before)",
            lambda: [evaluate_each(m, r, c)[0] for r in leads],
            n,
        ),
        ("fused lambda", lambda: [fused(r) for r in leads], n),
        ("simpleeval, pre-parsed", lambda: [slow(r) for r in subset], len(subset)),
    ]


def check_explanations(model: CompiledScoring, leads: list[dict[str, Any]]) -> int:
    """Check that every lead's explanation equals the reference loop's; return how many."""
    m = model_of(model)
    for i, r in enumerate(leads):
        reference = evaluate_each(m, r, {})
        want = ScoreResult(reference[0], m, None, reference)
        got = score(model, r, {})
        if got.explain() != want.explain() or got.features != want.features:
            raise BenchError(f"lead {i}: the explanation differs from the reference loop's")
    return len(leads)


# -- validation rules -------------------------------------------------------------------

MANIFEST = """\
kind: bundle
version: 1
name: validation-bench
timezone: Asia/Shanghai
roles:
  rep: {title: Rep}
users:
  ann: {roles: [rep]}
"""

RULES = """\
kind: form
version: 1
entity: deal
fields:
  price: {type: decimal}
  discount: {type: decimal}
  quantity: {type: integer}
  region: {type: string}
  contract: {type: string}
---
kind: workflow
version: 1
name: deal_flow
entity: deal
stages:
  - id: draft
  - id: quote
  - id: signed
---
kind: form
version: 1
entity: visit
fields:
  minutes: {type: integer}
---
kind: validation
version: 1
name: no_negative_price
entity: deal
refuse_if: "price < 0"
message: "A price of {{ price }} is negative."
---
kind: validation
version: 1
name: quote_cap
entity: deal
stages: [quote]
refuse_if: "price > 110"
message: "The quote {{ price }} is above the cap of 110."
---
kind: validation
version: 1
name: big_discount
entity: deal
stages: [quote]
severity: warning
refuse_if: "discount > 0.38"
message: "A discount of {{ discount }} needs a manager's eye."
---
kind: validation
version: 1
name: closed_region
entity: deal
effective_from: 2026-03-01
refuse_if: "region == 'tibet'"
message: "Deals in {{ region }} are closed from March."
---
kind: validation
version: 1
name: next_year_rule
entity: deal
effective_from: 2099-01-01
refuse_if: "price > 0"
message: "Not yet."
---
kind: validation
version: 1
name: at_least_one
entity: deal
refuse_if: "quantity < 1"
message: "A deal of {{ quantity }} items."
---
kind: validation
version: 1
name: signed_needs_contract
entity: deal
stages: [signed]
refuse_if: "is_missing(contract)"
message: "A signed deal needs its contract."
---
kind: validation
version: 1
name: leaving_only
entity: deal
on: [leave_stage]
stages: [draft]
refuse_if: "price > 50"
message: "Only on leaving."
---
kind: validation
version: 1
name: short_visit
entity: visit
refuse_if: "minutes < 5"
message: "Too short."
---
kind: validation
version: 1
name: long_visit
entity: visit
severity: warning
refuse_if: "minutes > 240"
message: "Too long."
"""

NOW = datetime(2026, 12, 5, 2, 0)  # naive UTC: 10:00 in Shanghai
STARTS = date(2026, 3, 1)
Checked = tuple[list[tuple[str, str]], list[tuple[str, str]]]


def validations_by_hand(r: dict[str, Any], stage: str | None, today: date) -> Checked:
    """Return the refusals of the deal rules on save, written by hand: (errors, warnings)."""
    errors: list[tuple[str, str]] = []
    warnings: list[tuple[str, str]] = []
    price = r["price"]
    if price < 0:
        errors.append(("no_negative_price", f"A price of {price} is negative."))
    if stage == "quote" and price > 110:
        errors.append(("quote_cap", f"The quote {price} is above the cap of 110."))
    if stage == "quote" and r["discount"] > 0.38:
        warnings.append(("big_discount", f"A discount of {r['discount']} needs a manager's eye."))
    if today >= STARTS and r["region"] == "tibet":
        errors.append(("closed_region", f"Deals in {r['region']} are closed from March."))
    if r["quantity"] < 1:
        errors.append(("at_least_one", f"A deal of {r['quantity']} items."))
    if stage == "signed" and not r.get("contract"):
        errors.append(("signed_needs_contract", "A signed deal needs its contract."))
    return errors, warnings


def make_deals(n: int, seed: int = SEED) -> list[tuple[dict[str, Any], str]]:
    """Generate `n` deals and their stages; one or two in a hundred break a rule."""
    rng = random.Random(seed)
    regions = ("sichuan", "yunnan", "guizhou", "tibet")
    return [
        (
            {
                "price": round(rng.uniform(-0.1, 110.2), 2),
                "discount": round(rng.uniform(0, 0.385), 3),
                "quantity": rng.randint(0, 300),
                "region": rng.choices(regions, (300, 300, 397, 3))[0],
                "contract": None if rng.random() < 0.01 else "C-1",
            },
            rng.choice(("draft", "quote", "signed")),
        )
        for _ in range(n)
    ]


def refused_deals(n: int, seed: int = SEED) -> list[tuple[dict[str, Any], str]]:
    """Return `n` deals each breaking at least one rule (for the cost of a refusal)."""
    today, found = date(2026, 12, 5), []
    rng = random.Random(seed)
    while len(found) < n:
        r, stage = make_deals(1, rng.randint(0, 2**31))[0]
        r["price"] = -r["price"] if rng.random() < 0.5 else r["price"] + 100
        if any(validations_by_hand(r, stage, today)):
            found.append((r, stage))
    return found


def _pairs(problems: list[Any]) -> list[tuple[str, str]]:
    return [(p.rule, p.message) for p in problems]


def validation_variants(bundle: Bundle, deals: list[tuple[dict[str, Any], str]]) -> list[Variant]:
    """Build the variants of the validation table."""
    today = date(2026, 12, 5)  # NOW in Shanghai
    hand, check, c = validations_by_hand, check_validations, {}

    def sopflow() -> list[Any]:
        return [check(bundle, "deal", "save", r, c, s, NOW, safe_render) for r, s in deals]

    n = len(deals)
    return [(HAND, lambda: [hand(r, s, today) for r, s in deals], n), (SOPFLOW, sopflow, n)]


HAND, SOPFLOW = "hand-written checks", "sopflow check_validations"


def _same_validations(outcomes: dict[str, Outcome]) -> int:
    expected = outcomes[HAND].results
    got = [(_pairs(e), _pairs(w)) for e, w in outcomes[SOPFLOW].results]
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        if a != (b[0], b[1]):
            raise BenchError(f"check_validations disagrees with the hand-written checks at {i}")
    return sum(1 for e, w in expected if e or w)


def _same(outcomes: dict[str, Outcome], baseline: str) -> None:
    expected = outcomes[baseline].results
    for name, outcome in outcomes.items():
        got = outcome.results
        if got != expected[: len(got)]:
            wrong = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
            raise BenchError(f"{name} disagrees with {baseline} at record {wrong}")


def _rows(outcomes: dict[str, Outcome], baseline: str, note: str = "") -> list[list[str]]:
    base = outcomes[baseline]
    return [
        [
            name + note,
            f"{len(o.results):,}",
            rate(o.cpu.median),
            f"{rate(o.cpu.min)} - {rate(o.cpu.max)}",
            f"{1e6 / o.cpu.median:.2f} us",
            f"{o.cpu.median / base.cpu.median:.3f}x",
            f"{o.wall.median / base.wall.median:.3f}x",
        ]
        for name, o in outcomes.items()
    ]


def _check_weights(model: CompiledScoring) -> None:
    declared = tuple(f.weight for f in model.spec.features.values())
    if declared != WEIGHTS or tuple(model.spec.scale) != (0.0, 100.0):
        raise BenchError(f"definitions/ '{MODEL}' changed: update WEIGHTS in {__name__}")


def run(
    records: int = 100_000,
    repeats: int = 7,
    simpleeval_records: int = 5_000,
    refusing_records: int = 5_000,
    *,
    machine: Machine,
) -> Result:
    """Measure the score and the validation rules; check every variant agrees."""
    loads = [load()]
    bundle = compiled(DEFINITIONS)
    model = bundle.scorings[MODEL]
    _check_weights(model)
    leads = make_leads(records)
    explained = check_explanations(model, leads)
    scores = race(score_variants(model, leads, simpleeval_records), repeats)
    _same(scores, "hand-written weighted sum")
    with TemporaryDirectory(prefix="bench-validations-") as tmp:
        root = Path(tmp)
        (root / "bundle.yaml").write_text(MANIFEST, encoding="utf-8")
        (root / "rules.yaml").write_text(RULES, encoding="utf-8")
        rules_bundle = compiled(root)
    deals = make_deals(records)
    checks = race(validation_variants(rules_bundle, deals), repeats)
    refused = _same_validations(checks)
    every = race(validation_variants(rules_bundle, refused_deals(refusing_records)), repeats)
    _same_validations(every)
    today = date(2026, 12, 5)
    passing = [(r, s) for r, s in deals if not any(validations_by_hand(r, s, today))]
    clean = race(validation_variants(rules_bundle, passing), repeats)
    _same_validations(clean)
    loads.append(load())
    hand, sop = scores["hand-written weighted sum"], scores["sopflow score()"]
    ratio = sop.cpu.median / hand.cpu.median
    explain_ratio = scores["sopflow score().explain()"].cpu.median / hand.cpu.median
    v_base, v_sop = checks[HAND], checks[SOPFLOW]
    v_ratio = v_sop.cpu.median / v_base.cpu.median
    e_ratio = every[SOPFLOW].cpu.median / every[HAND].cpu.median
    p_ratio = clean[SOPFLOW].cpu.median / clean[HAND].cpu.median
    passed = ratio >= TARGET_RATIO and v_ratio >= TARGET_RATIO
    target = "score() and check_validations each >= 0.5x hand-written code"
    lines = [
        ("score() / hand-written", f"{ratio:.3f}x ({rate(sop.cpu.median)})"),
        ("score().explain() / hand-written", f"{explain_ratio:.3f}x"),
        ("check_validations / hand-written", f"{v_ratio:.3f}x ({rate(v_sop.cpu.median)})"),
        ("... no deal refused", f"{p_ratio:.3f}x"),
        ("... every deal refused", f"{e_ratio:.3f}x"),
    ]
    header = ["variant", "records", "median rate", "min - max rate", "per record", "ratio",
              "ratio (wall)"]  # fmt: skip
    subset = min(simpleeval_records, records)
    markdown = "\n".join(
        [
            f"## {TITLE}",
            "",
            f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
            "",
            f"- Target: {target}. Result: **{verdict(passed)}**: `score()` {ratio:.3f}x, "
            f"`check_validations` {v_ratio:.3f}x (`score().explain()`, the breakdown the "
            f"runtime stores with the decision, {explain_ratio:.3f}x).",
            f"- {records:,} generated records (seed {SEED}), {repeats} rounds, every variant "
            "once per round in rotating order, GC paused while timing. Rates are records/s "
            "of CPU time; ratios are a variant's median over the baseline's median from the "
            "same run. Every variant gives the baseline's results (checked), and every "
            f"lead's explanation from `score()` equals the reference loop's ({explained:,} "
            "checked, before timing).",
            "",
            "### 17-feature score",
            "",
            f"The default bundle's `{MODEL}` (definitions/rules/lead_scoring.yaml), every "
            "input set. `score()` runs one function generated per model (runtime/scorer.py) "
            "and keeps each feature's value; `explain()` works out the contributions "
            "(rounded to 6 places) from them. The reference loop is how `score()` ran "
            "before: feature by feature, the breakdown built as it goes; it still scores "
            "every record with a missing or non-numeric value. simpleeval evaluates the "
            f"pre-parsed features of the first {subset:,} records.",
            "",
            md_table(header, _rows(scores, "hand-written weighted sum")),
            "",
            "### Validation rules over a record",
            "",
            "Eight rules on `deal` (stage filters, start dates, a warning, one run only on "
            "leaving a stage) and two on another entity; `check_validations(..., 'save', "
            f"...)` per deal against hand-written checks. {refused:,} of the {records:,} "
            "deals break a rule (most saves pass); the second pair runs "
            f"{len(every[HAND].results):,} deals that each break one, where a refusal's "
            "message costs a template render (runtime/render.py; a message of text and "
            "names takes the fast path of runtime/render_fast.py, to jinja2's text) "
            f"against an f-string by hand: {e_ratio:.3f}x; the third pair runs the "
            f"{len(passing):,} deals that break nothing: {p_ratio:.3f}x. The target is "
            "checked on the first pair.",
            "",
            md_table(
                header,
                _rows(checks, HAND)
                + _rows(every, HAND, " (every deal refused)")
                + _rows(clean, HAND, " (no deal refused)"),
            ),
        ]
    )
    stats = {k: v.cpu for k, v in {**scores, **checks}.items()}
    data = {
        "stats": stats,
        "ratio": ratio,
        "validation_ratio": v_ratio,
        "passing_ratio": p_ratio,
        "refused_ratio": e_ratio,
        "explained": explained,
    }
    return Result(NAME, TITLE, target, passed, lines, markdown, data)
