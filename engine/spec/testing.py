"""The spec of definition tests (`kind: test`): what `sopflow test` runs against a bundle.

A test document is one case: users and their state, then steps run in order through the
real runtime on a throwaway database with a fake clock. A step does one thing (create,
ingest, receive, import_legacy, update, move, attach, assign, acknowledge, feedback, tick,
complete, approve, reject, send_back) or
checks what is true at that moment (`expect`). Records get a test-local name (`as: L1`)
that later steps and checks refer to.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from engine.spec.base import DocumentSpec, Name, Spec, Text, UserId, exactly_one
from engine.spec.manifest import LeaveSpec
from engine.testkind import TEST_KIND, is_test

# When a step happens or a check looks: `2026-01-05 09:00` (the bundle's time zone), an
# ISO time with an offset (`2026-01-05T09:00:00+08:00`, `...Z`) or a date (its midnight).
When = Annotated[
    dt.datetime | dt.date | str,
    Field(description="A time: '2026-01-05 09:00' (bundle time zone), with an offset, or a date."),
]
Alias = Annotated[
    str,
    Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=64, description="A record's test name."),
]
Scalar = str | int | float | bool | None


class UserState(Spec):
    """How one of the bundle's users stands during the test (overrides the manifest)."""

    leave: list[LeaveSpec] | None = Field(default=None, description="Leave periods instead.")
    active: bool | None = Field(default=None, description="Whether the user takes work.")
    capacity: int | None = Field(default=None, ge=0, description="Open records they may hold.")
    calendar: Name | None = Field(default=None, description="Their working hours (a calendar).")
    load: int | None = Field(default=None, ge=0, description="Open records they hold at start.")
    roles: list[UserId] | None = Field(default=None, description="Their roles instead.")


class CreateStep(Spec):
    """Create a record (or, under `ingest`, create or merge it by the form's key)."""

    entity: Name
    as_: Alias | None = Field(default=None, alias="as", description="The record's test name.")
    data: dict[str, Any] = Field(default_factory=dict)
    workflow: Name | None = None


class ReceiveStep(Spec):
    """Take a push of an inbound declaration (its signature held), as `Runtime.receive` does."""

    inbound: Name = Field(description="The name of the inbound declaration of the manifest.")
    as_: Alias | None = Field(default=None, alias="as", description="The record's test name.")
    data: dict[str, Any] = Field(default_factory=dict)


class ImportStep(Spec):
    """Keep a record as an older schema stored it (P12), as `Runtime.import_legacy` does."""

    entity: Name
    as_: Alias | None = Field(default=None, alias="as", description="The record's test name.")
    data: dict[str, Any] = Field(default_factory=dict)
    schema_version: int = Field(ge=1, description="The schema version it was stored under.")


class UpdateStep(Spec):
    """Change fields of a record."""

    record: Alias
    data: dict[str, Any]


class MoveStep(Spec):
    """Move a record to a stage or exit."""

    record: Alias
    to: Name


class AttachStep(Spec):
    """Attach a file to a record as evidence of a kind."""

    record: Alias
    kind: Name
    type: str = Field(default="application/octet-stream", description="Declared media type.")
    content: str = Field(default="", max_length=100_000, description="The file's text.")
    file_name: str | None = Field(default=None, max_length=255)


class CompleteStep(Spec):
    """Complete a branch of the record's stage (docs/language.md, "Branches and approvals")."""

    record: Alias
    branch: Name
    comment: Text = ""


class DecideStep(Spec):
    """Approve or reject the record's approval, as an approver or for one on leave."""

    record: Alias
    comment: Text = ""
    for_: UserId | None = Field(
        default=None, alias="for", description="The approver on leave this vote is cast for."
    )


class SendBackStep(DecideStep):
    """Send the record back to an earlier stage its approval names."""

    to: Name


class AssignStep(Spec):
    """Give a record to a user or a queue, or route it by a routing rule."""

    record: Alias
    user: UserId | None = None
    queue: Name | None = None
    routing: Name | None = None
    as_: Name | None = Field(
        default=None, alias="as", description="A named assignment of the entity (default: owner)."
    )

    @model_validator(mode="after")
    def _one_target(self) -> AssignStep:
        if self.as_ is not None and not (self.user or self.queue or self.routing):
            return self  # `as` alone clears that named assignment
        exactly_one("assign", user=self.user, queue=self.queue, routing=self.routing)
        return self


class AlertStep(Spec):
    """Acknowledge an alert, or give feedback on it (F10)."""

    rule: Name
    record: Alias | None = None
    verdict: Literal["useful", "false_positive"] | None = None
    note: Text = ""


class TickStep(Spec):
    """Let time pass to `to` (or by `after`), firing what falls due on the way."""

    to: When | None = None
    after: str | None = Field(default=None, description="A duration: '72h', '3 days'.")
    every: str | None = Field(default=None, description="Also tick at this interval on the way.")

    @model_validator(mode="after")
    def _one_end(self) -> TickStep:
        exactly_one("tick", to=self.to, after=self.after)
        return self


class ReloadStep(Spec):
    """Apply the bundle again with some files replaced, as a reload does (issue 11)."""

    files: dict[str, str] = Field(
        default_factory=dict,
        description="Bundle file -> the file (both under the bundle folder) that replaces it, "
        "e.g. {rules/scoring.yaml: .next/scoring.yaml}; a hidden folder is not compiled. "
        "Each reload starts from the bundle as it is: `files: {}` goes back to it.",
    )
    batches: int | None = Field(
        default=None, ge=0, description="Re-evaluation batches to run (default: until done)."
    )


class ProblemExpect(Spec):
    """One problem a refusal is expected to list."""

    code: str | None = None
    message: str | None = None
    contains: str | None = None
    field: str | None = None
    rule: str | None = None


class RefusalExpect(Spec):
    """The step is expected to be refused (or rejected): how."""

    status: Literal["refused", "invalid", "forbidden", "not_found", "conflict"] | None = None
    message: str | None = None
    contains: str | None = None
    codes: list[str] | None = Field(default=None, description="Exactly these problem codes.")
    problems: list[ProblemExpect] = Field(default_factory=list)


class ScoreExpect(Spec):
    """A record's score by one model, and each feature's contribution."""

    model: Name | None = None
    value: float | None = None
    features: dict[str, float | None] = Field(default_factory=dict)


class RoutingExpect(Spec):
    """Who a record was routed to (or which queue) and why."""

    rule: Name | None = None
    owner: UserId | None = None
    queue: Name | None = None
    reason: str | None = None
    contains: str | None = None
    candidates: dict[str, str] = Field(
        default_factory=dict, description="user -> 'eligible', or a word of why they lost."
    )


class AlertExpect(Spec):
    """The state of an alert rule's alert (for one record, or the rule's only one)."""

    rule: Name
    record: Alias | None = None
    state: Literal["pending", "firing", "resolved", "none"]
    count: int | None = Field(default=None, ge=0)
    values: dict[str, Any] = Field(default_factory=dict)
    acknowledged: bool | None = None
    feedback: str | None = None
    severity: str | None = None
    labels: dict[str, str] | None = None


class PrecisionExpect(Spec):
    """An alert rule's precision from the feedback on its alerts (F10)."""

    rule: Name
    fired: int | None = Field(default=None, ge=0, description="Its alerts that fired.")
    judged: int | None = Field(default=None, ge=0, description="Of those, the ones judged.")
    useful: int | None = Field(default=None, ge=0, description="Judged useful.")
    false_positive: int | None = Field(default=None, ge=0, description="Judged false positives.")
    value: float | None = Field(
        default=None, ge=0, le=1, description="useful / judged (null: none judged yet)."
    )


class NotificationExpect(Spec):
    """Notifications queued so far: who, which template, what they say."""

    template: Name | None = None
    to: UserId | None = None
    record: Alias | None = None
    subject: str | None = None
    body: str | None = None
    contains: str | None = None
    channel: str | None = None
    at: When | None = Field(default=None, description="When it was queued.")
    count: int | None = Field(default=None, ge=0, description="Exactly this many (default >= 1).")


class OutboxExpect(Spec):
    """Other effects queued so far (webhooks, suggestions): matched on their payload."""

    action: str
    record: Alias | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    at: When | None = Field(default=None, description="When it was queued.")
    count: int | None = Field(default=None, ge=0)


class MetricExpect(Spec):
    """A metric's (or KPI's) value now, overall or for one group."""

    name: Name
    group: dict[str, Scalar] = Field(default_factory=dict)
    value: float | None = None
    count: int | None = None
    unit: str | None = None
    kpi: bool | None = None


class ForecastExpect(Spec):
    """A forecast computed now (F8)."""

    name: Name
    expected: float | None = None
    weighted: float | None = None
    pipeline: float | None = None
    open_records: int | None = None
    buckets: list[dict[str, Any]] | None = None


class ScheduleExpect(Spec):
    """A schedule's runs so far."""

    name: Name
    runs: int | None = Field(default=None, ge=0)
    late: int | None = Field(default=None, ge=0)
    failed: int | None = Field(default=None, ge=0)
    items_ran: int | None = Field(
        default=None, ge=0, description="for_each: items whose actions ran, over all runs."
    )
    items_failed: int | None = Field(
        default=None, ge=0, description="for_each: items that failed, over all runs."
    )


class SnapshotExpect(Spec):
    """The stored snapshots of a metric (one group, or all of them)."""

    metric: Name
    group: dict[str, Scalar] = Field(default_factory=dict)
    count: int | None = Field(default=None, ge=0, description="How many are stored.")
    latest: float | None = Field(default=None, description="The newest one's value.")
    at: When | None = Field(default=None, description="When the newest was taken.")


class QueueExpect(Spec):
    """The records waiting in a queue."""

    name: Name
    records: list[Alias]


class LoadExpect(Spec):
    """A user's open-work load."""

    user: UserId
    value: int


class GuideExpect(Spec):
    """What a person sees beside a record: its layout and its stage's guide (P7)."""

    record: Alias
    by: UserId | None = Field(default=None, description="Whose view (default: the actor).")
    name: Scalar | None = None
    entity_title: str | None = None
    workflow_title: str | None = None
    stage: str | None = None
    stage_title: str | None = None
    guidance: str | None = None
    knowledge: dict[str, int | str] = Field(
        default_factory=dict, description="link title -> rows it picks, or its url."
    )
    insights: dict[str, Any] = Field(default_factory=dict, description="title -> value.")
    knowledge_rows: dict[str, list[dict[str, Any]]] = Field(
        default_factory=dict,
        description="link title -> the rows it picks, in order (only the columns given).",
    )
    evidence: dict[str, str] = Field(
        default_factory=dict, description="kind -> 'Title: attached/min'."
    )
    path: dict[str, str] = Field(default_factory=dict, description="stage -> 'Title: state'.")
    why: dict[str, str | None] = Field(
        default_factory=dict,
        description="stage -> why it applies or is skipped ('condition: values'; null: "
        "it has no condition).",
    )
    moves: list[str] | None = None
    branches: dict[str, str] = Field(
        default_factory=dict, description="branch -> complete, open or not_applicable."
    )
    approval: str | None = Field(
        default=None,
        description="The approval's state and count: 'pending 1/2', 'approved 2/2', "
        "'unassigned 0/1'.",
    )
    layout: dict[str, list[str]] | None = Field(
        default=None, description="tab -> field titles ('Section / Field' inside sections)."
    )


class Expectations(Spec):
    """What a check step asserts; each key is checked and reported on its own."""

    record: Alias | None = None
    stage: str | None = None
    status: str | None = None
    workflow: str | None = None
    owner: str | None = None
    queue: str | None = None
    read_only: bool | None = None
    exists: bool | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    score: ScoreExpect | None = None
    routing: RoutingExpect | None = None
    evidence: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] | None = None
    events: dict[str, int] = Field(default_factory=dict)
    decisions: dict[str, str] = Field(default_factory=dict)
    alerts: list[AlertExpect] = Field(default_factory=list)
    precision: list[PrecisionExpect] = Field(default_factory=list)
    notifications: list[NotificationExpect] = Field(default_factory=list)
    outbox: list[OutboxExpect] = Field(default_factory=list)
    metrics: list[MetricExpect] = Field(default_factory=list)
    forecasts: list[ForecastExpect] = Field(default_factory=list)
    schedules: list[ScheduleExpect] = Field(default_factory=list)
    snapshots: list[SnapshotExpect] = Field(default_factory=list)
    queues: list[QueueExpect] = Field(default_factory=list)
    loads: list[LoadExpect] = Field(default_factory=list)
    late_timers: int | None = Field(default=None, ge=0, description="Timers fired late so far.")
    may: dict[UserId, dict[str, bool]] = Field(
        default_factory=dict,
        description="user -> {what: allowed}: a server part (alerts, ...) or read:<entity>...",
    )
    guide: GuideExpect | None = None
    # Named assignments and row-level access of the record (form `assignments`, `rows`).
    assignments: dict[Name, str | None] = Field(
        default_factory=dict,
        description="assignment -> its holder, 'queue:<name>' while it waits, or null.",
    )
    sees: dict[UserId, bool] = Field(
        default_factory=dict,
        description="user -> whether their row-level access (permissions.rows) shows the record.",
    )
    catalog: dict[str, str] = Field(
        default_factory=dict, description="'kind.name.path.title' -> the text people read."
    )

    @model_validator(mode="after")
    def _record_named(self) -> Expectations:
        per_record = ("stage", "status", "workflow", "owner", "queue", "read_only", "exists")
        needs = [k for k in per_record if getattr(self, k) is not None]
        needs += [
            k
            for k in ("fields", "evidence", "events", "decisions", "assignments", "sees")
            if getattr(self, k)
        ]
        needs += [k for k in ("score", "routing", "warnings") if getattr(self, k) is not None]
        if needs and self.record is None:
            raise ValueError(f"'{needs[0]}' is about a record: say which with 'record:'")
        return self


def _tick_may_be_a_time(schema: dict[str, Any]) -> None:
    """Let editors accept `tick: 2026-01-08 09:00` (the model reads it as `{to: ...}`)."""
    tick = schema.get("properties", {}).get("tick")
    if isinstance(tick, dict):
        schema["properties"]["tick"] = {"anyOf": [tick, {"type": "string"}]}


class Step(Spec):
    """One step of a test: an action, a check, or both (the check runs after the action)."""

    model_config = ConfigDict(**Spec.model_config, json_schema_extra=_tick_may_be_a_time)

    at: When | None = Field(default=None, description="Set the clock to this time first.")
    by: UserId | None = Field(default=None, description="Who acts (default: the test's actor).")
    create: CreateStep | None = None
    ingest: CreateStep | None = None
    receive: ReceiveStep | None = None
    import_legacy: ImportStep | None = None
    update: UpdateStep | None = None
    move: MoveStep | None = None
    attach: AttachStep | None = None
    assign: AssignStep | None = None
    acknowledge: AlertStep | None = None
    feedback: AlertStep | None = None
    tick: TickStep | None = None
    reload: ReloadStep | None = None
    # branches and approvals (runtime/approvals.py)
    complete: CompleteStep | None = None
    approve: DecideStep | None = None
    reject: DecideStep | None = None
    send_back: SendBackStep | None = None
    refused: RefusalExpect | None = None
    expect: Expectations | None = None

    @field_validator("tick", mode="before")
    @classmethod
    def _bare_time(cls, value: Any) -> Any:
        """Read `tick: 2026-01-08 09:00` as `tick: {to: 2026-01-08 09:00}`."""
        return value if value is None or isinstance(value, dict) else {"to": value}

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [k for k in ACTIONS if getattr(self, k) is not None]
        if len(actions) > 1:
            raise ValueError(f"a step does one thing; this one has {', '.join(actions)}")
        if not actions and self.expect is None and self.at is None:
            raise ValueError(f"a step needs one of: {', '.join(ACTIONS)}, or 'expect'")
        if self.refused is not None and not actions:
            raise ValueError("'refused' needs an action to refuse")
        if self.feedback is not None and self.feedback.verdict is None:
            raise ValueError("'feedback' needs a 'verdict': useful or false_positive")
        return self


ACTIONS: tuple[str, ...] = (
    "create",
    "ingest",
    "receive",
    "import_legacy",
    "update",
    "move",
    "attach",
    "assign",
    "acknowledge",
    "feedback",
    "tick",
    "reload",
    "complete",
    "approve",
    "reject",
    "send_back",
)


class TestSpec(DocumentSpec):
    """One definition test case: `kind: test`."""

    __test__ = False  # not a pytest test class

    kind: Literal["test"]
    name: Annotated[str, Field(min_length=1, max_length=200, description="What the case shows.")]
    description: Text = ""
    start: When | None = Field(default=None, description="The clock's start (default Mon 09:00).")
    by: UserId | None = Field(default=None, description="Who acts when a step does not say.")
    users: dict[UserId, UserState] = Field(default_factory=dict)
    covers: list[str] = Field(
        default_factory=list,
        description="Language keys whose effect the case shows, as 'Model.key' (conformance).",
    )
    steps: list[Step] = Field(min_length=1)


__all__ = ["ACTIONS", "TEST_KIND", "Expectations", "Step", "TestSpec", "UserState", "is_test"]
