"""The small bundle the branch and approval tests share: a deal reviewed in parallel
branches (legal only over 100000), then approved by two of three directors."""

from __future__ import annotations

from pathlib import Path

from engine.bundle import Bundle
from tests.runtime.small import small_bundle

DEFINITIONS = {
    "bundle.yaml": """
kind: bundle
version: 1
name: approvals
timezone: UTC
roles: [rep, legal, finance, director, manager]
users:
  ann: {name: Ann, roles: [rep]}
  lea: {name: Lea, roles: [legal]}
  fin: {name: Fin, roles: [finance]}
  dora: {name: Dora, roles: [director], manager: max, leave: [{from: 2026-01-06, to: 2026-01-08}]}
  dan: {name: Dan, roles: [director], manager: max}
  del: {name: Del, roles: [director]}
  max: {name: Max, roles: [manager]}
""",
    "forms/deal.yaml": """
kind: form
version: 1
entity: deal
fields:
  amount: {type: integer}
  legal_notes: {type: string}
  approved: {type: boolean}
""",
    "workflows/deal_flow.yaml": """
kind: workflow
version: 1
name: deal_flow
entity: deal
stages:
  - id: intake
  - id: review
    branches:
      need: all
      items:
        - id: legal
          title: Legal review
          roles: [legal]
          require: [legal_notes]
          evidence: [{kind: legal_memo, types: [application/pdf]}]
          when: "amount > 100000"
        - id: finance
          title: Finance review
          roles: [finance]
  - id: approval
    approval:
      title: Tier approval
      by: {role: director}
      need: 2
      send_back_to: [intake, review]
      on_reject: lost
      on_approved:
        - set: {fields: {approved: "True"}}
  - id: done
exits:
  - {id: lost, outcome: lost}
""",
}


def approvals_bundle(root: Path, **replace: str) -> Bundle:
    """Compile the bundle, with text replaced in the workflow (`old=new` pairs as a dict)."""
    files = {name: text.lstrip() for name, text in DEFINITIONS.items()}
    for old, new in replace.items():
        files["workflows/deal_flow.yaml"] = files["workflows/deal_flow.yaml"].replace(old, new)
    return small_bundle(root, files)
