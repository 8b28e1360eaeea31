"""What a command answers when it does not happen: every problem, in the analyst's words."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from dataclasses import field as dc_field
from typing import Any

from engine.expr import MissingRow

_NO_DETAIL: Any = object()


@dataclass(frozen=True, init=False)
class Problem:
    """One reason a command was refused: a stable code, a message, and where it applies."""

    code: str
    message: str
    field: str | None = None
    rule: str | None = None
    expression: str | None = None
    detail: dict[str, Any] = dc_field(default_factory=dict)

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        rule: str | None = None,
        expression: str | None = None,
        detail: dict[str, Any] = _NO_DETAIL,
    ) -> None:
        # The generated __init__ of a frozen dataclass sets each field through
        # object.__setattr__ (0.7 us a problem); one update of __dict__ sets the same.
        self.__dict__.update(
            code=code,
            message=message,
            field=field,
            rule=rule,
            expression=expression,
            detail={} if detail is _NO_DETAIL else detail,
        )

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


def missing_row(exc: MissingRow, field: str | None = None) -> Refused:
    """Return the refusal of a command whose lookup found no row (and no default row)."""
    problem = Problem(
        "no-row",
        exc.message,
        field=field,
        expression=exc.source or None,
        detail={
            "table": exc.table,
            "key": [_plain(v) for v in exc.key],
            **({"date": _plain(exc.when)} if exc.when is not None else {}),
        },
    )
    where = f" (computed field '{field}')" if field else ""
    return Refused(f"{exc.message}{where}", [problem])


def _plain(value: Any) -> Any:
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) and not isinstance(value, str) else value


class Forbidden(CommandError):
    """The actor's roles do not allow this."""

    status = 403


class Taken(CommandError):
    """Another record of the entity already holds this natural key (the form's `key`).

    `existing` is that record's id (the API answers it beside the problems).
    """

    status = 409

    def __init__(self, message: str, existing: str, problems: list[Problem]) -> None:
        super().__init__(message, problems)
        self.existing = existing


class Conflict(CommandError):
    """The record changed since the caller read it: here is its current state."""

    status = 409

    def __init__(self, message: str, current: Any) -> None:
        super().__init__(message)
        self.current = current
