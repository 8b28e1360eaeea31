"""The bundle manifest (`kind: bundle`) and reference tables (`kind: table`)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from engine.spec.base import (
    Date,
    DocumentSpec,
    Name,
    Roles,
    Spec,
    Text,
    UserId,
    one_or_many,
    read_dates,
)

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ColumnType = Literal["string", "integer", "decimal", "boolean", "date", "datetime", "list"]
INBOUND_SECRET_PREFIX = "SOPFLOW_INBOUND_SECRET_"
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_HOURS = re.compile(r"^(\d\d):(\d\d)-(\d\d):(\d\d)$")


def check_hours(item: str) -> str:
    """Check one working-hours range `HH:MM-HH:MM` of a day: 00:00 to 24:00 at most."""
    match = _HOURS.match(item.strip())
    if not match:
        raise ValueError(f"'{item}' is not a time range like '09:00-18:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59:
        raise ValueError(
            f"'{item}' is not a time range like '09:00-18:00' (hours 00-24, minutes 00-59)"
        )
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end > 24 * 60:
        raise ValueError(f"'{item}' ends after 24:00; a range ends at 24:00 at the latest")
    if start >= end:
        raise ValueError(f"'{item}' ends before it starts")
    return item


HoursRange = Annotated[str, AfterValidator(check_hours)]


class RoleSpec(Spec):
    """A role: a name for a set of permissions that users hold."""

    title: str = ""
    description: Text = ""


class Calendar(Spec):
    """Working time: which weekdays and hours count, and which dates are holidays."""

    weekdays: list[Weekday] = Field(
        default=["mon", "tue", "wed", "thu", "fri"],
        min_length=1,
        description="Days that have working hours.",
    )
    hours: Annotated[list[HoursRange], one_or_many({"type": "string"})] = Field(
        default=["09:00-18:00"],
        min_length=1,
        description="Working hours of a working day, e.g. ['09:00-12:00', '13:00-18:00'].",
    )
    holidays: list[Date] = Field(default_factory=list, description="Dates with no working hours.")
    holidays_table: Name | None = Field(
        default=None, description="A table with a `date` column listing more holidays."
    )

    @field_validator("hours", mode="before")
    @classmethod
    def _one_range(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class LeaveSpec(Spec):
    """A period a user is away (inclusive dates): routing skips them."""

    start: Date = Field(alias="from")
    end: Date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> LeaveSpec:
        if self.end < self.start:
            raise ValueError("leave ends before it starts")
        return self


class UserSpec(Spec):
    """A person: roles, manager, capacity and attributes declared in `user_fields`."""

    model_config = Spec.model_config | {"extra": "allow"}

    name: str = ""
    email: str = ""
    roles: Roles = Field(default_factory=list)
    teams: list[UserId] = Field(default_factory=list)
    manager: UserId | None = Field(default=None, description="The user this person reports to.")
    capacity: int | None = Field(default=None, ge=0, description="Open records they can hold.")
    calendar: Name | None = Field(default=None, description="Their working hours (a calendar).")
    leave: list[LeaveSpec] = Field(default_factory=list)
    active: bool = True


class TeamSpec(Spec):
    """A group of users (a seat group, a regional team) with attributes of its own."""

    title: str = ""
    members: list[UserId] = Field(default_factory=list)
    lead: UserId | None = None
    attributes: dict[Name, Any] = Field(default_factory=dict)


class QueueSpec(Spec):
    """A named work queue: where records wait when nobody may take them (visible, never lost)."""

    title: str = ""
    description: Text = ""
    visible_to: Roles = Field(default_factory=list)


class InboundSpec(Spec):
    """A system allowed to push records in (a signed webhook): which entity, which fields."""

    title: str = ""
    description: Text = ""
    entity: Name = Field(description="The entity its records are (the form needs a `key`).")
    fields: list[Name] = Field(
        min_length=1,
        description="The fields the sender may set; every field of the form's key among them.",
    )
    secret_env: str | None = Field(
        default=None,
        description="The environment variable holding the signing secret "
        "(default SOPFLOW_INBOUND_SECRET_<NAME in capitals>).",
    )

    def secret_variable(self, name: str) -> str:
        """Return the environment variable of the secret of the declaration called `name`."""
        return self.secret_env or INBOUND_SECRET_PREFIX + name.upper()


class UserFieldSpec(Spec):
    """The type of one user attribute, so routing rules can be checked."""

    type: Literal["string", "integer", "decimal", "boolean", "list", "enum", "multi_enum"]
    values: list[str] = Field(default_factory=list, description="Allowed values of an enum.")
    description: Text = ""


class TableSpec(Spec):
    """A reference table the analyst edits: typed columns, a key, rows."""

    title: str = ""
    description: Text = ""
    columns: dict[Name, ColumnType] = Field(description="Column names and their types.")
    key: list[Name] = Field(default_factory=list, description="Columns that identify a row.")
    range: Annotated[list[Name], Field(min_length=2, max_length=2)] | None = Field(
        default=None,
        description="[from, to] date columns: rows cover date ranges.",
    )
    rows: list[dict[str, Any]] = Field(default_factory=list)
    default: dict[str, Any] | None = Field(
        default=None,
        description="The row a lookup gives when no row fits (else the command is refused).",
    )

    @model_validator(mode="before")
    @classmethod
    def _dates_in_rows(cls, data: Any) -> Any:
        """Read quoted dates in date columns as dates, as date fields do."""
        if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
            return data
        columns, rows = data["columns"], data.get("rows")
        if isinstance(rows, list):
            rows = [
                {c: read_dates(columns.get(c), v) for c, v in row.items()}
                if isinstance(row, dict)
                else row
                for row in rows
            ]
            data = {**data, "rows": rows}
        default = data.get("default")
        if isinstance(default, dict):
            data = {
                **data,
                "default": {c: read_dates(columns.get(c), v) for c, v in default.items()},
            }
        return data


class TableDocument(TableSpec, DocumentSpec):
    """A reference table in a file of its own (`kind: table`)."""

    kind: Literal["table"]
    name: Name


class AccessSpec(Spec):
    """Who may use the bundle-wide parts of the server (F12). Records follow their forms."""

    definitions: Roles = Field(
        default_factory=list,
        description="Roles that may validate uploaded bundles and reload the definitions.",
    )
    users: Roles = Field(
        default_factory=list, description="Roles that may manage API tokens and API users."
    )
    alerts: Roles | None = Field(
        default=None, description="Roles that see, acknowledge and rate alerts (default: all)."
    )
    metrics: Roles | None = Field(
        default=None, description="Roles that read metrics, funnels and forecasts (default: all)."
    )
    schedules: Roles | None = Field(
        default=None,
        description="Roles that see schedules, their last runs and next run (default: all).",
    )


class StaffDocument(DocumentSpec):
    """Users and teams in a file of their own (`kind: staff`), merged into the manifest.

    Each user and team is written exactly as under the manifest's `users:` and `teams:`;
    an id declared twice (in two staff files, or here and in the manifest) is an error.
    """

    kind: Literal["staff"]
    title: str = ""
    description: Text = ""
    users: dict[UserId, UserSpec] = Field(default_factory=dict)
    teams: dict[UserId, TeamSpec] = Field(default_factory=dict)


class BundleManifest(DocumentSpec):
    """The bundle manifest (`kind: bundle`): who works here, when, and shared reference data."""

    kind: Literal["bundle"]
    name: UserId
    title: str = ""
    description: Text = ""
    timezone: str = Field(description="IANA time zone the business runs in, e.g. Asia/Shanghai.")
    calendars: dict[Name, Calendar] = Field(default_factory=dict)
    roles: Annotated[
        dict[UserId, RoleSpec],
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "object", "additionalProperties": RoleSpec.model_json_schema()},
                    {"type": "array", "items": {"type": "string"}},
                ]
            }
        ),
    ] = Field(description="Every role; a list of names also works.")
    user_fields: dict[Name, UserFieldSpec] = Field(default_factory=dict)
    users: dict[UserId, UserSpec] = Field(default_factory=dict)
    teams: dict[UserId, TeamSpec] = Field(default_factory=dict)
    queues: dict[Name, QueueSpec] = Field(default_factory=dict)
    inbound: dict[Name, InboundSpec] = Field(
        default_factory=dict,
        description="Systems that may push records in by signed webhook, by name.",
    )
    tables: dict[Name, TableSpec] = Field(default_factory=dict)
    access: AccessSpec = Field(default_factory=AccessSpec)

    @field_validator("roles", mode="before")
    @classmethod
    def _role_list(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {v: {} for v in value}
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone like 'Asia/Shanghai'") from None
        return value
