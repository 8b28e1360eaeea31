"""A claims bundle with named assignments and row access (tests of runtime/named.py)."""

from __future__ import annotations

from pathlib import Path

from engine.bundle import Bundle
from tests.runtime.small import small_bundle

MANIFEST = """\
kind: bundle
version: 1
name: claims
timezone: UTC
roles:
  rep: {title: Rep}
  reviewer: {title: Reviewer}
  senior: {title: Senior reviewer}
  manager: {title: Manager}
  auditor: {title: Auditor}
teams:
  north: {title: North, lead: mia, members: [ann, bob]}
users:
  ann: {name: Ann, roles: [rep]}
  bob: {name: Bob, roles: [rep]}
  cid: {name: Cid, roles: [rep]}
  rita: {name: Rita, roles: [reviewer], capacity: 3}
  sam: {name: Sam, roles: [reviewer, senior], capacity: 3}
  tom: {name: Tom, roles: [senior], capacity: 1}
  mia: {name: Mia, roles: [manager]}
  olga: {name: Olga, roles: [auditor]}
queues:
  review_queue: {title: Reviews waiting}
  senior_queue: {title: Senior reviews waiting}
  intake: {title: Intake}
"""
CLAIM = """\
kind: form
version: 1
entity: claim
fields:
  title: {type: string, required: true}
  amount: {type: decimal, default: 0}
  state: {type: enum, values: [open, settled], default: open}
load:
  counts_while: "state == 'open'"
assignments:
  reviewer:
    title: Reviewer
    routing: reviewer_routing
    at: created
  second_reviewer:
    title: Second reviewer
    routing: senior_routing
    at: {when: "amount >= 100000"}
    not_same_as: [reviewer]
  approver:
    title: Approver
    routing: senior_routing
    at: {entering: approval}
  account_manager:
    title: Account manager
permissions:
  read: [rep, manager, reviewer, senior, auditor]
  rows:
    rep: assigned
    manager: team
"""
FLOW = """\
kind: workflow
version: 1
name: claim_flow
entity: claim
stages:
  - id: intake
  - id: approval
moves:
  back: any
exits:
  - {id: paid, outcome: won}
"""
# The claim form without its `reviewer` (tests of a dropped assignment).
_REVIEWER = """\
  reviewer:
    title: Reviewer
    routing: reviewer_routing
    at: created
"""
WITHOUT_REVIEWER = CLAIM.replace(_REVIEWER, "").replace("    not_same_as: [reviewer]\n", "")
OWNER_ROUTING = """\
kind: routing
version: 1
name: owner_routing
entity: claim
candidates: {role: rep}
strategy: round_robin
fallback_queue: intake
"""
REVIEWER_ROUTING = """\
kind: routing
version: 1
name: reviewer_routing
entity: claim
candidates: {role: reviewer}
strategy: least_loaded
fallback_queue: review_queue
"""
SENIOR_ROUTING = """\
kind: routing
version: 1
name: senior_routing
entity: claim
candidates: {role: senior}
strategy: least_loaded
fallback_queue: senior_queue
"""


def claims_bundle(root: Path, **extra: str) -> Bundle:
    """Compile the claims bundle (plus `extra` files by relative path)."""
    files = {
        "bundle.yaml": MANIFEST,
        "forms/claim.yaml": CLAIM,
        "workflows/claim.yaml": FLOW,
        "rules/owner.yaml": OWNER_ROUTING,
        "rules/reviewer.yaml": REVIEWER_ROUTING,
        "rules/senior.yaml": SENIOR_ROUTING,
        **extra,
    }
    return small_bundle(root, files)
