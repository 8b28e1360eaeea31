"""Evaluation failures: every expression that could not be evaluated is recorded and counted.

An expression that fails when it runs (a value of an unexpected type, a size or step
limit: `EvaluationError`) never fails silently. The runtime takes the fallback
docs/expressions.md "When an expression fails" gives for the place it runs in, and keeps
a decision of kind `evaluation_failed` about the record (none for a metric alert): the
rule, the expression and the error. `explain` shows it; `counts` totals them per rule
for the metrics API, as Prometheus counts failed rule evaluations.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from engine.expr import EvaluationError
from engine.expr.errors import quote
from engine.spec.rules import RoutingSpec, ScoringSpec
from runtime.clock import iso
from runtime.rules import RoutingResult, ScoreResult
from runtime.store import T_DECISION
from runtime.unit import Unit

KIND = "evaluation_failed"
# Where an expression runs (the decision's `outcome`, the counter's `kind` label).
WHERE = (
    "computed",
    "score",
    "routing",
    "decision_table",
    "alert",
    "sla",
    "action",
    "load",
    "requirement",
    "stage",
)


def record(
    unit: Unit,
    record_id: str | None,
    where: str,
    rule: str,
    error: EvaluationError,
    **detail: Any,
) -> dict[str, Any]:
    """Keep one failure of an expression; the same failure twice in a command is kept once.

    `where` is one of WHERE, `rule` names the rule or field, `detail` adds what tells the
    expression apart within the rule (the field, the feature). Returns the detail kept.
    """
    kept = {"where": where, "rule": rule, **detail, "expression": error.source}
    kept["error"] = error.message
    key = (record_id, where, rule, repr(sorted(detail.items())), error.message)
    if key not in unit.failures:
        unit.failures.add(key)
        unit.tx.decision(record_id, KIND, rule[:64], where, kept)
    return kept


def reread(source: str, text: str) -> EvaluationError:
    """Return the EvaluationError whose str() is `text` (kept as text by scores, routing)."""
    prefix = f"cannot evaluate {quote(source)}: "
    return EvaluationError(source, text.removeprefix(prefix))


def record_score(unit: Unit, record_id: str | None, spec: ScoringSpec, result: ScoreResult) -> None:
    """Record each feature of a score that could not be evaluated (its policy applied)."""
    for index, text in sorted(result.errors.items(), key=lambda item: int(item[0])):
        feature = result.names[int(index)]
        source = spec.features[feature].value
        error = reread(source, text or "")
        record(unit, record_id, "score", spec.name, error, feature=feature)


def record_routing(
    unit: Unit, record_id: str | None, spec: RoutingSpec, result: RoutingResult
) -> None:
    """Record each candidate whose `eligible` rule could not be evaluated (not eligible)."""
    users = result.columns.get("user") or []
    errors = result.columns.get("error") or {}
    for index, text in sorted(errors.items(), key=lambda item: int(item[0])):
        error = reread(spec.eligible or "", text)
        user = users[int(index)]
        record(unit, record_id, "routing", spec.name, error, field="eligible", candidate=user)


def counts(conn: Connection) -> list[dict[str, Any]]:
    """Return the recorded failures per rule: kind, rule, count and the last one's time."""
    rows = conn.execute(
        select(
            T_DECISION.c.outcome,
            T_DECISION.c.rule,
            func.count().label("failures"),
            func.max(T_DECISION.c.at).label("last_at"),
        )
        .where(T_DECISION.c.kind == KIND)
        .group_by(T_DECISION.c.outcome, T_DECISION.c.rule)
        .order_by(T_DECISION.c.outcome, T_DECISION.c.rule)
    ).all()
    return [
        {
            "kind": where,
            "rule": rule,
            "failures": int(failures),
            "last_at": iso(last) if isinstance(last, datetime) else last,
        }
        for where, rule, failures, last in rows
    ]


PROMETHEUS_NAME = "sopflow_rule_evaluation_failures_total"


def prometheus(rows: list[dict[str, Any]]) -> str:
    """Render the counts in the Prometheus text exposition format (version 0.0.4)."""
    lines = [
        f"# HELP {PROMETHEUS_NAME} Expression evaluations that failed, per rule.",
        f"# TYPE {PROMETHEUS_NAME} counter",
    ]
    for row in rows:
        labels = f'kind="{_label(row["kind"])}",rule="{_label(row["rule"])}"'
        lines.append(f"{PROMETHEUS_NAME}{{{labels}}} {row['failures']}")
    return "\n".join(lines) + "\n"


def _label(value: Any) -> str:
    """Escape a label value as the exposition format asks (backslash, quote, newline)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
