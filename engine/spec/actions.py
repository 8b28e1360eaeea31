"""Actions: what a stage, alert, schedule or routing rule does (each a one-key mapping)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.spec.base import (
    DurationText,
    Expr,
    Name,
    Spec,
    Template,
    UserId,
    exactly_one,
    one_or_many,
)

RECIPIENT_HELP = (
    "role:<role>, user:<id>, team:<id>, owner, owner.manager, queue:<name>, field:<user field>, "
    "assignment:<named assignment> or user (the item of a `for_each: users` schedule)"
)
_RECIPIENT_KINDS = ("role", "user", "team", "queue", "field", "assignment")


def check_recipient(value: str) -> str:
    """Check a recipient reference like `role:manager` or `owner.manager`."""
    if value in {"owner", "owner.manager", "user"}:
        return value
    kind, sep, name = value.partition(":")
    if not sep or kind not in _RECIPIENT_KINDS or not name:
        raise ValueError(f"'{value}' is not a recipient ({RECIPIENT_HELP})")
    return value


class NotifyAction(Spec):
    """Send a notification (through the outbox) rendered from a template."""

    to: Annotated[list[str], one_or_many({"type": "string"})] = Field(
        description=f"Recipients: {RECIPIENT_HELP}."
    )
    template: Name = Field(description="A `kind: notification` template.")
    channel: Literal["log", "mailbox", "webhook"] | None = Field(
        default=None, description="Override the template's channel."
    )

    @field_validator("to", mode="before")
    @classmethod
    def _single(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("to")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        return [check_recipient(v) for v in value]


class CreateRecordAction(Spec):
    """Create a record of another entity; values are expressions over the current one."""

    entity: Name
    data: dict[Name, Expr] = Field(default_factory=dict)
    workflow: Name | None = Field(default=None, description="Start this workflow on it.")


class SetFieldsAction(Spec):
    """Set fields of the current record from expressions."""

    fields: dict[Name, Expr]


class AssignAction(Spec):
    """Assign the record: by a routing rule, to a user, or into a queue."""

    routing: Name | None = None
    user: UserId | None = None
    queue: Name | None = None
    as_: Name | None = Field(
        default=None, alias="as", description="A named assignment of the entity (default: owner)."
    )

    @model_validator(mode="after")
    def _one(self) -> AssignAction:
        if self.as_ is not None and not (self.user or self.queue or self.routing):
            return self  # `as` alone clears that named assignment
        exactly_one("assign", routing=self.routing, user=self.user, queue=self.queue)
        return self


class StartWorkflowAction(Spec):
    """Start a workflow on the current record."""

    workflow: Name


class WebhookAction(Spec):
    """Call an outside system (through the outbox, with retries and an idempotency key)."""

    url: str = Field(pattern=r"^https?://", description="http(s) URL; may use {{ }} placeholders.")
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Template | None = Field(default=None, description="JSON body template.")
    timeout: DurationText | None = None


class RecomputeForecastAction(Spec):
    """Recompute a forecast (F8) and keep its history."""

    forecast: Name


class SuggestAction(Spec):
    """Attach rows of a table to the record as suggestions (success cases P5, answers F5)."""

    table: Name
    where: Expr = Field(description="Expression over `row` (the table row) and the record.")
    limit: int = Field(default=5, ge=1, le=100)
    title: str = ""


class ActionSpec(Spec):
    """One action: a mapping with exactly one of the action keys."""

    model_config = Spec.model_config | {"json_schema_extra": {"minProperties": 1}}

    notify: NotifyAction | None = None
    create_record: CreateRecordAction | None = None
    set: SetFieldsAction | None = None
    assign: AssignAction | None = None
    start_workflow: StartWorkflowAction | None = None
    webhook: WebhookAction | None = None
    recompute_forecast: RecomputeForecastAction | None = None
    suggest: SuggestAction | None = None
    when: Expr | None = Field(default=None, description="Run only when this is true.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ActionSpec:
        chosen = [k for k in ACTION_KEYS if getattr(self, k) is not None]
        if len(chosen) != 1:
            keys = ", ".join(ACTION_KEYS)
            got = ", ".join(chosen) or "none"
            raise ValueError(f"an action has exactly one of: {keys} (got {got})")
        return self

    @property
    def name(self) -> str:
        """Return the action key, e.g. 'notify'."""
        return next(k for k in ACTION_KEYS if getattr(self, k) is not None)

    @property
    def body(self) -> Spec:
        """Return the chosen action's settings."""
        value: Spec = getattr(self, self.name)
        return value


ACTION_KEYS = (
    "notify",
    "create_record",
    "set",
    "assign",
    "start_workflow",
    "webhook",
    "recompute_forecast",
    "suggest",
)
