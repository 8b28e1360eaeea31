"""What running a definition test gave: its failures, each located in the test file."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.testfiles import TestCase


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold (or a step that went wrong), located in the file."""

    path: str
    line: int
    col: int
    code: str
    message: str
    expected: object = None
    got: object = None

    def render(self) -> str:
        """Render as `path:line:col: fail[code]: message`."""
        return f"{self.path}:{self.line}:{self.col}: fail[{self.code}]: {self.message}"


@dataclass
class CaseResult:
    """The outcome of one case: passed when it has no failure."""

    case: TestCase
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def name(self) -> str:
        """Return the case's name."""
        return self.case.spec.name

    @property
    def passed(self) -> bool:
        """Tell whether every step ran and every expectation held."""
        return not self.failures


__all__ = ["CaseResult", "Failure"]
