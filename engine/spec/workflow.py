"""Workflows (`kind: workflow`) and reusable playbooks (`kind: workflow_template`)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.spec.actions import ActionSpec
from engine.spec.base import (
    DURATION_PATTERN,
    DocumentSpec,
    DurationText,
    Expr,
    Name,
    Roles,
    Spec,
    Template,
    Text,
    UserId,
    exactly_one,
    one_or_many,
)

# Structural templates (F3): a part a workflow made from a template keeps or leaves out.
INCLUDE_IF = (
    "Only in a workflow_template: an expression over `params`, decided once when a workflow "
    "is made from the template; false leaves this part out of that workflow (default: kept)."
)

_MOVE = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*->\s*([a-z][a-z0-9_]*)\s*$")


class EvidenceRequirement(Spec):
    """Evidence a record must carry before it may leave the stage (P4, F8)."""

    kind: Name = Field(description="What the evidence is, e.g. shelf_photo.")
    title: str = ""
    types: list[str] = Field(
        default_factory=list, description="Accepted media types, e.g. image/jpeg, image/*."
    )
    min: int = Field(default=1, ge=1, description="How many files at least.")
    max: int | None = Field(
        default=None, ge=1, description="How many files at most (more are refused at attach)."
    )
    from_stays: Literal["current_stay", "any_stay"] = Field(
        default="current_stay",
        alias="from",
        description="Which files count: those attached during the record's current stay in "
        "the stage it leaves (current_stay), or every file of the kind on the record (any_stay).",
    )
    when: Expr | None = Field(
        default=None,
        description="When the requirement applies, read on the record at each check "
        "(default: always).",
    )
    include_if: Expr | None = Field(default=None, description=INCLUDE_IF)

    @field_validator("types")
    @classmethod
    def _media_types(cls, value: list[str]) -> list[str]:
        for item in value:
            if not re.match(r"^[a-z]+/([a-z0-9.+-]+|\*)$", item):
                raise ValueError(f"'{item}' is not a media type like 'image/png' or 'image/*'")
        return value


class Guard(Spec):
    """A check run before leaving the stage; the message is shown when it refuses (P10)."""

    refuse_if: Expr = Field(description="When true, the move is refused.")
    message: Template = Field(description="What the user is told, with {{ field }} placeholders.")
    when: Expr | None = Field(
        default=None, description="When the guard applies at all (default: always)."
    )
    include_if: Expr | None = Field(default=None, description=INCLUDE_IF)


class RequiredField(Spec):
    """The long form of a `require` item: a field that must be set only in some cases."""

    field: Name = Field(description="The field that must be set.")
    when: Expr | None = Field(
        default=None, description="When it must be set, read on the record (default: always)."
    )
    include_if: Expr | None = Field(default=None, description=INCLUDE_IF)


def required_name(item: str | RequiredField) -> str:
    """Return the field a `require` item names (short or long form)."""
    return item if isinstance(item, str) else item.field


class SlaSpec(Spec):
    """How long a record may stay in the stage, reminders before, and what happens at breach."""

    within: DurationText | None = Field(default=None, description="The limit, e.g. 72h.")
    within_expr: Expr | None = Field(
        default=None, description="Expression giving the limit per record (a duration)."
    )
    calendar: Name | None = Field(default=None, description="Count only working time of it.")
    remind_before: Annotated[
        list[DurationText], one_or_many({"type": "string", "pattern": DURATION_PATTERN})
    ] = Field(default_factory=list)
    on_remind: list[ActionSpec] = Field(default_factory=list)
    on_breach: list[ActionSpec] = Field(default_factory=list)
    missed: Literal["run_late", "mark_late", "skip"] = Field(
        default="run_late",
        description="A reminder or breach that fell due while the server was down: run its "
        "actions late, only record it as late, or skip it.",
    )

    @field_validator("remind_before", mode="before")
    @classmethod
    def _single(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_limit(self) -> SlaSpec:
        exactly_one("an sla", within=self.within, within_expr=self.within_expr)
        return self


class KnowledgeLink(Spec):
    """Guidance material linked to a stage (scripts, playbooks, cases: P7, F5)."""

    title: str
    url: str | None = None
    table: Name | None = Field(default=None, description="Rows of a table, e.g. scripts.")
    where: Expr | None = Field(default=None, description="Filter over `row` and the record.")
    metric: Name | None = Field(
        default=None, description="Groups of a metric, e.g. a pharmacy's top categories."
    )
    match: dict[Name, Expr] = Field(
        default_factory=dict,
        description="Metric group column -> expression over the record: only those groups.",
    )
    top: int | None = Field(
        default=None, ge=1, description="At most this many rows; a metric's highest value first."
    )


class Insight(Spec):
    """A value shown to the user in the stage (P7: top categories, price bands)."""

    title: str
    value: Expr


class BranchSpec(Spec):
    """One branch of parallel work inside a stage (legal review, finance review)."""

    id: Name
    title: str = ""
    roles: Roles | None = Field(default=None, description="Who may complete it (default: all).")
    require: list[Name | RequiredField] = Field(
        default_factory=list, description="Fields that must be set before it completes."
    )
    evidence: list[EvidenceRequirement] = Field(default_factory=list)
    when: Expr | None = Field(
        default=None, description="The branch exists only while this holds (default: always)."
    )
    include_if: Expr | None = Field(default=None, description=INCLUDE_IF)


class Branches(Spec):
    """Parallel work inside a stage: `need` of its branches complete before it is left."""

    need: int | Literal["all"] = Field(
        default="all", description="'all', or how many of the branches must complete."
    )
    items: list[BranchSpec] = Field(min_length=1)

    @field_validator("need")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("need is 'all' or a whole number, 1 or more")
        return value


class ApprovalBy(Spec):
    """Who may approve: the holders of a role, listed users, or named assignments."""

    role: UserId | None = None
    users: list[UserId] = Field(default_factory=list)
    assignment: Annotated[list[Name], one_or_many({"type": "string"})] = Field(
        default_factory=list,
        description="Named assignments of the record (the form's `assignments`): whoever "
        "holds them approves.",
    )

    @field_validator("assignment", mode="before")
    @classmethod
    def _single(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one(self) -> ApprovalBy:
        exactly_one("approval 'by'", role=self.role, users=self.users, assignment=self.assignment)
        return self


class ApprovalSpec(Spec):
    """An approval step in a stage: approve, reject or send back, by n of the approvers."""

    title: str = ""
    by: ApprovalBy
    need: int | Literal["all"] = Field(
        default=1, description="How many approvers must approve, or 'all'."
    )
    send_back_to: list[Name] = Field(
        default_factory=list, description="Earlier stages a send-back may return the record to."
    )
    on_reject: Name = Field(description="The exit a rejected record takes.")
    delegate: Literal["manager", "none"] = Field(
        default="manager", description="Who decides for an approver on leave today."
    )
    on_approved: list[ActionSpec] = Field(default_factory=list)
    include_if: Expr | None = Field(default=None, description=INCLUDE_IF)

    @field_validator("need")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("need is 'all' or a whole number, 1 or more")
        return value


class StageSpec(Spec):
    """One stage of the SOP: guidance, what it needs before leaving, its clock and actions."""

    id: Name
    title: str = ""
    only_when: Expr | None = Field(
        default=None,
        description="When the stage applies, read on the record at each move until it "
        "reaches the stage (default: always); otherwise it is skipped.",
    )
    guidance: Text = ""
    knowledge: list[KnowledgeLink] = Field(default_factory=list)
    insights: list[Insight] = Field(default_factory=list)
    require: list[Name | RequiredField] = Field(
        default_factory=list,
        description="Fields that must be set: a name, or {field, when} for a field needed "
        "only in some cases.",
    )
    evidence: list[EvidenceRequirement] = Field(default_factory=list)
    guards: list[Guard] = Field(default_factory=list)
    include_if: Expr | None = Field(default=None, description=INCLUDE_IF)
    roles: Roles | None = Field(default=None, description="Who may move records out of it.")
    sla: SlaSpec | None = None
    forecast_weight: float | None = Field(default=None, ge=0, le=1)
    on_enter: list[ActionSpec] = Field(default_factory=list)
    on_exit: list[ActionSpec] = Field(default_factory=list)
    on_update: list[ActionSpec] = Field(
        default_factory=list,
        description="Run when a change (update, ingest) alters a record's fields in the stage.",
    )
    # parallel branches and approvals (docs/language.md, "Branches and approvals")
    branches: Branches | None = None
    approval: ApprovalSpec | None = None
    # -- definition migrations (docs/language.md "Changing definitions safely") --
    renamed_from: Name | None = Field(
        default=None, description="The stage's earlier id: records in it take the new id."
    )


class ExitSpec(Spec):
    """A way out of the workflow (won or lost), with what it needs."""

    id: Name
    title: str = ""
    outcome: Literal["won", "lost", "closed"]
    from_stages: list[Name] | None = Field(
        default=None, alias="from", description="Stages it may be taken from (default: any)."
    )
    require: list[Name | RequiredField] = Field(default_factory=list)
    evidence: list[EvidenceRequirement] = Field(default_factory=list)
    guards: list[Guard] = Field(default_factory=list)
    roles: Roles | None = None
    on_enter: list[ActionSpec] = Field(default_factory=list)
    include_if: Expr | None = Field(default=None, description=INCLUDE_IF)


class Moves(Spec):
    """Which moves between stages are allowed, and who may make them."""

    forward: Literal["next", "any_later"] = Field(
        default="next", description="next: one stage at a time; any_later: may skip ahead."
    )
    back: list[str] | Literal["any", "none"] = Field(
        default="none", description="Back-steps: 'any', 'none' or a list of 'from -> to'."
    )
    extra: list[str] = Field(default_factory=list, description="More moves: 'from -> to'.")
    roles: Roles | None = Field(default=None, description="Who may move (default: every role).")

    @field_validator("back", "extra")
    @classmethod
    def _arrows(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            for item in value:
                if not _MOVE.match(item):
                    raise ValueError(f"'{item}' is not a move like 'quote -> proposal_demo'")
        return value


def parse_move(text: str) -> tuple[str, str]:
    """Split 'a -> b' into ('a', 'b')."""
    match = _MOVE.match(text)
    assert match, text
    return match.group(1), match.group(2)


class WorkflowBody(Spec):
    """What a workflow says: its entity, stages, exits and moves."""

    entity: Name
    title: str = ""
    description: Text = ""
    applies_when: Expr | None = Field(
        default=None, description="Records it applies to (default: all of the entity)."
    )
    stages: list[StageSpec] = Field(min_length=1)
    exits: list[ExitSpec] = Field(default_factory=list)
    moves: Moves = Field(default_factory=Moves)


class RemovedStage(Spec):
    """A stage that is gone: the records still in it move to `move_to` on reload."""

    move_to: Name = Field(description="The stage (or exit) its records move to.")
    note: Text = Field(default="", description="Why it went (kept with each move).")


class WorkflowSpec(DocumentSpec):
    """A workflow: stage SOPs directly, or a template filled with parameters (F3)."""

    kind: Literal["workflow"]
    name: Name
    template: Name | None = Field(default=None, description="A workflow_template to instantiate.")
    params: dict[Name, Any] = Field(default_factory=dict, description="The template's parameters.")
    entity: Name | None = None
    title: str = ""
    description: Text = ""
    applies_when: Expr | None = None
    stages: list[StageSpec] = Field(default_factory=list)
    exits: list[ExitSpec] = Field(default_factory=list)
    moves: Moves = Field(default_factory=Moves)
    # -- definition migrations (docs/language.md "Changing definitions safely") --
    removed_stages: dict[Name, RemovedStage] = Field(
        default_factory=dict,
        description="Stages that are gone, each with where the records still in it go.",
    )

    @model_validator(mode="after")
    def _direct_or_template(self) -> WorkflowSpec:
        if self.template is None:
            if self.entity is None or not self.stages:
                raise ValueError("a workflow needs 'entity' and 'stages' (or a 'template')")
            if self.params:
                raise ValueError("'params' only goes with 'template'")
        elif self.stages or self.exits:
            raise ValueError(
                "a workflow made from a template does not list its own 'stages' or 'exits'"
            )
        return self


class ParamSpec(Spec):
    """A parameter of a workflow template."""

    type: Literal["string", "integer", "decimal", "boolean", "list", "duration"]
    required: bool = True
    default: Any = None
    description: Text = ""


class WorkflowTemplateSpec(DocumentSpec):
    """A reusable playbook: a workflow with parameters (`params.x` in expressions and text)."""

    kind: Literal["workflow_template"]
    name: Name
    params: dict[Name, ParamSpec] = Field(default_factory=dict)
    workflow: WorkflowBody


__all__ = ["Template", "WorkflowSpec", "WorkflowTemplateSpec"]
