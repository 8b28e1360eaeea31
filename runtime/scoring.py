"""Scores: a record (or a record/candidate pair) scored by a weighted model, explained.

A model is scored by one generated function (runtime/scorer.py) that gives the score and
each feature's bounded value; the breakdown (values, contributions, missing, errors) is
worked out from those values only when asked. A record the generated function cannot
score on its fast path (a value missing or not a number, an evaluation error) is scored
feature by feature by `evaluate_each`, the reference, which applies the missing-value
policies. Both give the same floats, rounded the same way.

A breakdown is kept column by column: the model's feature names, titles and weights
once, then each feature's value and contribution as lists. `features` (and
`expand_features`, for what the store holds) turns it back into one dict per feature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.bundle import CompiledScoring
from engine.expr import EvaluationError, MissingRow
from engine.spec.rules import MissingPolicy
from runtime.scorer import Fast, build_scorer
from runtime.scorer import weight_sum as added_in_order


@dataclass(frozen=True)
class Model:
    """What scoring needs of a model, worked out once per compiled model."""

    compiled: CompiledScoring
    names: list[str]
    titles: list[str]
    weights: list[float]
    policies: tuple[Any, ...]
    fns: tuple[Any, ...]
    span: float
    low: float
    # The generated scoring function (None: feature by feature).
    fast: Fast | None = None
    # Per feature: contributions already worked out, by value (values repeat: a bool,
    # a count over a bound...).
    parts: tuple[Parts, ...] = ()


class Parts(dict[float, float]):
    """One feature's contributions by value: worked out on a miss, the first CACHED kept."""

    CACHED = 4096

    def __init__(self, scale: float, total: float) -> None:
        """Work out contributions for a feature of `scale` (span * weight) in `total`."""
        super().__init__()
        self.scale, self.total = scale, total

    def __missing__(self, value: float) -> float:
        """Work out the contribution of `value`: round(round(scale * value, 6) / total, 6)."""
        part = round(round(self.scale * (value or 0.0), 6) / self.total, 6)
        if len(self) < self.CACHED and not math.isnan(value):  # NaN never finds itself
            self[value] = part
        return part


_MODELS: dict[int, Model] = {}


def model_of(compiled: CompiledScoring) -> Model:
    """Return what scoring needs of `compiled`, generating its function the first time."""
    found = _MODELS.get(id(compiled))
    if found is not None and found.compiled is compiled:
        return found
    spec = compiled.spec
    low, high = spec.scale
    if len(spec.features) != len(compiled.features):
        raise ValueError(f"scoring '{spec.name}' has {len(compiled.features)} compiled features")
    weights = [f.weight for f in spec.features.values()]
    span = high - low
    found = Model(
        compiled,
        list(spec.features),
        [f.title for f in spec.features.values()],
        weights,
        tuple(f.missing or spec.missing for f in spec.features.values()),
        tuple(expr.fn for expr in compiled.features),
        span,
        low,
        build_scorer(spec.name, compiled.features, weights, low, span),
        tuple(Parts(span * weight, added_in_order(weights)) for weight in weights),
    )
    if len(_MODELS) > 256:
        _MODELS.clear()
    _MODELS[id(compiled)] = found
    return found


# (score, values, contributions, missing indexes, errors, failed)
Evaluated = tuple[
    float | None,
    list[float | None],
    list[float],
    list[int] | None,
    dict[str, str | None] | None,
    bool,
]


def _breakdown(m: Model, score: float, values: tuple[float, ...]) -> Evaluated:
    """Return the breakdown of a score the generated function gave (nothing missing)."""
    # dict.__getitem__ calls Parts.__missing__ on a miss, as known[value] would.
    parts = list(map(_looked_up, m.parts, values))
    return score, list(values), parts, None, None, False


_looked_up = dict.__getitem__


def evaluate(m: Model, r: Mapping[str, Any], c: Mapping[str, Any]) -> Evaluated:
    """Return (score, values, contributions, missing indexes, errors, failed)."""
    fast = m.fast
    if fast is not None:
        got = fast(r, c)
        if got is not None:
            return _breakdown(m, got[0], got[1])
    return evaluate_each(m, r, c)


class ScoreResult:
    """A score and its per-feature breakdown, kept as columns.

    `values`, `contributions` run over the features evaluated (all of them unless a
    missing value under the `fail` policy stopped the score there: `failed`);
    `missing` lists the indexes of missing values, `errors` the evaluation errors.
    A score from the generated function keeps its feature values only: the rest is
    worked out the first time it is read.
    """

    __slots__ = ("_detail", "_fast_values", "_model", "score")
    __hash__ = None  # type: ignore[assignment]

    def __init__(
        self,
        score: float | None,
        model: Model,
        fast_values: tuple[float, ...] | None = None,
        evaluated: Evaluated | None = None,
    ) -> None:
        """Keep a score with its values (fast) or its whole evaluation (`evaluate_each`)."""
        self.score = score
        self._model = model
        self._fast_values = fast_values
        self._detail: tuple[Any, ...] | None = None
        if evaluated is not None:
            self._detail = self._keep(evaluated)

    @staticmethod
    def _keep(evaluated: Evaluated) -> tuple[Any, ...]:
        _, values, parts, missing, errors, failed = evaluated
        return values, parts, missing or [], errors or {}, failed

    def _full(self) -> tuple[Any, ...]:
        detail = self._detail
        if detail is None:
            values = self._fast_values or ()
            detail = self._detail = self._keep(_breakdown(self._model, 0.0, values))
        return detail

    @property
    def names(self) -> list[str]:
        """The model's feature names."""
        return self._model.names

    @property
    def titles(self) -> list[str]:
        """The model's feature titles ("" where none)."""
        return self._model.titles

    @property
    def weights(self) -> list[float]:
        """The model's declared weights."""
        return self._model.weights

    @property
    def values(self) -> list[float | None]:
        """Each evaluated feature's value, bounded to [0, 1] (a missing one's stand-in)."""
        values: list[float | None] = self._full()[0]
        return values

    @property
    def contributions(self) -> list[float]:
        """Each evaluated feature's points of the score."""
        parts: list[float] = self._full()[1]
        return parts

    @property
    def missing(self) -> list[int]:
        """The indexes of the features whose value was missing (or failed)."""
        missing: list[int] = self._full()[2]
        return missing

    @property
    def errors(self) -> dict[str, str | None]:
        """Evaluation errors by feature index (as text)."""
        errors: dict[str, str | None] = self._full()[3]
        return errors

    @property
    def failed(self) -> bool:
        """True when a missing value under the `fail` policy left no score."""
        failed: bool = self._full()[4]
        return failed

    def _fields(self) -> tuple[Any, ...]:
        return (self.score, self.names, self.titles, self.weights, *self._full())

    def __eq__(self, other: object) -> bool:
        """Compare scores and breakdowns."""
        if not isinstance(other, ScoreResult):
            return NotImplemented
        return self._fields() == other._fields()

    def __repr__(self) -> str:
        """Show the score and the breakdown."""
        return f"ScoreResult(score={self.score!r}, features={self.columns()!r})"

    def columns(self) -> dict[str, Any]:
        """Return the breakdown as compact JSON-ready columns (see `expand_features`)."""
        values, parts, missing, errors, failed = self._full()
        m = self._model
        n = len(values)
        out: dict[str, Any] = {
            "feature": m.names[:n],
            "weight": m.weights[:n],
            "value": values,
            "contribution": parts,
        }
        if any(m.titles):
            out["title"] = m.titles[:n]
        if missing:
            out["missing"] = missing
        if errors:
            out["error"] = errors
        if failed:
            out["failed"] = True
        return out

    @property
    def features(self) -> list[dict[str, Any]]:
        """Return the breakdown as one dict per feature."""
        return expand_features(self.columns())

    def explain(self) -> dict[str, Any]:
        """Return the breakdown as JSON-ready data (columns; see `expand_features`)."""
        return {"score": self.score, "features": self.columns()}


def expand_features(cols: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return a breakdown kept as columns as one dict per feature.

    Each: feature, title, value, weight, contribution, missing (and error when one was
    raised); the feature that failed a `fail` policy: feature, value, missing, error.
    """
    names = cols["feature"]
    n = len(names)
    titles = cols.get("title") or [""] * n
    missing = set(cols.get("missing") or ())
    errors = cols.get("error") or {}
    last = n - 1 if cols.get("failed") else -1
    out: list[dict[str, Any]] = []
    for i, (name, title, value, weight, contribution) in enumerate(
        zip(names, titles, cols["value"], cols["weight"], cols["contribution"], strict=True)
    ):
        error = errors.get(str(i))
        if i == last:
            out.append({"feature": name, "value": None, "missing": True, "error": error})
            continue
        part = {
            "feature": name,
            "title": title,
            "value": value,
            "weight": weight,
            "contribution": contribution,
            "missing": i in missing,
        }
        if error:
            part["error"] = error
        out.append(part)
    return out


def expand_score(detail: Mapping[str, Any]) -> dict[str, Any]:
    """Return a score explanation with its breakdown as one dict per feature."""
    features = detail.get("features")
    if not isinstance(features, Mapping):
        return dict(detail)
    return {**detail, "features": expand_features(features)}


def feature_value(value: Any) -> float | None:
    """Return a feature's value as scored: None, 1.0/0.0 for a bool, else bounded to [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return min(max(float(value), 0.0), 1.0)


def score(model: CompiledScoring, r: Mapping[str, Any], c: Mapping[str, Any]) -> ScoreResult:
    """Score a record (or a record/candidate pair): low + (high-low) * weighted mean."""
    m = model_of(model)
    fast = m.fast
    if fast is not None:
        got = fast(r, c)
        if got is not None:
            return ScoreResult(got[0], m, got[1])
    evaluated = evaluate_each(m, r, c)
    return ScoreResult(evaluated[0], m, None, evaluated)


def evaluate_each(m: Model, r: Mapping[str, Any], c: Mapping[str, Any]) -> Evaluated:
    """Score feature by feature, applying the missing-value policies (the reference).

    Return (score, values, contributions, missing indexes, errors, failed).
    """
    span = m.span
    total = weight_sum = 0.0
    values: list[float | None] = []
    parts: list[float] = []
    missing: list[int] | None = None
    errors: dict[str, str | None] | None = None
    for i, (fn, policy, declared) in enumerate(zip(m.fns, m.policies, m.weights, strict=True)):
        error = None
        try:
            value = feature_value(fn(r, c))
        except MissingRow:
            raise
        except (EvaluationError, TypeError, ValueError) as exc:
            value, error = None, str(exc)
        weight = declared
        used = value
        if value is None:
            missing = [*(missing or ()), i]
            if policy == "fail":
                values.append(None)
                parts.append(0.0)
                if error is not None:
                    errors = {**(errors or {}), str(i): error}
                # No score: each contribution is its share of all the declared weights.
                declared_sum = sum(m.weights)
                return (
                    None,
                    values,
                    [round(p / declared_sum, 6) for p in parts],
                    missing,
                    errors,
                    True,
                )
            if policy == "skip":
                weight = 0.0
            used = policy.value if isinstance(policy, MissingPolicy) else 0.0
            if error:
                errors = {**(errors or {}), str(i): error}
        total += weight * (used or 0.0)
        weight_sum += weight
        values.append(used)
        parts.append(round(span * weight * (used or 0.0), 6))
    if weight_sum <= 0:
        return None, values, parts, missing, errors, False
    result = round(m.low + span * total / weight_sum, 6)
    return result, values, [round(part / weight_sum, 6) for part in parts], missing, errors, False
