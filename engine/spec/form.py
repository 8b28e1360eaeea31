"""Forms (`kind: form`): an entity's typed fields, identity, layout, permissions, evolution."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from engine.spec.base import (
    Date,
    DocumentSpec,
    DurationText,
    Expr,
    Name,
    Roles,
    Spec,
    Text,
    exactly_one,
    read_dates,
)

FieldType = Literal[
    "string",
    "text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "enum",
    "multi_enum",
    "ref",
    "list",
    "evidence",
    "phone",
    "address",
    "email",
]
ItemType = Literal["string", "integer", "decimal", "boolean", "date", "datetime", "enum", "ref"]
SimpleNormalizer = Literal["trim", "lower", "upper", "collapse_spaces", "digits_only"]
NUMERIC = {"integer", "decimal"}
TEXTUAL = {"string", "text", "phone", "address", "email"}

# Which optional keys make sense for which field types (the rest are errors).
_APPLIES: dict[str, set[str]] = {
    "values": {"enum", "multi_enum", "list"},
    "values_from": {"enum", "multi_enum"},
    "to": {"ref", "list"},
    "of": {"list"},
    "min": NUMERIC | {"date", "datetime"},
    "max": NUMERIC | {"date", "datetime"},
    "min_length": TEXTUAL | {"list", "multi_enum"},
    "max_length": TEXTUAL | {"list", "multi_enum"},
    "pattern": TEXTUAL,
    "normalize": TEXTUAL | {"enum"},
    "accept": {"evidence"},
    "precision": {"decimal"},
}


class CanonicalMap(Spec):
    """Map spellings to one canonical value with a reference table (P11)."""

    table: Name = Field(description="Table whose rows list a variant and its canonical form.")
    match: Name = Field(default="variant", description="Column holding the spelling to match.")
    to: Name = Field(default="canonical", description="Column holding the canonical value.")
    unmatched: Literal["keep", "reject"] = Field(
        default="keep", description="What happens to a value the table does not list."
    )


class NormalizerSpec(Spec):
    """One normalisation step: a named one (trim, lower, ...) or a canonical mapping."""

    canonical: CanonicalMap | None = None
    replace: dict[str, str] | None = Field(default=None, description="Literal text replacements.")

    @model_validator(mode="after")
    def _one(self) -> NormalizerSpec:
        exactly_one("a normaliser step", canonical=self.canonical, replace=self.replace)
        return self


class FieldSpec(Spec):
    """One field of an entity: its type, constraints, defaults and who may see or change it."""

    type: FieldType
    title: str = ""
    description: Text = ""
    required: bool = False
    default: Any = None
    computed: Expr | None = Field(default=None, description="Expression that sets the value.")
    values: list[str] | None = Field(default=None, description="Allowed values of an enum.")
    values_from: str | None = Field(
        default=None, description="Enum values from a table column: 'table.column'."
    )
    to: Name | None = Field(default=None, description="The entity a ref points to.")
    of: ItemType | None = Field(default=None, description="Item type of a list.")
    min: float | dt.datetime | Date | str | None = None
    max: float | dt.datetime | Date | str | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    pattern: str | None = Field(default=None, description="Regular expression the text must match.")
    precision: int | None = Field(default=None, ge=0, le=12)
    unique: bool = False
    index: bool = False
    normalize: list[SimpleNormalizer | NormalizerSpec] = Field(default_factory=list)
    accept: list[str] = Field(default_factory=list, description="Media types of an evidence field.")
    read: Roles | None = Field(default=None, description="Roles that may see it (default: all).")
    write: Roles | None = Field(default=None, description="Roles that may change it.")
    since: int = Field(default=1, ge=1, description="Schema version that added this field.")
    on_ingest: Literal["replace", "keep", "append"] = Field(
        default="replace",
        description="What an ingest merging into a stored record does with a value given: "
        "replace the stored one, keep a stored one, or append its items to a stored list.",
    )
    # -- definition migrations (docs/language.md "Changing definitions safely") --
    renamed_from: Name | None = Field(
        default=None,
        description="The field's earlier name: stored values move to this name on reload.",
    )

    @model_validator(mode="before")
    @classmethod
    def _dated_values(cls, data: Any) -> Any:
        """Read quoted `default`, `min` and `max` of date and datetime fields as dates."""
        if not isinstance(data, dict):
            return data
        kind = data.get("of") if data.get("type") == "list" else data.get("type")
        return {
            k: read_dates(kind, v) if k in ("default", "min", "max") else v for k, v in data.items()
        }

    @model_validator(mode="after")
    def _fits_type(self) -> FieldSpec:
        for key, types in _APPLIES.items():
            if getattr(self, key) not in (None, [], {}) and self.type not in types:
                allowed = ", ".join(sorted(types))
                raise ValueError(f"'{key}' does not apply to {self.type} fields (only: {allowed})")
        if self.type == "evidence" and (
            self.required or self.computed or self.default not in (None, [])
        ):
            raise ValueError(
                "an evidence field is filled by attaching files of its kind, so it takes no "
                "'required', 'default' or 'computed' (to need it, list it in a stage's 'require')"
            )
        if self.type in {"enum", "multi_enum"} and not (self.values or self.values_from):
            raise ValueError(f"an {self.type} field needs 'values' or 'values_from'")
        if self.values and self.values_from:
            raise ValueError("a field takes 'values' or 'values_from', not both")
        if self.type == "ref" and not self.to:
            raise ValueError("a ref field needs 'to: <entity>'")
        if self.type == "list" and self.of is None:
            raise ValueError("a list field needs 'of: <item type>'")
        if self.computed and (self.required or self.default is not None):
            raise ValueError("a computed field cannot also be required or have a default")
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if isinstance(value, dt.datetime) and self.type != "datetime":
                raise ValueError(f"'{bound}' of a {self.type} field cannot have a time of day")
        return self

    @field_validator("values_from")
    @classmethod
    def _table_column(cls, value: str | None) -> str | None:
        if value is not None and value.count(".") != 1:
            raise ValueError(f"'{value}' is not 'table.column'")
        return value


class LayoutSection(Spec):
    """A titled group of fields inside a tab."""

    section: str
    fields: list[Name]


class LayoutTab(Spec):
    """A tab of the form (P9): fields directly, or sections of fields."""

    tab: str
    roles: Roles | None = Field(default=None, description="Roles that see this tab.")
    fields: list[Name] = Field(default_factory=list)
    sections: list[LayoutSection] = Field(default_factory=list)


class LegacyPolicy(Spec):
    """How records stored under an older schema version are treated (P12)."""

    policy: Literal["read_only_if_invalid", "editable", "reject"] = Field(
        default="read_only_if_invalid",
        description="read_only_if_invalid: readable, locked until fixed; editable: "
        "kept and editable; reject: refuse to load them.",
    )
    note: Text = ""


RowAccess = Literal["assigned", "team", "all"]


class Permissions(Spec):
    """Who may do what with records of this entity (default: every role)."""

    create: Roles | None = None
    read: Roles | None = None
    write: Roles | None = None
    delete: Roles | None = None
    rows: dict[str, RowAccess] | None = Field(
        default=None,
        description="Which records each role reads and changes: assigned (the owner or a named "
        "assignment is them), team (an owner or assignee is in a team they lead or reports to "
        "them) or all. A role not listed sees all rows it may read.",
    )


class AssignmentMoment(Spec):
    """When a named assignment is filled: on entering a stage, or when a condition turns true."""

    entering: Name | None = Field(default=None, description="A stage id of the entity.")
    when: Expr | None = Field(
        default=None, description="Filled the first time this turns true (checked on changes)."
    )

    @model_validator(mode="after")
    def _one(self) -> AssignmentMoment:
        exactly_one("an assignment's 'at'", entering=self.entering, when=self.when)
        return self


class AssignmentSpec(Spec):
    """A person beside the owner (reviewer, approver, ...), filled by a routing rule or by hand."""

    title: str = ""
    routing: Name | None = Field(
        default=None, description="The `kind: routing` rule that fills it (none: set by hand)."
    )
    at: Literal["created"] | AssignmentMoment | None = Field(
        default=None,
        description="When the routing rule fills it: created (default), {entering: <stage>} "
        "or {when: <expression>}.",
    )
    not_same_as: list[Name] = Field(
        default_factory=list,
        description="Other assignments whose holders routing skips for this one.",
    )

    @model_validator(mode="after")
    def _routed(self) -> AssignmentSpec:
        if self.routing is None and (self.at is not None or self.not_same_as):
            raise ValueError(
                "'at' and 'not_same_as' say how a routing rule fills an assignment; "
                "give it 'routing' (without one it is set by hand)"
            )
        return self


class LoadSpec(Spec):
    """When an owned, open record counts as open work of its owner (routing capacity)."""

    counts_while: Expr | None = Field(
        default=None, description="The record counts only while this holds (checked on changes)."
    )
    for_: DurationText | None = Field(
        default=None,
        alias="for",
        description="The record counts at most this long after each assignment (a timer).",
    )

    @model_validator(mode="after")
    def _some(self) -> LoadSpec:
        if self.counts_while is None and self.for_ is None:
            raise ValueError("load needs 'counts_while', 'for' or both")
        return self


_REMOVED_SCHEMA = WithJsonSchema(
    {
        "anyOf": [
            {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"note": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
            {"type": "array", "items": {"type": "string"}},
        ]
    }
)


class RemovedField(Spec):
    """A field that held data and is gone: its values move into each record's history."""

    note: Text = Field(default="", description="Why it went (kept with each history entry).")


class FormSpec(DocumentSpec):
    """An entity and its form: the fields a record holds and how it is shown."""

    kind: Literal["form"]
    entity: Name
    title: str = ""
    description: Text = ""
    key: list[Name] = Field(
        default_factory=list, description="Fields whose values identify a record (P1 dedup)."
    )
    title_field: Name | None = None
    schema_version: int = Field(default=1, ge=1, description="Current version of this schema.")
    legacy: LegacyPolicy = Field(default_factory=LegacyPolicy)
    fields: dict[Name, FieldSpec]
    layout: list[LayoutTab] = Field(default_factory=list)
    permissions: Permissions = Field(default_factory=Permissions)
    assignments: dict[Name, AssignmentSpec] = Field(
        default_factory=dict,
        description="Named assignments beside the owner (reviewer, approver, ...).",
    )
    load: LoadSpec | None = Field(
        default=None,
        description="When an owned record stops counting toward its owner's load "
        "(default: while it is open).",
    )
    # -- definition migrations (docs/language.md "Changing definitions safely") --
    renamed_from: Name | None = Field(
        default=None, description="The entity's earlier name: its records take the new name."
    )
    removed_fields: Annotated[dict[Name, RemovedField], _REMOVED_SCHEMA] = Field(
        default_factory=dict,
        description="Fields that held data and are gone (a map, or a list of names): each "
        "stored value moves into its record's history.",
    )

    @field_validator("removed_fields", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {name: {} for name in value}
        return value
