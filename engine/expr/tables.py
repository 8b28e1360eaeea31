"""Indexes of static reference tables, bound into generated code for O(1) lookups."""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from engine.expr.limits import TABLE_INDEX_CACHE
from engine.expr.types import TableSig


def _day(value: Any) -> dt.date | None:
    """Read a range bound or lookup date as a day (datetimes and ISO texts included)."""
    if value is None or isinstance(value, dt.datetime):
        return None if value is None else value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"{value!r} is not a date")


class RangeIndex:
    """Find the row whose [from, to] date range contains a day, per key; ends are inclusive."""

    def __init__(
        self, rows: Iterable[Mapping[str, Any]], key: Sequence[str], span: tuple[str, str]
    ):
        """Index rows by key tuple, each key's rows sorted by range start (open start first)."""
        start, end = span
        groups: dict[tuple[Any, ...], list[tuple[dt.date, dt.date | None, Mapping[str, Any]]]]
        groups = {}
        for row in rows:
            first = _day(row.get(start)) or dt.date.min
            groups.setdefault(tuple(row.get(k) for k in key), []).append(
                (first, _day(row.get(end)), row)
            )
        self._groups: dict[tuple[Any, ...], tuple[list[dt.date], list[Any]]] = {}
        for group, members in groups.items():
            members.sort(key=lambda member: member[0])
            self._groups[group] = ([m[0] for m in members], [(m[1], m[2]) for m in members])

    def find(self, group: tuple[Any, ...], when: Any) -> Mapping[str, Any] | None:
        """Return the row of `group` whose range contains `when`, or None."""
        entry = self._groups.get(group)
        day = _day(when)
        if entry is None or day is None:
            return None
        starts, rows = entry
        position = bisect.bisect_right(starts, day) - 1
        if position < 0:
            return None
        end, row = rows[position]
        return None if end is not None and end < day else row

    def row(self, group: tuple[Any, ...], when: Any) -> Mapping[str, Any]:
        """Return the row of `group` whose range contains `when`; KeyError if none does."""
        found = self.find(group, when)
        if found is None:
            raise KeyError(group)
        return found


def key_index(rows: Iterable[Mapping[str, Any]], key: Sequence[str]) -> dict[Any, Any]:
    """Index rows by their key (a scalar for one key column, else a tuple); first row wins."""
    index: dict[Any, Any] = {}
    for row in rows:
        values = tuple(row.get(k) for k in key)
        index.setdefault(values[0] if len(values) == 1 else values, row)
    return index


# Indexes of recently compiled tables, by identity: expressions of one bundle share them.
_TABLE_INDEXES: dict[int, tuple[TableSig, RangeIndex | dict[Any, Any]]] = {}
_TABLE_LOCK = threading.Lock()


def table_index(table: TableSig) -> RangeIndex | dict[Any, Any]:
    """Return the (cached) key index or RangeIndex of a TableSig."""
    with _TABLE_LOCK:
        cached = _TABLE_INDEXES.get(id(table))
        if cached is not None and cached[0] is table:
            return cached[1]
        if table.range is not None:
            index: RangeIndex | dict[Any, Any] = RangeIndex(table.rows, table.key, table.range)
        else:
            index = key_index(table.rows, table.key)
        if len(_TABLE_INDEXES) >= TABLE_INDEX_CACHE:
            _TABLE_INDEXES.pop(next(iter(_TABLE_INDEXES)))
        _TABLE_INDEXES[id(table)] = (table, index)
        return index
