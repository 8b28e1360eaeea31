"""Rules in the loop: scores, decision tables, validation rules and routing.

Each function decides and explains: it returns what it decided plus the reasons, and
the caller keeps both with the record (sf_decision) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.bundle import Bundle, CompiledScoring
from engine.expr import EvaluationError
from engine.spec import RoutingSpec, ValidationSpec
from engine.spec.rules import MissingPolicy
from runtime.errors import Problem
from runtime.people import candidate, loads, on_leave, team_members, users_with_role


@dataclass
class ScoreResult:
    """A score and its per-feature breakdown."""

    score: float | None
    features: list[dict[str, Any]] = field(default_factory=list)

    def explain(self) -> dict[str, Any]:
        """Return the breakdown as JSON-ready data."""
        return {"score": self.score, "features": self.features}


def _feature_value(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    return min(max(float(value), 0.0), 1.0)


def score(model: CompiledScoring, r: Mapping[str, Any], c: Mapping[str, Any]) -> ScoreResult:
    """Score a record (or a record/candidate pair): low + (high-low) * weighted mean."""
    spec = model.spec
    low, high = spec.scale
    total = weight_sum = 0.0
    parts: list[dict[str, Any]] = []
    for (name, feature), expr in zip(spec.features.items(), model.features, strict=True):
        error = None
        try:
            value = _feature_value(expr.fn(r, c))
        except (EvaluationError, TypeError, ValueError) as exc:
            value, error = None, str(exc)
        policy = feature.missing or spec.missing
        weight = feature.weight
        used = value
        if value is None:
            if policy == "fail":
                parts.append({"feature": name, "value": None, "missing": True, "error": error})
                return ScoreResult(None, parts)
            if policy == "skip":
                weight = 0.0
            used = policy.value if isinstance(policy, MissingPolicy) else 0.0
        total += weight * (used or 0.0)
        weight_sum += weight
        parts.append(
            {
                "feature": name,
                "title": feature.title,
                "value": used,
                "weight": feature.weight,
                "contribution": round((high - low) * weight * (used or 0.0), 6),
                "missing": value is None,
                **({"error": error} if error else {}),
            }
        )
    if weight_sum <= 0:
        return ScoreResult(None, parts)
    result = low + (high - low) * total / weight_sum
    for part in parts:
        part["contribution"] = round(part["contribution"] / weight_sum, 6)
    return ScoreResult(round(result, 6), parts)


def validation_applies(spec: ValidationSpec, stage: str | None, now: datetime) -> bool:
    """Tell whether a validation rule applies to a record in `stage` at `now`."""
    if spec.stages and stage not in spec.stages:
        return False
    return spec.effective_from is None or now.date() >= spec.effective_from


def check_validations(
    bundle: Bundle,
    entity: str,
    when: str,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    stage: str | None,
    now: datetime,
    render: Any,
) -> tuple[list[Problem], list[Problem]]:
    """Run validation rules `on: when` (save / leave_stage); return (errors, warnings)."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    for name, (spec, expr) in bundle.validations.items():
        if spec.entity != entity or when not in spec.on or not validation_applies(spec, stage, now):
            continue
        try:
            refused = bool(expr.fn(r, c))
        except EvaluationError as exc:
            refused = True
            message = f"rule '{name}' could not be checked: {exc}"
        else:
            message = render(spec.message, {**r, "record": r, "now": now}) if refused else ""
        if refused:
            problem = Problem("rule-refused", message, rule=name, expression=spec.refuse_if)
            (errors if spec.severity == "error" else warnings).append(problem)
    return errors, warnings


@dataclass
class RoutingResult:
    """Who got the record (or which queue), with every candidate considered."""

    owner: str | None
    queue: str | None
    reason: str
    candidates: list[dict[str, Any]]

    def explain(self) -> dict[str, Any]:
        """Return the routing decision as JSON-ready data."""
        return {
            "owner": self.owner,
            "queue": self.queue,
            "reason": self.reason,
            "candidates": self.candidates,
        }


def candidate_ids(bundle: Bundle, spec: RoutingSpec) -> list[str]:
    """Return the users a routing rule considers, in a stable order."""
    found: list[str] = []
    if spec.candidates.role:
        found += users_with_role(bundle, spec.candidates.role)
    for team in spec.candidates.teams:
        found += team_members(bundle, team)
    found += spec.candidates.users
    return [u for u in dict.fromkeys(found) if u in bundle.manifest.users]


def route(
    bundle: Bundle,
    spec: RoutingSpec,
    r: Mapping[str, Any],
    c: Mapping[str, Any],
    conn: Any,
    now: datetime,
) -> RoutingResult:
    """Pick an owner: eligibility and threshold first, then the strategy; else the queue."""
    ids = candidate_ids(bundle, spec)
    current = loads(conn, ids)
    model = bundle.scorings.get(spec.match) if spec.match else None
    eligible_expr = bundle.expr(spec, "eligible") if spec.eligible else None
    considered: list[dict[str, Any]] = []
    passing: list[dict[str, Any]] = []
    for user in ids:
        load, picked = current[user]
        cand = candidate(bundle, user, load, now)
        row: dict[str, Any] = {"user": user, "load": load, "capacity": cand["capacity"]}
        considered.append(row)
        if not bundle.manifest.users[user].active:
            row["excluded"] = "inactive"
            continue
        if spec.skip_unavailable and on_leave(bundle, user, now):
            row["excluded"] = "on leave"
            continue
        if cand["capacity"] is not None and load >= cand["capacity"]:
            row["excluded"] = f"at capacity ({load}/{cand['capacity']})"
            continue
        context = {**c, "candidate": cand}
        if eligible_expr is not None:
            try:
                ok = bool(eligible_expr.fn(r, context))
            except EvaluationError as exc:
                ok, row["error"] = False, str(exc)
            if not ok:
                row["excluded"] = f"not eligible: {spec.eligible}"
                continue
        if model is not None:
            result = score(model, r, context)
            row["match"] = result.score
            row["features"] = result.features
            if spec.threshold is not None and (result.score or 0) < spec.threshold:
                row["excluded"] = f"match {result.score} is below the threshold {spec.threshold}"
                continue
        row["_picked"] = picked
        passing.append(row)
    if not passing:
        for row in considered:
            row.pop("_picked", None)
        return RoutingResult(
            None,
            spec.fallback_queue,
            f"no candidate passed; waiting in queue '{spec.fallback_queue}'",
            considered,
        )
    winner, why = _choose(spec, passing)
    for row in considered:
        row.pop("_picked", None)
        row["chosen"] = row is winner
    return RoutingResult(winner["user"], None, why, considered)


def _ratio(row: dict[str, Any]) -> float:
    capacity = row["capacity"] or 0
    return row["load"] / capacity if capacity else float(row["load"])


def _choose(spec: RoutingSpec, rows: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    def match(row: dict[str, Any]) -> float:
        return float(row.get("match") or 0.0)

    if spec.strategy == "round_robin":
        never = datetime.min
        best = min(rows, key=lambda row: (row["_picked"] or never, row["user"]))
        return best, "round robin: longest since the last assignment"
    if spec.strategy == "least_loaded":
        best = min(rows, key=lambda row: (_ratio(row), -match(row), row["user"]))
        return best, f"least loaded: {best['load']} open records"
    if spec.strategy == "load_weighted":
        weight = spec.load_weight or 0.0
        for row in rows:
            row["rank"] = round(match(row) * (1 - weight * min(_ratio(row), 1.0)), 6)
        best = max(rows, key=lambda row: (row["rank"], -row["load"], row["user"]))
        return best, f"load-weighted rank {best['rank']} (match x (1 - {weight} x load/capacity))"
    best = max(rows, key=lambda row: (match(row), -_ratio(row), row["user"]))
    return best, f"best match {match(best)}"
