"""Signals over time: metrics, alerts, schedules, forecasts and notification templates."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from engine.spec.actions import ActionSpec
from engine.spec.base import (
    DocumentSpec,
    DurationText,
    Expr,
    Name,
    Spec,
    Template,
    Text,
    exactly_one,
)

MetricSource = Literal["records", "stage_history", "alerts"]
Measure = Literal["count", "count_distinct", "sum", "avg", "min", "max", "median", "p90"]


class MetricWindow(Spec):
    """Only rows whose time column lies within a span ending now (or `offset` ago).

    `{last: 30 days}` and `{last: 30 days, offset: 30 days}` give this month and the
    month before, so two metrics express month-over-month change (P13).
    """

    last: DurationText
    offset: DurationText | None = Field(default=None, description="End the span this long ago.")
    on: Name = Field(default="created_at", description="The time column to window on.")


class MetricSnapshot(Spec):
    """When the scheduler stores the metric's value (one row per group): `every` or `cron`."""

    every: DurationText | None = Field(default=None, description="Store it at this interval.")
    cron: str | None = Field(default=None, description="Or on this crontab (bundle's zone).")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value) if value is not None else None

    @model_validator(mode="after")
    def _one(self) -> MetricSnapshot:
        exactly_one("a snapshot", every=self.every, cron=self.cron)
        return self


class MetricSpec(DocumentSpec):
    """An aggregate computed by the store (P5 average dwell, P13 regional margin, P14 KPIs)."""

    kind: Literal["metric"]
    name: Name
    title: str = ""
    description: Text = ""
    source: MetricSource = "records"
    entity: Name | None = Field(default=None, description="records: the entity aggregated.")
    workflow: Name | None = Field(default=None, description="stage_history: the workflow.")
    measure: Measure
    of: Name | None = Field(default=None, description="The column measured (not for count).")
    where: dict[Name, Any] = Field(
        default_factory=dict, description="Equality filters: column -> value or list of values."
    )
    group_by: list[Name] = Field(default_factory=list)
    window: MetricWindow | None = None
    calendar: Name | None = Field(
        default=None,
        description="Measure durations (dwell_hours, response_hours) in working time of it.",
    )
    unit: str = ""
    kpi: bool = Field(default=False, description="Show it on the KPI board (P14).")
    snapshot: MetricSnapshot | None = Field(
        default=None, description="Store the value (per group) on this cadence."
    )
    keep: DurationText | None = Field(
        default=None, description="Delete stored snapshots older than this."
    )

    @model_validator(mode="after")
    def _check(self) -> MetricSpec:
        if self.keep is not None and self.snapshot is None:
            raise ValueError("'keep' says how long snapshots are kept: it needs 'snapshot'")
        if self.source == "records" and not self.entity:
            raise ValueError("a records metric needs 'entity'")
        if self.source == "stage_history" and not self.workflow:
            raise ValueError("a stage_history metric needs 'workflow'")
        if self.measure != "count" and not self.of:
            raise ValueError(f"the 'measure' {self.measure} needs 'of: <column>'")
        return self


class AlertSpec(DocumentSpec):
    """An alert rule: pending -> firing after `for`, resolved by `resolve_when` (P5, P13, F9)."""

    kind: Literal["alert"]
    name: Name
    title: str = ""
    description: Text = ""
    entity: Name | None = Field(default=None, description="Watch each record of this entity.")
    metric: Name | None = Field(default=None, description="Or watch each group of a metric.")
    when: Expr = Field(description="The alert condition.")
    resolve_when: Expr | None = Field(
        default=None, description="When it resolves (default: `when` no longer holds)."
    )
    for_: DurationText | None = Field(
        default=None, alias="for", description="How long `when` must hold before it fires."
    )
    severity: Literal["critical", "high", "warning", "info"] = "warning"
    dedup_key: Template | None = Field(default=None, description="Alerts with one key are one.")
    cooldown: DurationText | None = Field(default=None, description="Quiet time after resolve.")
    labels: dict[Name, str] = Field(default_factory=dict)
    actions: list[ActionSpec] = Field(default_factory=list, description="Run when it fires.")
    on_resolve: list[ActionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _subject(self) -> AlertSpec:
        exactly_one("an alert", entity=self.entity, metric=self.metric)
        return self


_CRON_FIELD = re.compile(
    r"^(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?(,(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?)*$"
)
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
)
_CRON_LABELS = ("minute", "hour", "day of month", "month", "day of week")


def check_cron(text: str) -> str:
    """Check a five-field crontab expression (minute hour day month weekday)."""
    parts = text.split()
    if len(parts) != 5:
        raise ValueError(
            f"'{text}' has {len(parts)} fields; cron takes 5: minute hour day month weekday"
        )
    for part, (low, high), names, label in zip(
        parts, _CRON_RANGES, _CRON_NAMES, _CRON_LABELS, strict=True
    ):
        if not _CRON_FIELD.match(part.lower()):
            raise ValueError(f"'{part}' is not a valid {label} field")
        for token in re.split(r"[,/-]", part.lower()):
            if token in ("*", "") or token in names:
                continue
            if not token.isdigit() or not low <= int(token) <= high:
                raise ValueError(f"'{token}' is out of range for {label} ({low}-{high})")
    return text


class ForEachUsers(Spec):
    """The users a per-user schedule runs for: those holding a role."""

    role: Name


class ForEach(Spec):
    """Run a schedule's actions once per item: each group of a metric, row, or user."""

    metric: Name | None = Field(default=None, description="Each group of this grouped metric.")
    table: Name | None = Field(default=None, description="Each row of this table.")
    users: ForEachUsers | None = Field(default=None, description="Each user with the role.")
    where: Expr | None = Field(default=None, description="Only the items where this holds.")

    @model_validator(mode="after")
    def _one(self) -> ForEach:
        exactly_one("for_each", metric=self.metric, table=self.table, users=self.users)
        return self

    @property
    def source(self) -> str:
        """Return which kind of item it runs over: metric, table or users."""
        return "metric" if self.metric else "table" if self.table else "users"


class ScheduleSpec(DocumentSpec):
    """Run actions on a cron or an interval (F8: every 72h), and say what a missed run does."""

    kind: Literal["schedule"]
    name: Name
    title: str = ""
    description: Text = ""
    every: DurationText | None = None
    cron: str | None = Field(default=None, description="Crontab: minute hour day month weekday.")
    missed: Literal["run_late", "mark_late", "skip"] = Field(
        default="run_late",
        description="A run that fell due while the server was down: run it once late, "
        "record it as missed without running, or skip silently.",
    )
    for_each: ForEach | None = Field(
        default=None, description="Run the actions once per group, row or user."
    )
    actions: list[ActionSpec] = Field(min_length=1)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value) if value is not None else None

    @model_validator(mode="after")
    def _one(self) -> ScheduleSpec:
        exactly_one("a schedule", every=self.every, cron=self.cron)
        return self


class ForecastSpec(DocumentSpec):
    """A weighted pipeline forecast (F8): stage weights x amount x seasonal coefficient."""

    kind: Literal["forecast"]
    name: Name
    title: str = ""
    description: Text = ""
    workflow: Name
    amount: Name = Field(description="Number field with the deal amount.")
    close_date: Name = Field(description="Date field with the expected close date.")
    horizon: DurationText = Field(description="How far ahead, e.g. '12 weeks'.")
    bucket: Literal["day", "week", "month"] = "week"
    seasonality: Name | None = Field(
        default=None, description="A range table with a `coefficient` column."
    )


class NotificationSpec(DocumentSpec):
    """A notification template (jinja2, sandboxed) and its default channel."""

    kind: Literal["notification"]
    name: Name
    channel: Literal["log", "mailbox", "webhook"] = "log"
    subject: Template
    body: Template
