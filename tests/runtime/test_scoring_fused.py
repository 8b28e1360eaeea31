"""Scores from the generated function (runtime/scorer.py) against the reference loop.

Each model is scored by one function generated per model; whatever it cannot score on
its fast path (a missing or non-numeric value, an error) goes to the reference loop
(`evaluate_each`). Pinned here: whole payloads at the edges (0 and 1 exactly, values
outside [0, 1], booleans, weights not summing to 1, every missing-value policy, errors,
a lookup without a row), and a property: on any record, `score()` and the reference
give the same payload, float for float (compared by repr, so -0.0 and NaN count).
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bundle import Bundle
from engine.expr import EvaluationError, MissingRow
from runtime import scoring
from runtime.scorer import build_scorer, weight_sum
from runtime.scoring import (
    Model,
    Parts,
    ScoreResult,
    evaluate,
    evaluate_each,
    feature_value,
    model_of,
    score,
)
from tests.runtime.small import small_bundle

FILES = {
    "lead.yaml": """\
kind: form
version: 1
entity: lead
fields:
  size: {type: decimal}
  urgent: {type: boolean}
  rating: {type: decimal}
  district: {type: string}
""",
    "heat.yaml": """\
kind: table
version: 1
name: heat
key: [district]
columns: {district: string, heat: decimal}
rows:
  - {district: north, heat: 0.8}
  - {district: south, heat: 0.2}
""",
    "scores.yaml": """\
kind: scoring
version: 1
name: plain
entity: lead
title: Plain
scale: [10, 60]
features:
  size: {value: "size / 100", weight: 3, title: Size}
  urgent: {value: "urgent", weight: 1.5, title: Urgent}
  rating: {value: "rating", weight: 0}
---
kind: scoring
version: 1
name: zero
entity: lead
missing: zero
features:
  size: {value: "size / 100", weight: 1}
  rating: {value: "rating", weight: 1}
---
kind: scoring
version: 1
name: skip
entity: lead
missing: skip
features:
  size: {value: "size / 100", weight: 1}
  rating: {value: "rating", weight: 3}
---
kind: scoring
version: 1
name: default
entity: lead
missing: {value: 0.4}
features:
  size: {value: "size / 100", weight: 1}
  rating: {value: "rating", weight: 1, missing: {value: 0.9}}
---
kind: scoring
version: 1
name: fail
entity: lead
missing: fail
features:
  size: {value: "size / 100", weight: 1}
  rating: {value: "rating", weight: 1}
  urgent: {value: "urgent", weight: 2}
---
kind: scoring
version: 1
name: halves
entity: lead
features:
  size: {value: "size / 100", weight: 0.25}
  rating: {value: "rating", weight: 0.25}
---
kind: scoring
version: 1
name: power
entity: lead
features:
  power: {value: "10.0 ** size", weight: 1}
  rating: {value: "rating", weight: 1}
---
kind: scoring
version: 1
name: heated
entity: lead
features:
  heat: {value: "lookup('heat', district).heat", weight: 1}
  rating: {value: "rating", weight: 1}
""",
}
MODELS = ("plain", "zero", "skip", "default", "fail", "halves", "power", "heated")


@pytest.fixture(autouse=True)
def _fresh_models() -> None:
    """Each test builds its models (and generates their functions) itself."""
    scoring._MODELS.clear()


@lru_cache(maxsize=1)
def bundle() -> Bundle:
    """Compile the bundle of this file once."""
    return small_bundle(Path(mkdtemp(prefix="scoring-fused-")), FILES)


def model(name: str) -> Model:
    return model_of(bundle().scorings[name])


def scored(name: str, **record: Any) -> ScoreResult:
    return score(bundle().scorings[name], record, {})


def reference(name: str, record: dict[str, Any]) -> ScoreResult:
    m = model(name)
    evaluated = evaluate_each(m, record, {})
    return ScoreResult(evaluated[0], m, None, evaluated)


def test_every_model_gets_a_generated_function() -> None:
    assert all(model(name).fast is not None for name in MODELS)
    assert model("plain") is model("plain")  # generated once, kept


def test_the_fast_path_pins_a_whole_payload_with_weights_not_summing_to_one() -> None:
    # 10 + 50 * (3 * 0.5 + 1.5 * 1 + 0 * 0.25) / 4.5 = 43.333333
    result = scored("plain", size=50, urgent=True, rating=0.25)
    assert result._fast_values == (0.5, 1.0, 0.25)  # scored by the generated function
    assert result.explain() == {
        "score": 43.333333,
        "features": {
            "feature": ["size", "urgent", "rating"],
            "weight": [3.0, 1.5, 0.0],
            "value": [0.5, 1.0, 0.25],
            "contribution": [16.666667, 16.666667, 0.0],
            "title": ["Size", "Urgent", ""],
        },
    }
    assert (result.missing, result.errors, result.failed) == ([], {}, False)
    assert result.names == ["size", "urgent", "rating"]
    assert result.titles == ["Size", "Urgent", ""]
    assert result.weights == [3.0, 1.5, 0.0]


def test_exactly_zero_and_one_and_values_outside_are_bounded() -> None:
    top = scored("plain", size=100, urgent=True, rating=1)
    assert (top.score, top.values, top.contributions) == (
        60.0,
        [1.0, 1.0, 1.0],
        [33.333333, 16.666667, 0.0],
    )
    bottom = scored("plain", size=0, urgent=False, rating=0)
    assert (bottom.score, bottom.values, bottom.contributions) == (
        10.0,
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
    )
    outside = scored("plain", size=250, urgent=False, rating=-4)
    assert (outside.score, outside.values) == (43.333333, [1.0, 0.0, 0.0])
    below = scored("plain", size=-30, urgent=True, rating=9)
    assert (below.score, below.values) == (26.666667, [0.0, 1.0, 1.0])
    assert all(type(v) is float for v in [*top.values, *bottom.values, *below.values])


def test_booleans_and_integers_count_as_floats() -> None:
    # An integer 1 where a decimal is read, a bool where a number is: 1.0 and 0.0.
    result = scored("zero", size=100, rating=True)
    assert (result.score, result.values) == (100.0, [1.0, 1.0])
    assert [type(v) for v in result.values] == [float, float]
    assert scored("zero", size=0, rating=False).values == [0.0, 0.0]


def test_negative_zero_keeps_its_sign_in_values_and_not_in_contributions() -> None:
    result = scored("zero", size=50, rating=-0.0)
    assert repr(result.values) == "[0.5, -0.0]"
    assert repr(result.contributions) == "[25.0, 0.0]"
    assert repr(result.explain()) == repr(reference("zero", {"size": 50, "rating": -0.0}).explain())


def test_not_a_number_stays_not_a_number_like_the_reference() -> None:
    result = scored("zero", size=50, rating=math.nan)
    assert math.isnan(result.score or 0.0) and math.isnan(result.values[1] or 0.0)
    assert repr(result.explain()) == repr(
        reference("zero", {"size": 50, "rating": math.nan}).explain()
    )


def test_text_and_decimal_numbers_go_to_the_reference_which_reads_them() -> None:
    # float("0.25") and float(Decimal) read them; the generated function leaves them.
    assert model("zero").fast is not None
    assert model("zero").fast({"size": 50, "rating": "0.25"}, {}) is None  # type: ignore[misc]
    text = scored("zero", size=50, rating="0.25")
    assert (text.score, text.values, text.missing) == (37.5, [0.5, 0.25], [])
    exact = scored("zero", size=50, rating=Decimal("0.75"))
    assert (exact.score, exact.values) == (62.5, [0.5, 0.75])


def test_a_value_that_is_no_number_is_missing_with_its_error() -> None:
    result = scored("zero", size=50, rating="high")
    assert result.explain() == {
        "score": 25.0,
        "features": {
            "feature": ["size", "rating"],
            "weight": [1.0, 1.0],
            "value": [0.5, 0.0],
            "contribution": [25.0, 0.0],
            "missing": [1],
            "error": {"1": "could not convert string to float: 'high'"},
        },
    }


def test_missing_zero() -> None:
    assert scored("zero", size=50).explain() == {
        "score": 25.0,
        "features": {
            "feature": ["size", "rating"],
            "weight": [1.0, 1.0],
            "value": [0.5, 0.0],
            "contribution": [25.0, 0.0],
            "missing": [1],
        },
    }


def test_missing_skip_reweighs() -> None:
    assert scored("skip", size=50).explain() == {
        "score": 50.0,
        "features": {
            "feature": ["size", "rating"],
            "weight": [1.0, 3.0],
            "value": [0.5, 0.0],
            "contribution": [50.0, 0.0],
            "missing": [1],
        },
    }
    assert scored("skip", size=50, rating=0.1).score == 20.0  # (0.5 + 0.3) / 4
    nothing = scored("skip")
    assert (nothing.score, nothing.contributions) == (None, [0.0, 0.0])


def test_missing_default_values() -> None:
    assert scored("default").explain() == {
        "score": 65.0,
        "features": {
            "feature": ["size", "rating"],
            "weight": [1.0, 1.0],
            "value": [0.4, 0.9],
            "contribution": [20.0, 45.0],
            "missing": [0, 1],
        },
    }


def test_missing_fail_stops_there() -> None:
    result = scored("fail", size=30, urgent=True)
    assert result.explain() == {
        "score": None,
        "features": {
            "feature": ["size", "rating"],
            "weight": [1.0, 1.0],
            "value": [0.3, None],
            "contribution": [7.5, 0.0],
            "missing": [1],
            "failed": True,
        },
    }
    complete = scored("fail", size=30, rating=0.5, urgent=True)
    assert (complete.score, complete.contributions, complete.failed) == (
        70.0,
        [7.5, 12.5, 50.0],
        False,
    )


def test_an_evaluation_error_under_each_policy() -> None:
    message = "cannot evaluate '10.0 ** size': the result would be a number that is too large"
    result = scored("power", size=2000, rating=0.5)
    assert result.explain() == {
        "score": 25.0,
        "features": {
            "feature": ["power", "rating"],
            "weight": [1.0, 1.0],
            "value": [0.0, 0.5],
            "contribution": [0.0, 25.0],
            "missing": [0],
            "error": {"0": message},
        },
    }
    assert result.features[0]["error"] == message


def test_a_lookup_without_a_row_refuses_from_either_path() -> None:
    assert scored("heated", district="north", rating=0.5).score == 65.0
    with pytest.raises(MissingRow):
        scored("heated", district="west", rating=0.5)
    with pytest.raises(MissingRow):
        evaluate(model("heated"), {"district": "west", "rating": 0.5}, {})


def test_evaluate_gives_the_reference_tuple_on_the_fast_path() -> None:
    record = {"size": 50, "urgent": True, "rating": 0.25}
    assert evaluate(model("plain"), record, {}) == evaluate_each(model("plain"), record, {})
    assert evaluate(model("plain"), record, {}) == (
        43.333333,
        [0.5, 1.0, 0.25],
        [16.666667, 16.666667, 0.0],
        None,
        None,
        False,
    )


def test_results_compare_and_show_their_breakdown() -> None:
    one = scored("zero", size=50, rating=0.5)
    assert one == reference("zero", {"size": 50, "rating": 0.5})
    assert one != scored("zero", size=50, rating=0.25)
    assert one != "50.0"
    assert repr(one) == (
        "ScoreResult(score=50.0, features={'feature': ['size', 'rating'], 'weight': [1.0, 1.0], "
        "'value': [0.5, 0.5], 'contribution': [25.0, 25.0]})"
    )


def test_contributions_worked_out_once_are_kept_up_to_a_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = Parts(50.0, 4.0)
    assert parts[0.5] == 6.25 and parts == {0.5: 6.25}
    assert parts[-0.0] == 0.0 and math.isnan(parts[math.nan])
    assert set(parts) == {0.5, 0.0}  # NaN is not kept: it never finds itself
    monkeypatch.setattr(Parts, "CACHED", 2)
    assert parts[0.25] == 3.125 and len(parts) == 2  # full: worked out, not kept


def test_a_model_whose_weights_add_up_to_zero_has_no_generated_function() -> None:
    features = bundle().scorings["zero"].features
    assert build_scorer("z", features, [0.0, 0.0], 0.0, 100.0) is None
    assert weight_sum([0.1, 0.2, 0.3]) == (0.0 + 0.1) + 0.2 + 0.3
    fn = build_scorer("w", features, [math.inf, 1.0], 0.0, 100.0)
    assert fn is not None and math.isnan(fn({"size": 50, "rating": 0.5}, {})[0])  # type: ignore[index]


def test_feature_value_of_each_kind() -> None:
    assert [feature_value(v) for v in (None, True, False, 3, -1, 0.5, "0.2")] == [
        None,
        1.0,
        0.0,
        1.0,
        0.0,
        0.5,
        0.2,
    ]


def test_the_model_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    first = model("plain")
    assert model("plain") is first and len(scoring._MODELS) == 1
    monkeypatch.setattr(scoring, "_MODELS", {i: first for i in range(257)})
    assert model("plain") is not first  # made again, the rest dropped
    assert len(scoring._MODELS) == 1


def test_the_fast_path_does_not_run_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any) -> Any:
        raise AssertionError("the reference loop ran")

    m = model("halves")
    assert m.fast is not None and m.fast({"size": 50, "rating": 0.5}, {}) == (50.0, (0.5, 0.5))
    monkeypatch.setattr(scoring, "evaluate_each", refuse)
    assert evaluate(m, {"size": 50, "rating": 0.5}, {})[0] == 50.0
    assert scored("halves", size=50, rating=0.5).score == 50.0
    with pytest.raises(AssertionError):
        scored("halves", size=50)


def test_an_evaluation_error_stays_an_evaluation_error() -> None:
    # The reference keeps an EvaluationError's text; MissingRow (a subclass) is raised.
    assert issubclass(MissingRow, EvaluationError)


# -- the property -------------------------------------------------------------------------

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 0.5, 1e-9, 1 - 1e-12, 100.0, "0.3", "x", Decimal("0.1")]),
)
RECORDS = st.fixed_dictionaries(
    {},
    optional={
        "size": VALUES,
        "urgent": VALUES,
        "rating": VALUES,
        "district": st.sampled_from(["north", "south"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(MODELS), record=RECORDS)
def test_score_gives_the_reference_payload_on_any_record(name: str, record: dict[str, Any]) -> None:
    try:
        want = reference(name, record)
    except (MissingRow, OverflowError) as exc:
        with pytest.raises(type(exc)):
            scored(name, **record)
        return
    got = scored(name, **record)
    assert repr(got.explain()) == repr(want.explain())
    assert repr(got.features) == repr(want.features)
    assert (got.missing, got.errors, got.failed) == (want.missing, want.errors, want.failed)
    assert repr(evaluate(model(name), record, {})) == repr(evaluate_each(model(name), record, {}))


NUMBERS = st.one_of(st.booleans(), st.floats(min_value=-5, max_value=5), st.integers(-5, 500))


@settings(max_examples=200, deadline=None)
@given(size=NUMBERS, urgent=NUMBERS, rating=NUMBERS)
def test_score_is_the_weighted_mean_written_plainly(size: Any, urgent: Any, rating: Any) -> None:
    def bounded(x: Any) -> float:
        return min(max(float(x), 0.0), 1.0)

    values = [bounded(size / 100), bounded(urgent), bounded(rating)]
    weights = [3.0, 1.5, 0.0]
    total = sum(w * v for w, v in zip(weights, values, strict=True))
    result = scored("plain", size=size, urgent=urgent, rating=rating)
    assert result.values == values
    assert result.score == pytest.approx(10 + 50 * total / 4.5, abs=1e-6)
    parts = [round(round(50 * w * v, 6) / 4.5, 6) for w, v in zip(weights, values, strict=True)]
    assert result.contributions == parts
