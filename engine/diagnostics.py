"""One diagnostic type for every problem found in a bundle, with its renderings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum

# Why: STYLE.md asks for inputs shortened to 50 characters in messages.
MAX_SHOWN_INPUT = 50


class Severity(StrEnum):
    """How bad a diagnostic is: errors stop the bundle, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A located problem: file, 1-based line and column, stable code, message, hint."""

    path: str
    line: int
    col: int
    severity: Severity
    code: str
    message: str
    hint: str = ""

    def render(self) -> str:
        """Render as `path:line:col: error[code]: message (hint)`."""
        text = f"{self.path}:{self.line}:{self.col}: {self.severity}[{self.code}]: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, object]:
        """Return the diagnostic as JSON-ready data."""
        data = asdict(self)
        data["severity"] = str(self.severity)
        return data

    def render_github(self) -> str:
        """Render as a GitHub Actions workflow command (an annotation on the file)."""
        level = "error" if self.severity is Severity.ERROR else "warning"
        message = f"{self.message} ({self.hint})" if self.hint else self.message
        return (
            f"::{level} file={_escape(self.path, True)},line={self.line},col={self.col},"
            f"title={_escape(self.code, True)}::{_escape(message)}"
        )


def _escape(text: str, prop: bool = False) -> str:
    """Escape text for a GitHub workflow command (properties also escape ':' and ',')."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def shorten(value: object, limit: int = MAX_SHOWN_INPUT) -> str:
    """Show a user's input in a message, cut to `limit` characters."""
    try:
        text = (
            value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
        )
    except (ValueError, TypeError, RecursionError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quote_list(names: Iterable[str], limit: int = 8) -> str:
    """Format names as `'a', 'b', 'c'` (cut after `limit`)."""
    items = sorted(names)
    shown = ", ".join(f"'{n}'" for n in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def errors(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Keep only the errors."""
    return [d for d in diagnostics if d.severity is Severity.ERROR]


def warnings(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Keep only the warnings."""
    return [d for d in diagnostics if d.severity is Severity.WARNING]
