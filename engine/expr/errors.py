"""Issues and exceptions of the expression language."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.expr.limits import MAX_QUOTE
from engine.suggest import did_you_mean


@dataclass(frozen=True)
class ExprIssue:
    """Describe one compile-time problem of an expression, with a stable code and an offset."""

    code: str
    message: str
    hint: str = ""
    offset: int = 0

    def __str__(self) -> str:
        """Render as 'error[code]: message (hint)'."""
        hint = f" ({self.hint})" if self.hint else ""
        return f"error[{self.code}]: {self.message}{hint}"


class ExpressionError(Exception):
    """Report every compile-time issue of one expression."""

    def __init__(self, issues: list[ExprIssue], source: str = "", index: int | None = None):
        """Keep the issues, the source and (for groups) the index of the failing expression."""
        self.issues = issues
        self.source = source
        self.index = index
        count = f"{len(issues)} problems" if len(issues) != 1 else "1 problem"
        details = "; ".join(str(issue) for issue in issues)
        super().__init__(f"{count} in expression {quote(source)}: {details}")


class EvaluationError(Exception):
    """Report a run-time failure the missing-value rules could not absorb."""

    def __init__(self, source: str, message: str):
        """Keep the source and the plain-words reason."""
        self.source = source
        self.message = message
        super().__init__(f"cannot evaluate {quote(source)}: {message}")


class MissingRow(EvaluationError):
    """Report a lookup that found no row and whose table declares no default row.

    The run time refuses the command rather than reading a missing row as an empty value
    (which would make a cap, a rate or an owner silently missing).
    """

    def __init__(self, table: str, key: tuple[object, ...], when: object = None, source: str = ""):
        """Keep the table name, the key values and (for range tables) the date."""
        self.table = table
        self.key = key
        self.when = when
        values = [_shown(value) for value in key]
        shown = values[0] if len(values) == 1 else "(" + ", ".join(values) + ")"
        if when is not None:
            shown = f"{shown} on {_shown(when)}" if values else f"the date {_shown(when)}"
        super().__init__(source, f"no row of table '{table}' for {shown}")

    def located(self, source: str) -> MissingRow:
        """Return the same failure, now naming the expression it happened in."""
        return MissingRow(self.table, self.key, self.when, source)


def _shown(value: object) -> str:
    """Show a key value as an analyst writes it: texts quoted, dates in ISO form."""
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) and not isinstance(value, str) else repr(value)


def quote(text: str) -> str:
    """Quote a piece of user input for a message, shortened to MAX_QUOTE characters."""
    text = " ".join(text.split())
    if len(text) > MAX_QUOTE:
        text = text[: MAX_QUOTE - 3] + "..."
    return f'"{text}"' if "'" in text and '"' not in text else f"'{text}'"


def suggest(word: str, candidates: Iterable[str]) -> str:
    """Return a 'did you mean ...?' hint for the closest candidate, or an empty string."""
    return did_you_mean(word, candidates)
