"""Routing strategies, capacity, leave and the visible fallback queue (P3, F1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

from engine.spec import RoutingSpec
from runtime.people import candidate, change_load
from runtime.rules import route
from runtime.store import Store
from tests.runtime.helpers import default_bundle

LEAD = {"specialty": "otc", "district": "jinjiang"}
# Times are naive UTC; the bundle works in Asia/Shanghai (UTC+8), where Li Wei keeps office
# hours (09:00-12:00, 13:00-18:00, Mon-Fri): 02:00 UTC is 10:00 there.
BEFORE_LEAVE = datetime(2026, 11, 30, 2)
ON_LEAVE = datetime(2026, 12, 2, 2)


def rule(**changes: Any) -> RoutingSpec:
    spec = default_bundle().routings["lead_routing"]
    # Without `eligible` the copy needs no compiled expression of its own; the two reps of
    # Sichuan's west OTC team are the candidates (the bundle's other reps cover other
    # districts and industries).
    two = spec.candidates.model_copy(
        update={"role": None, "users": ["li.wei", "chen.jie"], "matching": {}}
    )
    return spec.model_copy(update={"eligible": None, "candidates": two, **changes})


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


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """Return a wall time of December 2026 in Shanghai as naive UTC."""
    return datetime(2026, 12, day, hour, minute) - timedelta(hours=8)


def excluded_of(store: Store, spec: RoutingSpec, now: datetime) -> dict[str, Any]:
    result = pick(store, spec, LEAD, now)
    return {c["user"]: c.get("excluded") for c in result.candidates}


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        (shanghai(7, 8, 59), "outside working hours"),  # Monday, a minute before opening
        (shanghai(7, 9, 0), None),  # opening time counts
        (shanghai(7, 12, 0), "outside working hours"),  # lunch starts at 12:00
        (shanghai(7, 12, 59), "outside working hours"),
        (shanghai(7, 13, 0), None),
        (shanghai(7, 17, 59), None),
        (shanghai(7, 18, 0), "outside working hours"),  # closing time does not
        (shanghai(12, 10, 0), "outside working hours"),  # Saturday
    ],
)
def test_people_outside_their_working_hours_are_skipped(
    store: Store, when: datetime, reason: str | None
) -> None:
    spec = rule(strategy="best_match", threshold=None)
    assert excluded_of(store, spec, when)["li.wei"] == reason
    # Chen Jie has no calendar: any hour is working time for routing.
    assert excluded_of(store, spec, when)["chen.jie"] is None


def test_a_holiday_of_the_calendar_is_off_hours(store: Store) -> None:
    bundle = default_bundle()
    office = bundle.manifest.calendars["office"]
    assert date(2026, 2, 17) in office.holidays  # a Tuesday
    spec = rule(strategy="best_match", threshold=None)
    holiday = datetime(2026, 2, 17, 2)  # 10:00 in Shanghai
    assert excluded_of(store, spec, holiday)["li.wei"] == "outside working hours"
    assert excluded_of(store, spec, holiday + timedelta(days=7))["li.wei"] is None


def test_off_hours_count_only_when_skip_unavailable(store: Store) -> None:
    spec = rule(strategy="best_match", threshold=None, skip_unavailable=False)
    evening = shanghai(7, 20, 0)
    result = pick(store, spec, LEAD, evening)
    assert result.owner == "li.wei"
    assert {c["user"]: c.get("excluded") for c in result.candidates}["li.wei"] is None


def test_leave_days_are_dates_where_the_business_is(store: Store) -> None:
    # Chen Jie is away 2026-12-01..05: 07:00 on 12-06 in Shanghai is still 12-05 in UTC.
    spec = rule(strategy="best_match", threshold=None)
    assert excluded_of(store, spec, shanghai(6, 7, 0))["chen.jie"] is None
    assert excluded_of(store, spec, shanghai(1, 7, 0))["chen.jie"] == "on leave"


def test_candidate_available_follows_leave_and_working_hours() -> None:
    bundle = default_bundle()
    assert candidate(bundle, "li.wei", 0, shanghai(7, 10, 0))["available"] is True
    assert candidate(bundle, "li.wei", 0, shanghai(7, 18, 0))["available"] is False
    assert candidate(bundle, "chen.jie", 0, shanghai(7, 18, 0))["available"] is True
    assert candidate(bundle, "chen.jie", 0, shanghai(2, 10, 0))["available"] is False
