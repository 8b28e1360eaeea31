"""Small purpose-built bundles for the runtime benchmarks (transitions, lead_creation, sla_tick).

Each writer puts a complete bundle (manifest plus definition files) into a folder and
returns the values the benchmark needs to drive it; `compiled` compiles a folder and
refuses a bundle with errors. The shapes follow `definitions/`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import BenchError
from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from engine.diagnostics import errors


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def compiled(root: Path) -> Bundle:
    """Compile the bundle at `root`; raise BenchError unless it has zero errors."""
    result = compile_bundle(root)
    errs = errors(result.diagnostics)
    if errs or result.bundle is None:
        shown = "\n".join(d.render() for d in errs[:10])
        raise BenchError(f"the benchmark bundle at {root} has {len(errs)} errors:\n{shown}")
    return result.bundle


def _manifest(name: str, users: list[str], extra: str = "") -> str:
    return (
        "kind: bundle\nversion: 1\n"
        f"name: {name}\ntitle: Benchmark bundle {name}\ntimezone: UTC\n\n"
        "roles:\n  rep: {title: Sales rep}\n  manager: {title: Sales manager}\n"
        "  admin: {title: Administrator}\n\n"
        f"{extra}"
        "users:\n" + "".join(f"  {line}\n" for line in users)
    )


# -- transitions ----------------------------------------------------------------------

STAGES = ("qualify", "discovery", "analysis", "proposal", "quote", "closing")
EVIDENCE_KIND = "site_photo"
ACTOR = "rep.0"


def _stage(stage: str) -> str:
    return f"""\
  - id: {stage}
    require: [account_name, amount]
    evidence:
      - {{kind: {EVIDENCE_KIND}, title: Site photo, types: ["image/jpeg", "image/png"], min: 1,
         from: any_stay}}
    guards:
      - refuse_if: "amount > 1000000 and tier != 'VIP'"
        message: "{{{{ amount }}}} is above the limit for a {{{{ tier }}}} account."
    sla:
      within: 3 days
      on_breach:
        - notify: {{to: owner.manager, template: deal_stalled}}
"""


def write_transitions_bundle(root: Path) -> None:
    """Write a bundle with one six-stage workflow: every stage has a required-field check,
    one evidence requirement (the same kind, `from: any_stay`: one file attached beforehand
    satisfies all),
    a guard and an SLA (a breach timer cancelled on leaving, started on entering)."""
    _write(
        root,
        {
            "bundle.yaml": _manifest(
                "bench-transitions",
                [
                    f"{ACTOR}: {{name: Rep 0, roles: [rep], manager: mgr.0}}",
                    "mgr.0: {name: Manager 0, roles: [manager]}",
                ],
            ),
            "forms/deal.yaml": """\
kind: form
version: 1
entity: deal
title: Deal
fields:
  account_name: {type: string, required: true, normalize: [trim, collapse_spaces]}
  region: {type: enum, values: [north, south, east, west], required: true}
  tier: {type: enum, values: [VIP, normal, trial], default: normal}
  amount: {type: decimal, min: 0}
  expected_close: {type: date}
permissions:
  create: [rep, manager]
  write: [rep, manager]
""",
            "rules/notifications.yaml": """\
kind: notification
version: 1
name: deal_stalled
subject: "{{ record.account_name }} has been in {{ record.stage }} for 3 days"
body: "Owner: {{ record.owner }}."
""",
            "workflows/deal_flow.yaml": (
                "kind: workflow\nversion: 1\nname: deal_flow\nentity: deal\n"
                "title: Deal SOP\nstages:\n"
                + "".join(_stage(s) for s in STAGES)
                + "exits:\n  - {id: won, outcome: won, from: [closing]}\n"
                "  - {id: lost, outcome: lost}\n"
                "moves:\n  forward: next\n  roles: [rep, manager]\n"
            ),
        },
    )


def deal(i: int) -> dict[str, Any]:
    """Return the data of the i-th deal record."""
    return {
        "account_name": f" Pharmacy  {i} ",
        "region": ("north", "south", "east", "west")[i % 4],
        "tier": ("VIP", "normal", "trial")[i % 3],
        "amount": 1000.0 + i % 5000,
        "expected_close": "2026-03-01",
    }


# -- move checks -------------------------------------------------------------------------

CHECK_ACTOR = "rep.0"
DISCOUNT_CAP = 20  # the `quote` stage's leave_stage validation: discount above this refuses


def _check_stage(stage: str) -> str:
    roles = "    roles: [rep, manager]\n" if stage == "closing" else ""
    return f"""\
  - id: {stage}
    require: [account_name, amount]
    guards:
      - refuse_if: "amount > 1000000 and tier != 'VIP'"
        message: "{{{{ amount }}}} is above the limit for a {{{{ tier }}}} account."
{roles}"""


def write_move_bundle(root: Path) -> None:
    """Write a bundle with one six-stage workflow for move checks (nothing stored).

    Every stage requires two fields and has a guard; `closing` names the roles that may
    move out of it, the `won` exit needs a manager and an expected close date, and a
    validation on leaving `quote` caps the discount. No evidence and no SLA: a move check
    reads no table, so it can be set against in-memory state machines.
    """
    _write(
        root,
        {
            "bundle.yaml": _manifest(
                "bench-moves",
                [
                    f"{CHECK_ACTOR}: {{name: Rep 0, roles: [rep], manager: mgr.0}}",
                    "mgr.0: {name: Manager 0, roles: [manager]}",
                ],
            ),
            "forms/deal.yaml": """\
kind: form
version: 1
entity: deal
title: Deal
fields:
  account_name: {type: string, required: true}
  region: {type: enum, values: [north, south, east, west], required: true}
  tier: {type: enum, values: [VIP, normal, trial], default: normal}
  amount: {type: decimal, min: 0}
  discount: {type: decimal, min: 0}
  expected_close: {type: date}
permissions:
  create: [rep, manager]
  write: [rep, manager]
""",
            "rules/discount.yaml": f"""\
kind: validation
version: 1
name: discount_cap
entity: deal
on: [leave_stage]
stages: [quote]
refuse_if: "discount > {DISCOUNT_CAP} and tier != 'VIP'"
message: "A {{{{ discount }}}}% discount needs a VIP account."
""",
            "workflows/deal_flow.yaml": (
                "kind: workflow\nversion: 1\nname: deal_flow\nentity: deal\n"
                "title: Deal SOP\nstages:\n"
                + "".join(_check_stage(s) for s in STAGES)
                + "exits:\n  - id: won\n    outcome: won\n    from: [closing]\n"
                "    require: [expected_close]\n    roles: [manager]\n"
                "  - {id: lost, outcome: lost}\n"
                'moves:\n  forward: next\n  back: ["quote -> proposal"]\n'
                "  roles: [rep, manager]\n"
            ),
        },
    )


# -- lead creation ----------------------------------------------------------------------

REGIONS = ("sichuan", "chongqing", "yunnan", "guizhou")
DISTRICTS = {r: tuple(f"{r}_d{k}" for k in range(5)) for r in REGIONS}
SPECIALTIES = ("otc", "prescription", "devices")
KEYWORDS = ("invoice", "out_of_stock", "system_error", "refund", "delivery", "price", "contract")
TOUCHPOINTS = ("web_form", "email_opened", "whitepaper", "demo_booked")
THRESHOLD = 82
REP_COUNT = 100

# (expression, weight): the 17 features of the lead quality score, in declaration order.
LEAD_FEATURES: tuple[tuple[str, float], ...] = (
    ("clamp(orders_90d / 12, 0, 1)", 0.12),
    ("tier == 'VIP'", 0.10),
    ("0 if tier == 'trial' else 1", 0.03),
    ("clamp(intent / 100, 0, 1)", 0.10),
    ("'invoice' in keywords", 0.05),
    ("stock_days < 7", 0.08),
    ("clamp(1 - stock_days / 30, 0, 1)", 0.05),
    ("clamp(margin_3m / 20000, 0, 1)", 0.08),
    ("clamp(margin_3m / revenue_3m, 0, 1) if revenue_3m else 0", 0.05),
    ("clamp(revenue_3m / 100000, 0, 1)", 0.06),
    ("specialty == 'prescription'", 0.04),
    ("clamp(len(keywords) / 5, 0, 1)", 0.03),
    ("region == 'sichuan'", 0.04),
    ("'demo_booked' in touchpoints", 0.07),
    ("clamp(len(touchpoints) / 4, 0, 1)", 0.04),
    ("is_set(district)", 0.02),
    ("intent >= 50", 0.04),
)


@dataclass(frozen=True)
class Rep:
    """A sales rep as the lead bundle declares them."""

    id: str
    region: str
    specialty: tuple[str, ...]
    territory: tuple[str, ...]


def reps(count: int = REP_COUNT) -> list[Rep]:
    """Return the reps of the lead bundle (deterministic)."""
    found = []
    for k in range(count):
        region = REGIONS[k % len(REGIONS)]
        districts = DISTRICTS[region]
        specialty = (
            (SPECIALTIES[k % 3],) if k % 5 else (SPECIALTIES[k % 3], SPECIALTIES[(k + 1) % 3])
        )
        territory = (districts[k % 5], districts[(k + 2) % 5])
        found.append(Rep(f"rep.{k:03d}", region, specialty, territory))
    return found


def write_lead_bundle(root: Path, count: int = REP_COUNT) -> list[Rep]:
    """Write the lead bundle: a 12-field form, a 17-feature score, a rep match score and
    a least-loaded routing with threshold 82 over `count` reps; return the reps."""
    people = reps(count)
    users = [
        f"{r.id}: {{name: Rep {r.id}, roles: [rep], manager: mgr.0, region: {r.region}, "
        f"specialty: [{', '.join(r.specialty)}], territory: [{', '.join(r.territory)}]}}"
        for r in people
    ]
    users.append("mgr.0: {name: Manager 0, roles: [manager]}")
    fields = "\n".join(
        f'  f{k:02d}: {{value: "{expr}", weight: {weight}}}'
        for k, (expr, weight) in enumerate(LEAD_FEATURES, 1)
    )
    _write(
        root,
        {
            "bundle.yaml": _manifest(
                "bench-leads",
                users,
                "user_fields:\n"
                "  specialty: {type: multi_enum, values: [otc, prescription, devices]}\n"
                "  territory: {type: list, description: Districts the rep covers}\n"
                "  region: {type: string}\n\n"
                "queues:\n  unmatched_leads: {title: Leads no rep may take}\n\n",
            ),
            "forms/lead.yaml": f"""\
kind: form
version: 1
entity: lead
title: Purchase-intent lead
fields:
  pharmacy_name: {{type: string, required: true, normalize: [trim, collapse_spaces]}}
  district: {{type: string, normalize: [trim]}}
  region: {{type: enum, values: [{", ".join(REGIONS)}], required: true}}
  specialty: {{type: enum, values: [{", ".join(SPECIALTIES)}]}}
  tier: {{type: enum, values: [VIP, normal, trial], default: normal}}
  intent: {{type: integer, min: 0, max: 100}}
  keywords: {{type: list, of: string, max_length: 20}}
  stock_days: {{type: decimal, min: 0}}
  orders_90d: {{type: integer, min: 0}}
  revenue_3m: {{type: decimal}}
  margin_3m: {{type: decimal}}
  touchpoints: {{type: list, of: enum, values: [{", ".join(TOUCHPOINTS)}]}}
  quality_score: {{type: decimal, min: 0, max: 100, write: [admin]}}
""",
            "rules/lead_scoring.yaml": f"""\
kind: scoring
version: 1
name: lead_quality
entity: lead
title: Lead quality score
output: quality_score
scale: [0, 100]
missing: zero
features:
{fields}
---
kind: scoring
version: 1
name: lead_rep_match
entity: lead
title: How well a rep fits a lead
against: users
features:
  specialty: {{value: "specialty in candidate.specialty", weight: 0.6}}
  territory: {{value: "district in candidate.territory", weight: 0.4}}
---
kind: routing
version: 1
name: lead_routing
entity: lead
title: Lead routing
candidates: {{role: rep}}
eligible: "candidate.available and region == candidate.region"
match: lead_rep_match
threshold: {THRESHOLD}
strategy: least_loaded
fallback_queue: unmatched_leads
""",
        },
    )
    return people


def make_leads(n: int, seed: int = 20261124) -> list[dict[str, Any]]:
    """Generate `n` lead bodies (the 12 input fields) with a seeded RNG."""
    rng = random.Random(seed)
    leads = []
    for i in range(n):
        region = rng.choice(REGIONS)
        revenue = 0.0 if rng.random() < 0.05 else round(rng.uniform(1_000, 150_000), 2)
        leads.append(
            {
                "pharmacy_name": f"  Pharmacy   {i} ",
                "district": rng.choice(DISTRICTS[region]),
                "region": region,
                "specialty": rng.choice(SPECIALTIES),
                "tier": rng.choices(("VIP", "normal", "trial"), (2, 6, 2))[0],
                "intent": rng.randint(0, 100),
                "keywords": rng.sample(KEYWORDS, rng.randint(0, 4)),
                "stock_days": float(rng.randint(0, 30)),
                "orders_90d": rng.randint(0, 40),
                "revenue_3m": revenue,
                "margin_3m": round(revenue * rng.uniform(-0.1, 0.4), 2),
                "touchpoints": rng.sample(TOUCHPOINTS, rng.randint(0, 4)),
            }
        )
    return leads


# -- SLA tick ----------------------------------------------------------------------------

SLA_STAGE = "review"
SLA_OWNERS = tuple(f"rep.{k}" for k in range(10))


def write_sla_bundle(root: Path) -> None:
    """Write a bundle whose `case` workflow holds records in `review` with a 2-day SLA;
    a breach notifies the owner and their manager (two outbox rows). No schedules and no
    metric alerts, so a tick's work is its due timers."""
    users = [f"{u}: {{name: Rep {u}, roles: [rep], manager: mgr.0}}" for u in SLA_OWNERS]
    users.append("mgr.0: {name: Manager 0, roles: [manager]}")
    _write(
        root,
        {
            "bundle.yaml": _manifest("bench-sla", users),
            "forms/case.yaml": """\
kind: form
version: 1
entity: case
title: Case
fields:
  title: {type: string, required: true}
  region: {type: enum, values: [north, south, east, west], required: true}
  priority: {type: integer, min: 1, max: 5}
""",
            "rules/notifications.yaml": """\
kind: notification
version: 1
name: case_breached
subject: "{{ record.title }} missed its SLA in {{ record.stage }}"
body: "It was due {{ record.sla_due }}; owner {{ record.owner }}."
""",
            "workflows/case_flow.yaml": f"""\
kind: workflow
version: 1
name: case_flow
entity: case
title: Case handling
stages:
  - id: intake
  - id: {SLA_STAGE}
    sla:
      within: 2 days
      on_breach:
        - notify: {{to: [owner, owner.manager], template: case_breached}}
  - id: done
exits:
  - {{id: resolved, outcome: won}}
""",
        },
    )


def case(i: int) -> dict[str, Any]:
    """Return the data of the i-th case record (as stored: JSON-ready)."""
    return {
        "title": f"Case {i}",
        "region": ("north", "south", "east", "west")[i % 4],
        "priority": 1 + i % 5,
    }
