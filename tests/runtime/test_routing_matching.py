"""`candidates.matching`: routing narrows its candidates by an attribute, through an index."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from engine.bundle import Bundle
from runtime import rules
from runtime.rules import RoutingResult, route
from runtime.store import Store
from tests.runtime.small import small_bundle

NOW = datetime(2026, 3, 2, 10)
MANIFEST = """\
kind: bundle
version: 1
name: small
timezone: UTC
roles: {rep: {}, lead: {}}
user_fields:
  territory: {type: list}
  region: {type: string}
  grade: {type: integer}
users:
  lead: {roles: [lead]}
queues: {overflow: {}}
"""
STAFF = """\
kind: staff
version: 1
users:
  ann: {roles: [rep], territory: [north, east], region: coast, grade: 2, capacity: 5}
  bob: {roles: [rep], territory: [east], region: inland, grade: 3, capacity: 5}
  cy: {roles: [rep], territory: [west], region: coast, grade: 2, capacity: 9}
  dee: {roles: [rep], territory: [east, east], region: coast, capacity: 0}
"""
RULES = """\
kind: form
version: 1
entity: job
fields:
  area: {type: string}
  zone: {type: enum, values: [coast, inland]}
  level: {type: integer}
---
kind: routing
version: 1
name: by_area
entity: job
when: "is_missing(level)"
candidates: {role: rep, matching: {territory: area}}
strategy: least_loaded
fallback_queue: overflow
---
kind: routing
version: 1
name: by_zone_and_level
entity: job
when: "is_set(level)"
candidates: {role: rep, matching: {region: zone, grade: level}}
fallback_queue: overflow
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    files = {"bundle.yaml": MANIFEST, "staff/reps.yaml": STAFF, "rules.yaml": RULES}
    return small_bundle(tmp_path, files)


def pick(store: Store, bundle: Bundle, rule: str, job: dict[str, Any]) -> RoutingResult:
    with store.begin(NOW) as tx:
        return route(bundle, bundle.routings[rule], job, {"now": NOW}, tx.conn, NOW)


def test_a_list_attribute_keeps_the_candidates_holding_the_value(
    store: Store, bundle: Bundle
) -> None:
    result = pick(store, bundle, "by_area", {"area": "east"})
    # dee holds 'east' twice: listed once, in declaration order, then left out (no room).
    assert result.columns["user"] == ["ann", "bob", "dee"]
    assert [c.get("excluded") for c in result.candidates] == [None, None, "at capacity (0/0)"]
    assert result.owner == "ann"
    assert result.narrowed == {"matching": {"territory": "east"}, "of": 4, "kept": 3}


def test_the_whole_explain_payload_says_how_the_candidates_were_narrowed(
    store: Store, bundle: Bundle
) -> None:
    assert pick(store, bundle, "by_area", {"area": "west"}).explain() == {
        "owner": "cy",
        "queue": None,
        "reason": "least loaded: 0 open records",
        "candidates": {
            "user": ["cy"],
            "load": [0],
            "capacity": 9,
            "excluded": [None],
            "reasons": [],
            "chosen": 0,
        },
        "narrowed": {"matching": {"territory": "west"}, "of": 4, "kept": 1},
    }


def test_scalar_attributes_match_by_equality_and_every_pair_must_match(
    store: Store, bundle: Bundle
) -> None:
    result = pick(store, bundle, "by_zone_and_level", {"zone": "coast", "level": 2})
    assert result.columns["user"] == ["ann", "cy"]
    assert result.narrowed == {
        "matching": {"region": "coast", "grade": 2},
        "of": 4,  # dee is coast too, but has no grade
        "kept": 2,
    }
    inland = pick(store, bundle, "by_zone_and_level", {"zone": "inland", "level": 3})
    assert (inland.owner, inland.columns["user"]) == ("bob", ["bob"])


def test_a_value_nobody_holds_sends_the_record_to_the_fallback_queue(
    store: Store, bundle: Bundle
) -> None:
    result = pick(store, bundle, "by_zone_and_level", {"zone": "inland", "level": 2})
    assert result.explain() == {
        "owner": None,
        "queue": "overflow",
        "reason": "no candidate matches: none of the 4 has region 'inland' and grade 2; "
        "waiting in queue 'overflow'",
        "candidates": {"user": [], "load": [], "capacity": None, "excluded": [], "reasons": []},
        "narrowed": {"matching": {"region": "inland", "grade": 2}, "of": 4, "kept": 0},
    }


def test_a_record_without_the_value_matches_nobody_and_says_so(
    store: Store, bundle: Bundle
) -> None:
    result = pick(store, bundle, "by_area", {"area": None})
    assert (result.owner, result.queue) == (None, "overflow")
    assert result.reason == (
        "no candidate matches: the record has no 'area' to match; waiting in queue 'overflow'"
    )
    assert result.narrowed == {
        "matching": {"territory": None},
        "of": 4,
        "kept": 0,
        "missing": ["area"],
    }
    assert pick(store, bundle, "by_area", {}).narrowed == result.narrowed


def test_a_value_no_attribute_can_hold_matches_nobody(store: Store, bundle: Bundle) -> None:
    result = pick(store, bundle, "by_area", {"area": ["east"]})  # a list is not hashable
    assert (result.queue, result.narrowed["kept"]) == ("overflow", 0)


def test_the_index_is_built_once_per_bundle_and_rule(store: Store, bundle: Bundle) -> None:
    spec = bundle.routings["by_area"]
    first = rules._pool(bundle, spec)
    assert first.index == (("territory", "area", {"north": (0,), "east": (0, 1, 3), "west": (2,)}),)
    pick(store, bundle, "by_area", {"area": "east"})
    pick(store, bundle, "by_area", {"area": "east"})
    again = rules._pool(bundle, spec)
    assert again is first
    assert list(again.subsets) == [("east",)]  # each value's candidates, worked out once


def test_a_rule_without_matching_explains_no_narrowing(store: Store, tmp_path: Path) -> None:
    plain = RULES.replace("matching: {territory: area}", "role: lead")
    plain = plain.replace("{role: rep, role: lead}", "{role: lead}")
    files = {"bundle.yaml": MANIFEST, "staff/reps.yaml": STAFF, "rules.yaml": plain}
    bundle = small_bundle(tmp_path, files)
    result = pick(store, bundle, "by_area", {"area": "east"})
    assert result.owner == "lead"
    assert "narrowed" not in result.explain()
