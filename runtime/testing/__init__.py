"""`sopflow test`: definition tests run through the real runtime on a throwaway database."""

from __future__ import annotations

from runtime.testing.outcome import CaseResult, Failure
from runtime.testing.runner import TestRun, run_cases

__all__ = ["CaseResult", "Failure", "TestRun", "run_cases"]
