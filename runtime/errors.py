"""What a command answers when it does not happen: every problem, in the analyst's words."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One reason a command was refused: a stable code, a message, and where it applies."""

    code: str
    message: str
    field: str | None = None
    rule: str | None = None
    expression: str | None = None
    detail: dict[str, Any] = dc_field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the problem as JSON-ready data (empty parts left out)."""
        return {k: v for k, v in asdict(self).items() if v not in (None, {}, "")}


class CommandError(Exception):
    """A command that did not happen; nothing it would have written is stored."""

    status = 400

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])

    def to_dict(self) -> dict[str, Any]:
        """Return the error as JSON-ready data."""
        return {"detail": self.message, "problems": [p.to_dict() for p in self.problems]}


class NotFound(CommandError):
    """The record (or entity, stage, alert...) does not exist."""

    status = 404


class Invalid(CommandError):
    """The data does not fit the entity's form (every failing field is listed)."""

    status = 422


class Refused(CommandError):
    """A move or save was refused by the SOP: every unmet requirement is listed."""

    status = 422


class Forbidden(CommandError):
    """The actor's roles do not allow this."""

    status = 403


class Conflict(CommandError):
    """The record changed since the caller read it: here is its current state."""

    status = 409

    def __init__(self, message: str, current: Any) -> None:
        super().__init__(message)
        self.current = current
