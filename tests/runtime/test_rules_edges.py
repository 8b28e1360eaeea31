"""Scoring and routing at their edges (issue 15): weights that do not sum to 1, numbers
beside booleans, every missing-value policy, the threshold exactly, ties, load, leave's
first and last day, candidates from several teams and whole explanations, pinned."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pytest

from engine.bundle import Bundle
from engine.spec import RoutingSpec
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
  fay: {roles: [senior], capacity: 0, region: south}
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
