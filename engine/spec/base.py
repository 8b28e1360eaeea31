"""Building blocks shared by every spec model: the base class, names, durations, expressions."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

LANGUAGE_VERSION = 1


class Spec(BaseModel):
    """Base of every spec model: immutable, strict about unknown keys."""

    # strict: YAML already types its scalars, so 'yes' or '40' in quotes stay text and a
    # `required: yes` is an error rather than a silent true (docs/decisions.md).
    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, strict=True, allow_inf_nan=False
    )


class DocumentSpec(Spec):
    """Base of a top-level definition document: every file says what it is and its version."""

    version: Annotated[int, Field(description="Language version of this file; sopflow reads 1.")]


Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64),
    Field(description="A snake_case identifier: lower-case letters, digits and '_'."),
]
UserId = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=64),
    Field(description="A user, team or role id: lower-case letters, digits, '.', '-' and '_'."),
]
Expr = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4000),
    Field(description="A sopflow expression (see docs/expressions.md)."),
]
Template = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20000),
    Field(description="Text with {{ placeholders }} (a jinja2 template)."),
]
Text = Annotated[str, StringConstraints(max_length=20000)]

_UNIT_SECONDS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 604800,
    "week": 604800,
    "weeks": 604800,
}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?\s*([Ww]orking\s+)?[A-Za-z]+\s*)+$"


@dataclass(frozen=True)
class Duration:
    """A span of time written like `72h`, `14 days`, `1h30m` or `2 working days`."""

    seconds: float
    working: bool
    text: str

    def __str__(self) -> str:
        return self.text


def duration_parts(text: str) -> list[tuple[float, int]]:
    """Split duration text into (amount, seconds per unit) parts: '1h30m' -> [(1, 3600), (30, 60)].

    The word 'working' is ignored here; raise ValueError when the text is not a duration.
    """
    body = re.sub(r"\bworking\b", "", text.lower())
    parts: list[tuple[float, int]] = []
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if not match or match.end() == pos:
            raise ValueError(f"'{text}' is not a duration; write e.g. '72h', '14 days', '1h30m'")
        unit = match.group(2)
        if unit not in _UNIT_SECONDS:
            units = "s, m, h, d, w, minutes, hours, days, weeks"
            raise ValueError(f"unknown time unit '{unit}' in '{text}' (units: {units})")
        parts.append((float(match.group(1)), _UNIT_SECONDS[unit]))
        pos = match.end()
    return parts


def parse_duration(value: Any) -> Duration:
    """Parse `72h`, `14 days`, `2 working days` or `1h30m` into a Duration."""
    if isinstance(value, Duration):
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("a duration is text like '72h', '14 days' or '2 working days'")
    text = str(value).strip()
    if isinstance(value, int):
        raise ValueError(f"'{text}' has no unit; write e.g. '{text}h' or '{text} days'")
    working = " working " in f" {text.lower()} "
    seconds = sum(amount * unit for amount, unit in duration_parts(text))
    if seconds <= 0:
        raise ValueError(f"'{text}' must be longer than zero")
    return Duration(seconds, working, text)


DurationText = Annotated[
    Duration,
    PlainValidator(parse_duration),
    PlainSerializer(lambda d: d.text, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: '72h', '14 days', '1h30m', '2 working days'.",
            "examples": ["72h", "14 days", "2 working days"],
        }
    ),
]

# Dates may be written bare (YAML reads a date) or quoted ('2026-01-31').
Date = Annotated[dt.date, Strict(False)]


def read_dates(kind: object, value: Any) -> Any:
    """Read ISO text (or a list of it) as a date if `kind` is 'date' or 'datetime'.

    A datetime with an offset (`Z`, `+08:00`, in text or as YAML wrote it) is read as
    the naive UTC datetime the runtime works with; a naive one already means UTC.
    Anything else, and text that is not a valid date, is left for the checks to report.
    """
    read = {"date": dt.date.fromisoformat, "datetime": dt.datetime.fromisoformat}.get(
        kind if isinstance(kind, str) else ""
    )
    if read is None:
        return value
    if isinstance(value, list):
        return [read_dates(kind, v) for v in value]
    if isinstance(value, str):
        try:
            value = read(value)
        except ValueError:
            return value
    if kind == "datetime" and isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


Roles = Annotated[list[UserId], Field(description="Role ids declared in the bundle manifest.")]


def exactly_one(what: str, **given: object) -> None:
    """Raise a clear error unless exactly one of the named keys has a value."""
    present = [k for k, v in given.items() if v not in (None, [], {})]
    keys = [f"'{k}'" for k in given]
    names = ", ".join(keys[:-1]) + f" or {keys[-1]}"
    if not present:
        raise ValueError(f"{what} needs {names}")
    if len(present) > 1:
        both = "not both" if len(present) == 2 else "only one"
        raise ValueError(f"{what} takes {names}, {both}")


def one_or_many(item: dict[str, Any]) -> WithJsonSchema:
    """JSON Schema for a key that takes one value or a list of them."""
    return WithJsonSchema({"anyOf": [item, {"type": "array", "items": item}]})
