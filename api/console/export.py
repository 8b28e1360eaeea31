"""CSV of a listing: the API's record items as rows, safe to open in a spreadsheet.

Each row is the JSON list API's item for the record (api/routes/record_common.present:
the fields the caller may read, hidden queues shown as empty), flattened: core columns,
then one column per field. A cell is text as the JSON answer has it (numbers as JSON
writes them, true/false, lists as JSON); a text cell starting with = + - @ (or a tab
or carriage return) is prefixed with ' so no spreadsheet runs it as a formula. The file
starts with a UTF-8 byte order mark so Excel reads Chinese text right.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import anyio.to_thread

BATCH = 500  # records read and written at a time while streaming
BOM = "\ufeff"
MEDIA_TYPE = "text/csv; charset=utf-8"
CORE = (
    "id",
    "workflow",
    "stage",
    "status",
    "owner",
    "queue",
    "created_at",
    "updated_at",
    "stage_entered_at",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def header(fields: Iterable[str]) -> list[str]:
    """Return the header row: core columns, then the fields (a field named like a core
    column is told apart as `field.<name>`)."""
    return [*CORE, *(f"field.{f}" if f in CORE else f for f in fields)]


def text(value: Any) -> str:
    """Return a JSON-ready value as a CSV cell (text escaped against formula injection;
    a number stays a number: -5 is no formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, str):
        out = value
    else:
        out = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "'" + out if out.startswith(FORMULA_STARTS) else out


def row(item: dict[str, Any], fields: Iterable[str]) -> list[str]:
    """Return the cells of one presented record (an API list item)."""
    data = item.get("data") or {}
    return [*(text(item.get(c)) for c in CORE), *(text(data.get(f)) for f in fields)]


def line(cells: list[str]) -> str:
    """Return one CSV line (RFC 4180 quoting, CRLF)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()


class Lines:
    """CSV text made in a worker thread from one streamed query, handed over a batch at
    a time (a bounded queue: the reader waits for the browser). The read runs outside
    the request's deadline: a long export is many batches, and it changes nothing. A
    browser that goes away stops it at the next batch."""

    def __init__(
        self,
        batches: Callable[[], Iterator[list[Any]]],
        render: Callable[[list[Any]], list[str]],
    ) -> None:
        self.batches = batches
        self.render = render
        self.queue: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=4)
        self.stop = threading.Event()

    def _produce(self) -> None:
        try:
            for views in self.batches():
                if self.stop.is_set():
                    return
                self._put(("lines", "".join(self.render(views))))
            self._put(("end", None))
        except BaseException as exc:  # handed to the reader, which raises it
            self._put(("error", exc))

    def _put(self, item: tuple[str, Any]) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    async def __aiter__(self) -> AsyncIterator[str]:
        worker = threading.Thread(target=self._produce, name="csv-export", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await anyio.to_thread.run_sync(self.queue.get)
                if kind == "end":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            self.stop.set()
