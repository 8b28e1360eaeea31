"""Run a blocking runtime call from an async handler.

SQLite serialises writers anyway, and a short write transaction in the event loop
has the same throughput as a thread hop with a better p99 (ARCHITECTURE.md, "Serving
fast"); PostgreSQL calls go to a worker thread so a slow commit never stalls the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

T = TypeVar("T")


async def call(inline: bool, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call `fn` in the loop when `inline`, else in a worker thread."""
    if inline:
        return fn(*args, **kwargs)
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))
