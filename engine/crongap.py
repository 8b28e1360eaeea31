"""The shortest gap between two runs of a five-field crontab (for `keep` checks)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from functools import lru_cache

_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_NAMES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {m: i + 1 for i, m in enumerate(_MONTHS)},
    {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
)


def _values(part: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    found: set[int] = set()
    for piece in part.lower().split(","):
        span, _, step_text = piece.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            start, end = low, high
        else:
            first, _, last = span.partition("-")
            start = names[first] if first in names else int(first)
            end = (names[last] if last in names else int(last)) if last else start
            if step_text and not last:
                end = high
        found.update(range(start, end + 1, step))
    return found


@lru_cache(maxsize=256)  # a bundle repeats its crons (one per metric); each walks 8 years
def shortest_gap_minutes(cron: str) -> int | None:
    """Return the fewest minutes between two runs (None: it never runs twice in 8 years).

    Wall-clock minutes: a daylight saving change can make one gap an hour shorter.
    """
    parts = cron.split()
    sets = [_values(p, lo, hi, n) for p, (lo, hi), n in zip(parts, _RANGES, _NAMES, strict=True)]
    minutes, hours, days, months, weekdays = sets
    weekdays = {d % 7 for d in weekdays}
    times = sorted(h * 60 + m for h in hours for m in minutes)
    if not times:
        return None
    within = min((b - a for a, b in itertools.pairwise(times)), default=None)
    if within is not None and within <= 1440 - times[-1] + times[0]:
        return within  # a gap across midnight is never shorter than the overnight one
    # crontab: with both day fields restricted, a day matches either of them.
    any_day, any_weekday = parts[2] == "*", parts[4] == "*"
    day = date(2024, 1, 1)
    last: int | None = None
    across: int | None = None
    for n in range(8 * 366):
        d = day + timedelta(days=n)
        on_day, on_weekday = d.day in days, (d.isoweekday() % 7) in weekdays
        hit = (on_day and on_weekday) if any_day or any_weekday else (on_day or on_weekday)
        if d.month not in months or not hit:
            continue
        if last is not None:
            gap = (n - last) * 1440 - times[-1] + times[0]
            across = gap if across is None else min(across, gap)
            if across <= 1440:
                break
        last = n
    gaps = [g for g in (within, across) if g is not None]
    return min(gaps) if gaps else None
