"""A bundle whose expressions fail on purpose: every place an expression runs, recorded.

`label * copies` is longer than MAX_STRING_LENGTH when copies is large (a size bound);
`lookup('sla_hours', region)` and `lookup('caps', label)` have no row for 'west'/'zzz'.
"""

from __future__ import annotations

from pathlib import Path

BUNDLE = """\
kind: bundle
version: 1
name: evalerr
timezone: UTC
roles: [rep, manager]
users:
  ann: {roles: [rep]}
  max: {roles: [manager]}
queues:
  inbox: {title: Inbox}
access:
  metrics: [manager]
tables:
  sla_hours:
    key: [region]
    columns: {region: string, hours: integer}
    rows:
      - {region: east, hours: 4}
  caps:
    key: [label]
    columns: {label: string, cap: integer}
    rows:
      - {label: ab, cap: 3}
---
kind: form
version: 1
entity: order
title: Order
fields:
  label: {type: string}
  copies: {type: integer}
  region: {type: string}
  mode: {type: string}
  note: {type: string}
  cap: {type: integer}
  fit: {type: decimal}
  banner: {type: string, computed: "label * copies"}
load:
  counts_while: "mode != 'load' or len(label * copies) > 0"
---
kind: workflow
version: 1
name: flow
entity: order
applies_when: "mode == 'flow'"
stages:
  - id: new
    sla:
      within_expr: "hours(lookup('sla_hours', region).hours + len(label * copies) * 0)"
    on_enter:
      - set: {fields: {note: "'n' * copies"}}
      - set: {fields: {cap: "lookup('caps', label).cap"}}
  - id: done
    on_enter:
      - suggest: {table: caps, where: "len(row.label * copies) > 0", title: Caps}
moves:
  forward: next
  roles: [rep]
---
kind: workflow
version: 1
name: timed
entity: order
applies_when: "mode == 'timed'"
stages:
  - id: wait
    sla:
      within: 1h
      on_breach:
        - set: {fields: {note: "'n' * copies"}}
        - set: {fields: {cap: "lookup('caps', label).cap"}}
  - id: over
moves:
  forward: next
  roles: [rep]
---
kind: alert
version: 1
name: long_banner
entity: order
when: "len(label * copies) > 10"
---
kind: alert
version: 1
name: far_region
entity: order
when: "mode == 'alert' and lookup('sla_hours', region).hours > 2"
---
kind: scoring
version: 1
name: order_fit
entity: order
title: Order fit
output: fit
missing: zero
features:
  size: {value: "len(label * copies) > 0", weight: 1}
---
kind: routing
version: 1
name: order_routing
entity: order
title: Order routing
when: "mode == 'route' or (mode == 'rwhen' and len(label * copies) > 0)"
candidates: {role: rep}
eligible: "len(label * copies) > 0"
strategy: least_loaded
fallback_queue: inbox
override_roles: [manager]
"""

BIG = 100_001  # 'a' * BIG is one character longer than MAX_STRING_LENGTH
TOO_LARGE = "the result would be longer than 100000 characters or items"


def write_bundle(root: Path) -> Path:
    """Write the bundle folder and return it."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "bundle.yaml").write_text(BUNDLE, encoding="utf-8")
    return root
