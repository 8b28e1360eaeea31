"""Routing strategies, capacity, leave and the visible fallback queue (P3, F1)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from engine.spec import RoutingSpec
from runtime.people import change_load
from runtime.rules import route
from runtime.store import Store
from tests.runtime.helpers import default_bundle

LEAD = {"specialty": "otc", "district": "jinjiang"}
BEFORE_LEAVE = datetime(2026, 11, 30, 10)
ON_LEAVE = datetime(2026, 12, 2, 10)


def rule(**changes: Any) -> RoutingSpec:
    spec = default_bundle().routings["lead_routing"]
    # Without `eligible` the copy needs no compiled expression of its own.
    return spec.model_copy(update={"eligible": None, **changes})


def pick(store: Store, spec: RoutingSpec, lead: dict[str, Any], now: datetime) -> Any:
    with store.begin(now) as tx:
        return route(default_bundle(), spec, lead, {"now": now}, tx.conn, now)


def test_best_match_takes_the_highest_pair_score(store: Store) -> None:
    result = pick(store, rule(strategy="best_match", threshold=None), LEAD, BEFORE_LEAVE)
    assert result.owner == "li.wei"  # otc + jinjiang: 100; chen.jie: territory only, 40
    scores = {c["user"]: c.get("match") for c in result.candidates}
    assert scores == {"li.wei": 100.0, "chen.jie": 40.0}


def test_threshold_sends_everyone_below_it_to_the_queue(store: Store) -> None:
    lead = {"specialty": "devices", "district": "chaoyang"}
    result = pick(store, rule(threshold=82), lead, BEFORE_LEAVE)
    assert (result.owner, result.queue) == (None, "unmatched_leads")
    reasons = [c["excluded"] for c in result.candidates]
    assert all("below the threshold 82" in r for r in reasons)


def test_least_loaded_prefers_the_emptier_desk(store: Store) -> None:
    with store.begin(BEFORE_LEAVE) as tx:
        change_load(tx.conn, "li.wei", 30)
    result = pick(store, rule(strategy="least_loaded", threshold=None), LEAD, BEFORE_LEAVE)
    assert result.owner == "chen.jie"


def test_load_weighted_ranks_match_by_free_capacity(store: Store) -> None:
    with store.begin(BEFORE_LEAVE) as tx:
        change_load(tx.conn, "li.wei", 36)  # 90% of 40
    spec = rule(strategy="load_weighted", load_weight=1.0, threshold=None)
    result = pick(store, spec, LEAD, BEFORE_LEAVE)
    ranks = {c["user"]: c.get("rank") for c in result.candidates}
    assert ranks == {"li.wei": pytest.approx(10.0), "chen.jie": pytest.approx(40.0)}
    assert result.owner == "chen.jie"


def test_round_robin_takes_turns(store: Store) -> None:
    spec = rule(strategy="round_robin", threshold=None)
    first = pick(store, spec, LEAD, BEFORE_LEAVE).owner
    with store.begin(BEFORE_LEAVE) as tx:
        change_load(tx.conn, first, 1, picked=BEFORE_LEAVE)
    second = pick(store, spec, LEAD, BEFORE_LEAVE).owner
    assert {first, second} == {"li.wei", "chen.jie"}


def test_people_on_leave_or_at_capacity_are_skipped(store: Store) -> None:
    spec = rule(strategy="best_match", threshold=None)
    on_leave = pick(store, spec, {"specialty": "devices", "district": "jinjiang"}, ON_LEAVE)
    excluded = {c["user"]: c.get("excluded") for c in on_leave.candidates}
    assert excluded["chen.jie"] == "on leave"
    with store.begin(BEFORE_LEAVE) as tx:
        change_load(tx.conn, "li.wei", 40)
    full = pick(store, spec, LEAD, BEFORE_LEAVE)
    assert full.owner == "chen.jie"
    assert {c["user"]: c.get("excluded") for c in full.candidates}["li.wei"] == (
        "at capacity (40/40)"
    )
