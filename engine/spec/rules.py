"""Decision rules: scoring models, routing, decision tables and validation rules."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from engine.spec.actions import ActionSpec
from engine.spec.base import Date, DocumentSpec, Expr, Name, Spec, Template, Text, UserId

Trigger = Literal["created", "updated", "stage_entered", "evidence_attached"]
Aggregate = Literal["sum", "max", "min", "count"]


class MissingPolicy(Spec):
    """What a feature counts as when its inputs are missing: a fixed value."""

    value: float


REEVALUATE_BATCH_MAX = 5000


class ReevaluateSpec(Spec):
    """Whether records a rule already decided are decided again when the rule changes.

    When a bundle whose rule has a new version is applied (reload or start), a
    background job re-runs the rule over the chosen records, `batch` records per
    transaction (docs/language.md "Re-evaluation on model change").
    """

    records: Literal["open", "all", "queued", "none"] = Field(
        default="none",
        description="open: open records; all: every record; queued (routing): open "
        "records nobody owns; none: leave decided records as they are.",
    )
    where: Expr | None = Field(
        default=None, description="Only records where this holds (no time functions)."
    )
    batch: int = Field(
        default=200,
        ge=1,
        le=REEVALUATE_BATCH_MAX,
        description="Records per transaction (1 to 5000).",
    )


class FeatureSpec(Spec):
    """One weighted feature of a score: an expression giving a value between 0 and 1."""

    value: Expr
    weight: float = Field(ge=0)
    title: str = ""
    missing: Literal["zero", "skip", "fail"] | MissingPolicy | None = Field(
        default=None, description="Overrides the model's missing policy for this feature."
    )


class ScoringSpec(DocumentSpec):
    """A weighted scoring model (P2, F7, P3's match score).

    score = low + (high - low) * sum(weight * clamp(value, 0, 1)) / sum(weight)
    """

    kind: Literal["scoring"]
    name: Name
    entity: Name
    title: str = ""
    description: Text = ""
    against: Literal["users"] | None = Field(
        default=None, description="users: score each (record, candidate user) pair."
    )
    output: Name | None = Field(default=None, description="Field the score is written to.")
    scale: list[float] = Field(
        default=[0, 100], min_length=2, max_length=2, description="[low, high] of the score."
    )
    missing: Literal["zero", "skip", "fail"] | MissingPolicy = Field(
        default="zero",
        description="zero: count as 0; skip: leave out and re-weigh; fail: no score; "
        "{value: x}: count as x.",
    )
    features: dict[Name, FeatureSpec] = Field(min_length=1)
    on: list[Trigger] = ["created", "updated"]
    reevaluate: ReevaluateSpec | None = Field(
        default=None, description="Score stored records again when the model changes."
    )

    @model_validator(mode="after")
    def _check(self) -> ScoringSpec:
        if self.scale[0] >= self.scale[1]:
            raise ValueError("'scale' is [low, high] with low < high")
        if sum(f.weight for f in self.features.values()) <= 0:
            raise ValueError("the weights of 'features' add up to zero")
        if self.against and self.output:
            raise ValueError("a pair score (against: users) is used by routing; it has no 'output'")
        return self


class Candidates(Spec):
    """Who may receive records: users holding a role, members of teams, or listed users.

    `matching` narrows them by attributes before anything is evaluated: a candidate stays
    only when each named user attribute equals the record's field (or, for a list or
    multi_enum attribute, holds it). The runtime looks the record's value up in an index
    built once per bundle, so the narrowing costs no expression per candidate.
    """

    role: UserId | None = None
    teams: list[UserId] = Field(default_factory=list)
    users: list[UserId] = Field(default_factory=list)
    matching: dict[Name, Name] = Field(
        default_factory=dict,
        description="user attribute -> record field: keep only the candidates whose "
        "attribute equals (a list attribute: holds) the record's value.",
    )

    @model_validator(mode="after")
    def _some(self) -> Candidates:
        if not (self.role or self.teams or self.users):
            raise ValueError("candidates need a 'role', 'teams' or 'users'")
        return self


class RoutingSpec(DocumentSpec):
    """Routing: who gets a record, by eligibility, match score, threshold and strategy."""

    kind: Literal["routing"]
    name: Name
    entity: Name
    title: str = ""
    description: Text = ""
    on: list[Trigger] = ["created"]
    when: Expr | None = Field(default=None, description="Route only records where this holds.")
    candidates: Candidates
    eligible: Expr | None = Field(
        default=None, description="Hard rules over the record and `candidate` (both must pass)."
    )
    match: Name | None = Field(default=None, description="A scoring model `against: users`.")
    threshold: float | None = Field(default=None, description="Least match score to receive.")
    strategy: Literal["best_match", "round_robin", "least_loaded", "load_weighted"] = "best_match"
    load_weight: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="load_weighted: rank = match * (1 - load_weight * load / capacity).",
    )
    skip_unavailable: bool = Field(default=True, description="Skip people on leave or off hours.")
    fallback_queue: Name = Field(description="Queue for records nobody may take (never lost).")
    on_assign: list[ActionSpec] = Field(default_factory=list)
    override_roles: list[Name] = Field(
        default_factory=list,
        description="Roles whose holders may assign a record by hand against `eligible`.",
    )
    reevaluate: ReevaluateSpec | None = Field(
        default=None, description="Route queued records again when the rule changes."
    )

    @model_validator(mode="after")
    def _check(self) -> RoutingSpec:
        if self.threshold is not None and self.match is None:
            raise ValueError("'threshold' needs a 'match' score to compare with")
        if self.strategy == "load_weighted" and (self.load_weight is None or self.match is None):
            raise ValueError("strategy load_weighted needs 'match' and 'load_weight'")
        return self


class DecisionTableSpec(DocumentSpec):
    """A decision table (F4): rows of input conditions and the outputs they set.

    A row lists one cell per input then one per output. Input cells: a value (equals),
    '*' (anything), '>= 3', '!= trial', '1..3' (range), 'in [a, b]', 'has invoice'.
    Output cells (and default values): a value, or '= expression' computed from the
    record when the row is used (engine/compiler/cells.py output_expression).
    """

    kind: Literal["decision_table"]
    name: Name
    entity: Name
    title: str = ""
    description: Text = ""
    hit: Literal["first", "unique", "collect"] = "first"
    aggregate: Aggregate | dict[Name, Aggregate] | None = Field(
        default=None,
        description="hit: collect: sum, max, min or count the matching rows' outputs "
        "(one for every output, or per output); without it each output gets a list.",
    )
    on: list[Trigger] = ["created", "updated"]
    inputs: list[Expr] = Field(min_length=1, description="Expressions the cells test.")
    outputs: list[Name] = Field(min_length=1, description="Fields the table sets.")
    rows: list[list[Any]] = Field(min_length=1)
    default: list[Any] | None = Field(default=None, description="Outputs when no row matches.")
    reevaluate: ReevaluateSpec | None = Field(
        default=None, description="Decide stored records again when the table changes."
    )

    def aggregate_of(self, output: str) -> str | None:
        """Return how `hit: collect` combines an output's values (None: a list of them)."""
        if isinstance(self.aggregate, dict):
            return self.aggregate.get(output)
        return self.aggregate


class ValidationSpec(DocumentSpec):
    """A validation or compliance rule (P10): refuse a save or move, with the reason."""

    kind: Literal["validation"]
    name: Name
    entity: Name
    title: str = ""
    description: Text = ""
    on: list[Literal["save", "leave_stage"]] = ["save"]
    stages: list[Name] = Field(
        default_factory=list, description="Only while the record is in these stages."
    )
    refuse_if: Expr
    message: Template
    severity: Literal["error", "warning"] = "error"
    effective_from: Date | None = Field(default=None, description="Date the rule starts to apply.")


__all__ = ["ActionSpec"]
