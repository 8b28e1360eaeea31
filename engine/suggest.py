"""Did-you-mean hints for misspelled names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """Return `did you mean 'x'?` for the closest candidate, or an empty string.

    A candidate that differs only in case wins; otherwise difflib's closest match,
    compared case-insensitively.
    """
    by_lower: dict[str, str] = {}
    for candidate in sorted(c for c in candidates if c):
        by_lower.setdefault(candidate.lower(), candidate)
    lowered = word.lower()
    if lowered in by_lower and by_lower[lowered] != word:
        return f"did you mean '{by_lower[lowered]}'?"
    close = difflib.get_close_matches(lowered, list(by_lower), n=1)
    return f"did you mean '{by_lower[close[0]]}'?" if close else ""
