"""Scoring and routing at their edges (issue 15): weights that do not sum to 1, numbers
beside booleans, every missing-value policy, the threshold exactly, ties, load, leave's
first and last day, candidates from several teams and whole explanations, pinned."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pytest

from engine.bundle import Bundle, CompiledScoring
from engine.spec import RoutingSpec
from engine.spec.rules import Candidates
from runtime.people import change_load
from runtime.rules import (
    RoutingResult,
    ScoreResult,
    candidate_ids,
    expand_candidates,
    expand_features,
    expand_routing,
    expand_score,
    route,
    score,
)
from runtime.store import Store
from tests.runtime.small import small_bundle

MANIFEST = """\
kind: bundle
version: 1
name: rules-edges
timezone: Asia/Shanghai
roles:
  rep: {title: Rep}
  senior: {title: Senior}
user_fields:
  skill: {type: decimal}
  region: {type: string}
calendars:
  mornings: {hours: "09:30-12:30"}
users:
  ann:
    roles: [rep]
    teams: [north]
    capacity: 4
    skill: 0.5
    region: north
    leave: [{from: 2026-12-01, to: 2026-12-03}]
  bob: {roles: [rep], capacity: 4, skill: 0.5, region: south}
  cara: {roles: [senior], capacity: 2, skill: 1.5, region: south}
  dan: {roles: [senior], skill: -0.2, region: north, calendar: mornings}
  eve: {roles: [rep], active: false, capacity: 4, skill: 1, region: north}
  fay: {roles: [senior], region: south}
teams:
  north: {title: North, members: [dan]}
  south: {title: South, members: [bob, cara]}
queues:
  waiting: {title: Waiting}
"""

FORM = """\
kind: form
version: 1
entity: lead
fields:
  region: {type: string}
  size: {type: decimal}
  urgent: {type: boolean}
  rating: {type: decimal}
"""

SCORES = """\
kind: scoring
version: 1
name: quality
entity: lead
title: Quality
scale: [10, 60]
features:
  size: {value: "size / 100", weight: 3, title: Size}
  urgent: {value: "urgent", weight: 1}
  rating: {value: "rating", weight: 0}
---
kind: scoring
version: 1
name: skipping
entity: lead
missing: skip
features:
  size: {value: "size / 100", weight: 3}
  rating: {value: "rating", weight: 1}
  urgent: {value: "urgent", weight: 1, missing: zero}
---
kind: scoring
version: 1
name: skipping_all
entity: lead
missing: skip
features:
  size: {value: "size / 100", weight: 3}
  rating: {value: "rating", weight: 1}
---
kind: scoring
version: 1
name: overflowing
entity: lead
features:
  power: {value: "10.0 ** size", weight: 1}
  one: {value: "1", weight: 1}
---
kind: scoring
version: 1
name: overflowing_fail
entity: lead
missing: fail
features:
  power: {value: "10.0 ** size", weight: 1}
---
kind: scoring
version: 1
name: defaulting
entity: lead
missing: {value: 0.25}
features:
  size: {value: "size / 100", weight: 2}
  rating: {value: "rating", weight: 2, missing: {value: 0.75}}
---
kind: scoring
version: 1
name: failing
entity: lead
missing: fail
features:
  size: {value: "size / 100", weight: 1}
  rating: {value: "rating", weight: 1}
  urgent: {value: "urgent", weight: 1}
---
kind: scoring
version: 1
name: fit
entity: lead
against: users
features:
  region: {value: "region == candidate.region", weight: 3}
  skill: {value: "candidate.skill", weight: 1, title: Skill}
---
kind: scoring
version: 1
name: fit_strict
entity: lead
against: users
missing: fail
features:
  region: {value: "region == candidate.region", weight: 1}
  power: {value: "10.0 ** (candidate.skill * 1000) / 1e300", weight: 1, missing: zero}
  skill: {value: "candidate.skill", weight: 2}
---
kind: scoring
version: 1
name: fit_skip
entity: lead
against: users
missing: skip
features:
  region: {value: "region == candidate.region", weight: 3}
  skill: {value: "candidate.skill", weight: 1}
---
kind: scoring
version: 1
name: fit_default
entity: lead
against: users
missing: {value: 0.5}
features:
  region: {value: "region == candidate.region", weight: 3}
  skill: {value: "candidate.skill", weight: 1}
"""

ROUTING = """\
kind: routing
version: 1
name: by_fit
entity: lead
candidates: {role: rep, teams: [north, south], users: [fay, eve]}
match: fit
fallback_queue: waiting
---
kind: routing
version: 1
name: by_skill
entity: lead
candidates: {teams: [south, north]}
eligible: "candidate.skill >= 0.5"
fallback_queue: waiting
---
kind: routing
version: 1
name: by_power
entity: lead
candidates: {users: [bob, dan, fay]}
eligible: "10.0 ** (candidate.skill * 1000) > 0"
fallback_queue: waiting
---
kind: routing
version: 1
name: by_absence
entity: lead
candidates: {users: [ann, bob, dan]}
eligible: "not candidate.available"
skip_unavailable: false
fallback_queue: waiting
"""

FILES = {
    "bundle.yaml": MANIFEST,
    "forms/lead.yaml": FORM,
    "rules/scores.yaml": SCORES,
    "rules/routing.yaml": ROUTING,
}


@lru_cache(maxsize=1)
def bundle() -> Bundle:
    """Compile the bundle of this file once."""
    return small_bundle(Path(mkdtemp(prefix="rules-edges-")), FILES)


def scored(model: str, **record: Any) -> ScoreResult:
    return score(bundle().scorings[model], record, {})


# -- scores -------------------------------------------------------------------------------


def test_weights_that_do_not_sum_to_one_are_normalised() -> None:
    # 10 + 50 * (3 * 0.5 + 1 * 1 + 0 * 0.4) / 4 = 41.25; contributions share the 50 points.
    result = scored("quality", size=50, urgent=True, rating=0.4)
    assert result.explain() == {
        "score": 41.25,
        "features": {
            "feature": ["size", "urgent", "rating"],
            "weight": [3.0, 1.0, 0.0],
            "value": [0.5, 1.0, 0.4],
            "contribution": [18.75, 12.5, 0.0],
            "title": ["Size", "", ""],
        },
    }
    assert result.features == [
        {
            "feature": "size",
            "title": "Size",
            "value": 0.5,
            "weight": 3.0,
            "contribution": 18.75,
            "missing": False,
        },
        {
            "feature": "urgent",
            "title": "",
            "value": 1.0,
            "weight": 1.0,
            "contribution": 12.5,
            "missing": False,
        },
        {
            "feature": "rating",
            "title": "",
            "value": 0.4,
            "weight": 0.0,
            "contribution": 0.0,
            "missing": False,
        },
    ]


def test_numbers_are_clamped_and_booleans_count_one_or_zero() -> None:
    high = scored("quality", size=250, urgent=False, rating=7)
    assert (high.score, high.values, high.contributions) == (
        47.5,
        [1.0, 0.0, 1.0],
        [37.5, 0.0, 0.0],
    )
    low = scored("quality", size=-10, urgent=False, rating=-3)
    assert (low.score, low.values, low.contributions) == (10.0, [0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
    exact = scored("quality", size=100, urgent=True, rating=1)
    assert (exact.score, exact.values) == (60.0, [1.0, 1.0, 1.0])


def test_missing_zero_counts_zero_and_is_marked() -> None:
    result = scored("quality", size=50)
    assert result.explain() == {
        "score": 28.75,
        "features": {
            "feature": ["size", "urgent", "rating"],
            "weight": [3.0, 1.0, 0.0],
            "value": [0.5, 0.0, 0.0],
            "contribution": [18.75, 0.0, 0.0],
            "title": ["Size", "", ""],
            "missing": [1, 2],
        },
    }
    assert [f["missing"] for f in result.features] == [False, True, True]


def test_missing_skip_reweighs_the_others() -> None:
    # rating skipped: (3 * 1 + 1 * 0) / (3 + 1) = 0.75; a feature's own `zero` still counts.
    result = scored("skipping", size=250, urgent=False)
    assert result.explain() == {
        "score": 75.0,
        "features": {
            "feature": ["size", "rating", "urgent"],
            "weight": [3.0, 1.0, 1.0],
            "value": [1.0, 0.0, 0.0],
            "contribution": [75.0, 0.0, 0.0],
            "missing": [1],
        },
    }
    # urgent missing is `zero` (its own policy): (3 * 0.5 + 1 * 0.4 + 1 * 0) / 5.
    assert scored("skipping", size=50, rating=0.4).score == 38.0
    # Only the `zero` feature left: its 0 out of its weight.
    assert scored("skipping").score == 0.0


def test_missing_skip_on_every_feature_gives_no_score() -> None:
    result = scored("skipping_all")
    assert result.explain() == {
        "score": None,
        "features": {
            "feature": ["size", "rating"],
            "weight": [3.0, 1.0],
            "value": [0.0, 0.0],
            "contribution": [0.0, 0.0],
            "missing": [0, 1],
        },
    }
    assert scored("skipping_all", rating=0.5).score == 50.0


def test_missing_default_values_model_and_feature() -> None:
    result = scored("defaulting")
    # size gets the model's 0.25, rating its own 0.75: (2 * 0.25 + 2 * 0.75) / 4.
    assert result.explain() == {
        "score": 50.0,
        "features": {
            "feature": ["size", "rating"],
            "weight": [2.0, 2.0],
            "value": [0.25, 0.75],
            "contribution": [12.5, 37.5],
            "missing": [0, 1],
        },
    }
    assert scored("defaulting", size=100).score == 87.5


def test_missing_fail_stops_at_the_missing_feature() -> None:
    result = scored("failing", size=60, urgent=True)
    # No score; what was evaluated is shown, shares of all three weights.
    assert result.explain() == {
        "score": None,
        "features": {
            "feature": ["size", "rating"],
            "weight": [1.0, 1.0],
            "value": [0.6, None],
            "contribution": [20.0, 0.0],
            "missing": [1],
            "failed": True,
        },
    }
    assert result.features == [
        {
            "feature": "size",
            "title": "",
            "value": 0.6,
            "weight": 1.0,
            "contribution": 20.0,
            "missing": False,
        },
        {"feature": "rating", "value": None, "missing": True, "error": None},
    ]
    thirds = scored("failing", size=55, urgent=True)
    assert thirds.contributions == [18.333333, 0.0]  # 100 * 0.55 / 3, to 6 places
    complete = scored("failing", size=60, urgent=True, rating=0.3)
    assert (complete.score, complete.contributions) == (63.333333, [20.0, 10.0, 33.333333])


TOO_LARGE = "cannot evaluate '10.0 ** size': the result would be a number that is too large"


def test_an_evaluation_error_is_a_missing_value_with_its_message() -> None:
    result = scored("overflowing", size=2000)
    assert result.score == 50.0  # (0 + 1) / 2
    cols = result.columns()
    assert cols["missing"] == [0]
    assert cols["error"] == {"0": TOO_LARGE}
    assert result.features[0]["error"] == cols["error"]["0"]
    assert "error" not in result.features[1]
    failed = scored("overflowing_fail", size=2000)
    assert failed.score is None and failed.failed is True
    assert failed.errors == cols["error"]
    assert failed.features == [
        {"feature": "power", "value": None, "missing": True, "error": cols["error"]["0"]}
    ]


def test_expand_score_leaves_other_details_alone() -> None:
    detail = scored("defaulting", size=100, rating=1).explain()
    assert expand_score(detail) == {
        "score": 100.0,
        "features": [
            {
                "feature": "size",
                "title": "",
                "value": 1.0,
                "weight": 2.0,
                "contribution": 50.0,
                "missing": False,
            },
            {
                "feature": "rating",
                "title": "",
                "value": 1.0,
                "weight": 2.0,
                "contribution": 50.0,
                "missing": False,
            },
        ],
    }
    assert expand_score({"score": 3, "features": None}) == {"score": 3, "features": None}
    assert expand_features(
        {"feature": ["a"], "weight": [1.0], "value": [0.5], "contribution": [50.0]}
    ) == [
        {
            "feature": "a",
            "title": "",
            "value": 0.5,
            "weight": 1.0,
            "contribution": 50.0,
            "missing": False,
        }
    ]


# -- routing ------------------------------------------------------------------------------
# Times are naive UTC; the bundle works in Asia/Shanghai (UTC+8).
MONDAY = datetime(2026, 12, 7, 2, 0)  # 10:00 in Shanghai: dan's mornings are working time
SOUTH = {"region": "south"}


def rule(name: str = "by_fit", **changes: Any) -> RoutingSpec:
    spec = bundle().routings[name]
    return spec.model_copy(update=changes) if changes else spec


def pick(
    store: Store,
    spec: RoutingSpec,
    now: datetime = MONDAY,
    lead: dict[str, Any] | None = None,
    loads: dict[str, int] | None = None,
    holder: str | None = None,
) -> RoutingResult:
    with store.begin(now) as tx:
        for user, count in (loads or {}).items():
            change_load(tx.conn, user, count)
        return route(bundle(), spec, lead or SOUTH, {"now": now}, tx.conn, now, holder)


USERS = ["ann", "bob", "dan", "cara", "fay", "eve"]  # role, team north, team south, users
CAPACITY = [4, 4, None, 2, None, 4]
FIT = {"feature": ["region", "skill"], "weight": [3.0, 1.0]}


def test_candidates_from_a_role_several_teams_and_users_once_each() -> None:
    # rep: ann, bob (eve is inactive); north: dan, ann (who lists it); south: bob, cara.
    assert candidate_ids(bundle(), rule()) == USERS
    assert candidate_ids(bundle(), rule("by_skill")) == ["bob", "cara", "dan", "ann"]
    only = rule(candidates=Candidates(users=["ghost", "bob", "bob"]))
    assert candidate_ids(bundle(), only) == ["bob"]


def test_best_match_explained_in_full(store: Store) -> None:
    result = pick(store, rule())
    assert result.explain() == {
        "owner": "cara",
        "queue": None,
        "reason": "best match 100.0",
        "candidates": {
            "user": USERS,
            "load": [0, 0, 0, 0, 0, 0],
            "capacity": CAPACITY,
            "excluded": [None, None, None, None, None, 0],
            "reasons": ["inactive"],
            "scored": [0, 1, 2, 3, 4],
            "match": [12.5, 87.5, 0.0, 100.0, 75.0],
            "features": {
                **FIT,
                "value": [[0.0, 0.5], [1.0, 0.5], [0.0, 0.0], [1.0, 1.0], [1.0, 0.0]],
                "contribution": [[0.0, 12.5], [75.0, 12.5], [0.0, 0.0], [75.0, 25.0], [75.0, 0.0]],
                "title": ["", "Skill"],
                "missing": {"4": [1]},
            },
            "chosen": 3,
        },
    }
    rows = result.candidates
    assert rows[3] == {
        "user": "cara",
        "load": 0,
        "capacity": 2,
        "match": 100.0,
        "features": [
            {
                "feature": "region",
                "title": "",
                "value": 1.0,
                "weight": 3.0,
                "contribution": 75.0,
                "missing": False,
            },
            {
                "feature": "skill",
                "title": "Skill",
                "value": 1.0,
                "weight": 1.0,
                "contribution": 25.0,
                "missing": False,
            },
        ],
        "chosen": True,
    }
    assert rows[4]["features"][1] == {
        "feature": "skill",
        "title": "Skill",
        "value": 0.0,
        "weight": 1.0,
        "contribution": 0.0,
        "missing": True,
    }
    assert rows[5] == {
        "user": "eve",
        "load": 0,
        "capacity": 4,
        "excluded": "inactive",
        "chosen": False,
    }
    assert expand_routing(result.explain())["candidates"] == rows


def test_missing_skip_in_routing_reweighs_and_exactly_the_threshold_passes(store: Store) -> None:
    # fay has no skill: skipped, her match is region alone (100), as cara's with skill 1.
    result = pick(store, rule(match="fit_skip", threshold=100))
    cols = result.explain()["candidates"]
    assert cols["match"] == [12.5, 87.5, 0.0, 100.0, 100.0]
    assert cols["excluded"] == [0, 1, 2, None, None, 3]
    assert cols["reasons"] == [
        "match 12.5 is below the threshold 100",
        "match 87.5 is below the threshold 100",
        "match 0.0 is below the threshold 100",
        "inactive",
    ]
    assert cols["features"]["value"][4] == [1.0, 0.0]
    assert cols["features"]["contribution"][4] == [100.0, 0.0]
    assert cols["features"]["missing"] == {"4": [1]}
    assert "title" not in cols["features"]
    # a tie at 100: the best match breaks it by load, then by the later user id
    assert (result.owner, result.reason, cols["chosen"]) == ("fay", "best match 100.0", 4)


def test_missing_default_in_routing_and_the_holder_leaves_their_own_load(store: Store) -> None:
    spec = rule(match="fit_default", strategy="least_loaded")
    result = pick(store, spec, loads={"cara": 2, "bob": 1}, holder="bob")
    assert result.explain() == {
        "owner": "bob",
        "queue": None,
        "reason": "least loaded: 0 open records",
        "candidates": {
            "user": USERS,
            "load": [0, 0, 0, 2, 0, 0],
            "capacity": CAPACITY,
            "excluded": [None, None, None, 0, None, 1],
            "reasons": ["at capacity (2/2)", "inactive"],
            "scored": [0, 1, 2, 4],
            "match": [12.5, 87.5, 0.0, 87.5],
            "features": {
                **FIT,
                "value": [[0.0, 0.5], [1.0, 0.5], [0.0, 0.0], [1.0, 0.5]],
                "contribution": [[0.0, 12.5], [75.0, 12.5], [0.0, 0.0], [75.0, 12.5]],
                "missing": {"3": [1]},
            },
            "chosen": 1,
        },
    }
    # bob and fay: no load, the same match: the earlier user id wins least_loaded
    assert [row.get("match") for row in result.candidates] == [12.5, 87.5, 0.0, None, 87.5, None]


def test_a_match_just_below_the_threshold_waits_in_the_queue(store: Store) -> None:
    result = pick(store, rule(threshold=100.5))
    assert (result.owner, result.queue) == (None, "waiting")
    assert result.reason == "no candidate passed; waiting in queue 'waiting'"
    cols = result.explain()["candidates"]
    assert "chosen" not in cols
    assert cols["reasons"][3] == "match 100.0 is below the threshold 100.5"
    assert all("chosen" not in row for row in result.candidates)


def test_least_loaded_compares_load_over_capacity(store: Store) -> None:
    # ann 2/4 = 0.5, bob 1/4 = 0.25, cara 1/2 = 0.5, dan 1 (no capacity: the load), fay 1
    loads = {"ann": 2, "bob": 1, "cara": 1, "dan": 1, "fay": 1}
    result = pick(store, rule(match=None, strategy="least_loaded"), loads=loads)
    assert (result.owner, result.reason) == ("bob", "least loaded: 1 open records")
    assert "scored" not in result.explain()["candidates"]


def test_best_match_without_a_model_ties_by_load_then_the_later_id(store: Store) -> None:
    result = pick(store, rule(match=None), loads={"cara": 1, "bob": 2, "dan": 1})
    assert (result.owner, result.reason) == ("fay", "best match 0.0")
    # loads add up in the store: now fay has 1 as well; only ann is empty
    result = pick(store, rule(match=None), loads={"fay": 1})
    assert result.owner == "ann"


def test_load_weighted_rank_and_the_load_weight_default(store: Store) -> None:
    spec = rule(strategy="load_weighted", load_weight=0.5)
    # cara 100 * (1 - 0.5 * 1/2) = 75; bob 87.5 * (1 - 0.5 * 2/4) = 65.625; dan no capacity
    result = pick(store, spec, loads={"cara": 1, "bob": 2, "dan": 3})
    cols = result.explain()["candidates"]
    assert cols["rank"] == {"0": 12.5, "1": 65.625, "2": 0.0, "3": 75.0, "4": 75.0}
    assert result.reason == "load-weighted rank 75.0 (match x (1 - 0.5 x load/capacity))"
    # cara and fay tie at 75: the lighter load wins
    assert result.owner == "fay"
    assert [row.get("rank") for row in result.candidates] == [12.5, 65.625, 0.0, 75.0, 75.0, None]
    # fay's load counts whole without a capacity: 75 * (1 - 0.5 * min(1, 1)) = 37.5;
    # dan's 3 counts as 1 at most (his match is 0 anyway); cara is now full (2/2)
    heavy = pick(store, spec, loads={"fay": 1, "cara": 1})
    assert heavy.explain()["candidates"]["rank"] == {"0": 12.5, "1": 65.625, "2": 0.0, "4": 37.5}
    assert heavy.owner == "bob"
    heavier = pick(store, spec, loads={"fay": 1})  # 2 records, still counted as 1
    assert heavier.explain()["candidates"]["rank"]["4"] == 37.5
    # Without a load_weight the rank is the match: load does not count.
    plain = pick(store, rule(strategy="load_weighted", load_weight=None))
    # (bob holds 2 of 4 and fay 1: with a weight they would rank 65.625 and 37.5)
    assert plain.explain()["candidates"]["rank"] == {"0": 12.5, "1": 87.5, "2": 0.0, "4": 75.0}
    assert plain.reason == "load-weighted rank 87.5 (match x (1 - 0.0 x load/capacity))"


def test_load_weighted_ties_go_to_the_lighter_load(store: Store) -> None:
    spec = rule(match="fit_skip", strategy="load_weighted", load_weight=0.0)
    result = pick(store, spec, loads={"cara": 1})
    assert result.explain()["candidates"]["rank"]["3"] == 100.0
    assert result.explain()["candidates"]["rank"]["4"] == 100.0
    assert result.owner == "fay"  # the same rank, less load
    result = pick(store, spec, loads={"fay": 1})
    assert result.owner == "fay"  # the same rank and load (1 each): the later id


def test_round_robin_takes_the_longest_waiting_then_the_first_id(store: Store) -> None:
    spec = rule(match=None, strategy="round_robin")
    first = pick(store, spec)
    assert (first.owner, first.reason) == ("ann", "round robin: longest since the last assignment")
    with store.begin(MONDAY) as tx:
        change_load(tx.conn, "ann", 1, picked=MONDAY)
        change_load(tx.conn, "bob", 0, picked=datetime(2026, 12, 6))
    # never picked: cara, dan, fay; the first id of them
    assert pick(store, spec).owner == "cara"


# Ann is away 2026-12-01..03, dates in Shanghai (UTC+8).
@pytest.mark.parametrize(
    ("now", "away"),
    [
        (datetime(2026, 11, 30, 15, 59), False),  # 23:59 on 11-30 in Shanghai
        (datetime(2026, 11, 30, 16, 0), True),  # 00:00 on 12-01: the first day
        (datetime(2026, 12, 3, 15, 59), True),  # 23:59 on 12-03: the last day
        (datetime(2026, 12, 3, 16, 0), False),  # 00:00 on 12-04
    ],
)
def test_the_first_and_last_day_of_leave(store: Store, now: datetime, away: bool) -> None:
    result = pick(store, rule(match=None, strategy="round_robin"), now=now)
    ann = result.candidates[0]
    assert ann.get("excluded") == ("on leave" if away else None)
    assert result.owner == ("bob" if away else "ann")
    keep = pick(store, rule(match=None, strategy="round_robin", skip_unavailable=False), now=now)
    assert keep.owner == "ann" and "excluded" not in keep.candidates[0]


def test_outside_working_hours_and_eligible_in_the_same_pool(store: Store) -> None:
    evening = datetime(2026, 12, 7, 10, 0)  # 18:00 in Shanghai: dan's mornings are over
    result = pick(store, rule("by_skill"), now=evening)
    assert result.explain() == {
        "owner": "cara",
        "queue": None,
        "reason": "best match 0.0",
        "candidates": {
            "user": ["bob", "cara", "dan", "ann"],
            "load": [0, 0, 0, 0],
            "capacity": [4, 2, None, 4],
            "excluded": [None, None, 0, None],
            "reasons": ["outside working hours"],
            "chosen": 1,
        },
    }
    # in the morning dan is there, but his skill (-0.2) is not enough; bob's 0.5 exactly is
    morning = pick(store, rule("by_skill"), loads={"cara": 2})
    assert morning.explain()["candidates"]["excluded"] == [None, 0, 1, None]
    assert morning.explain()["candidates"]["reasons"] == [
        "at capacity (2/2)",
        "not eligible: candidate.skill >= 0.5",
    ]
    assert morning.owner == "bob"  # bob and ann tie at 0/4: the later id


def test_one_shared_capacity_is_kept_once(store: Store) -> None:
    result = pick(store, rule(match=None, candidates=Candidates(users=["ann", "bob"])))
    assert result.explain()["candidates"]["capacity"] == 4
    assert [row["capacity"] for row in result.candidates] == [4, 4]
    assert expand_candidates({"user": [], "load": []}) == []


def test_an_eligible_rule_that_cannot_be_evaluated_refuses_with_the_error(store: Store) -> None:
    result = pick(store, rule("by_power"))
    reason = "not eligible: 10.0 ** (candidate.skill * 1000) > 0"
    error = (
        "cannot evaluate '10.0 ** (candidate.skill * 1000) > 0': "
        "the result would be a number that is too large"
    )
    assert result.explain() == {
        "owner": "dan",
        "queue": None,
        "reason": "best match 0.0",
        "candidates": {
            "user": ["bob", "dan", "fay"],
            "load": [0, 0, 0],
            "capacity": [4, None, None],
            "excluded": [0, None, 0],
            "reasons": [reason],
            "error": {"0": error},
            "chosen": 1,
        },
    }
    assert result.candidates[0] == {
        "user": "bob",
        "load": 0,
        "capacity": 4,
        "error": error,
        "excluded": reason,
        "chosen": False,
    }
    assert "error" not in result.candidates[2]  # a missing skill is simply not eligible


def test_a_model_compiled_with_other_features_is_refused() -> None:
    model = bundle().scorings["quality"]
    broken = CompiledScoring(model.spec, model.features[:2])
    with pytest.raises(ValueError) as caught:
        score(broken, {}, {})
    assert str(caught.value) == "scoring 'quality' has 2 compiled features"


def test_a_match_that_fails_or_errs_is_kept_with_its_breakdown(store: Store) -> None:
    spec = rule(match="fit_strict", candidates=Candidates(users=["bob", "dan", "fay"]))
    result = pick(store, spec)
    error = (
        "cannot evaluate '10.0 ** (candidate.skill * 1000) / 1e300': "
        "the result would be a number that is too large"
    )
    assert result.explain() == {
        "owner": "bob",
        "queue": None,
        "reason": "best match 50.0",
        "candidates": {
            "user": ["bob", "dan", "fay"],
            "load": [0, 0, 0],
            "capacity": [4, None, None],
            "excluded": [None, None, None],
            "reasons": [],
            "scored": [0, 1, 2],
            "match": [50.0, 0.0, None],
            "features": {
                "feature": ["region", "power", "skill"],
                "weight": [1.0, 1.0, 2.0],
                "value": [[1.0, 0.0, 0.5], [0.0, 0.0, 0.0], [1.0, 0.0, None]],
                "contribution": [[25.0, 0.0, 25.0], [0.0, 0.0, 0.0], [25.0, 0.0, 0.0]],
                "missing": {"0": [1], "2": [1, 2]},
                "error": {"0": {"1": error}},
                "failed": [2],
            },
            "chosen": 0,
        },
    }
    bob, dan, fay = result.candidates
    assert bob["features"][1] == {
        "feature": "power",
        "title": "",
        "value": 0.0,
        "weight": 1.0,
        "contribution": 0.0,
        "missing": True,
        "error": error,
    }
    assert [f["missing"] for f in dan["features"]] == [False, False, False]
    assert all("error" not in f for f in dan["features"])
    # fay's skill is missing under `fail`: no match, the breakdown stops there
    assert fay["match"] is None and fay["chosen"] is False
    assert fay["features"] == [
        {
            "feature": "region",
            "title": "",
            "value": 1.0,
            "weight": 1.0,
            "contribution": 25.0,
            "missing": False,
        },
        {
            "feature": "power",
            "title": "",
            "value": 0.0,
            "weight": 1.0,
            "contribution": 0.0,
            "missing": True,
        },
        {"feature": "skill", "value": None, "missing": True, "error": None},
    ]
    # with a threshold a candidate without a match is below it
    queued = pick(
        store, rule(match="fit_strict", threshold=40, candidates=Candidates(users=["dan", "fay"]))
    )
    assert queued.explain()["candidates"]["reasons"] == [
        "match 0.0 is below the threshold 40",
        "match None is below the threshold 40",
    ]


def test_candidate_available_is_false_for_leave_or_off_hours(store: Store) -> None:
    # 2026-12-02 10:00 in Shanghai: ann is on leave; 20:00: dan's mornings are over.
    on_leave = pick(store, rule("by_absence"), now=datetime(2026, 12, 2, 2, 0))
    assert on_leave.explain()["candidates"]["excluded"] == [None, 0, 0]
    evening = pick(store, rule("by_absence"), now=datetime(2026, 12, 7, 12, 0))
    assert evening.explain()["candidates"]["excluded"] == [0, 0, None]
    assert evening.owner == "dan"


def test_a_rule_without_candidates_queues_the_record(store: Store) -> None:
    result = pick(store, rule(match=None, candidates=Candidates(users=["ghost"])))
    assert result.explain() == {
        "owner": None,
        "queue": "waiting",
        "reason": "no candidate passed; waiting in queue 'waiting'",
        "candidates": {"user": [], "load": [], "capacity": None, "excluded": [], "reasons": []},
    }
