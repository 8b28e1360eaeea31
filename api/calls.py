"""Run blocking runtime work from an async handler: in a worker thread, within the request's time.

Every runtime call goes to one of anyio's worker threads, on SQLite as on PostgreSQL,
so the event loop keeps answering other requests (`/healthz` among them) while one
request validates a large body or waits for the database. SQLite writers still go one
at a time (`Store.begin` queues them, and BEGIN IMMEDIATE takes the write lock).

Each request has a deadline (`Config.request_timeout` seconds from its arrival, set by
`deadline_middleware`). When it passes while a call runs, the call is abandoned: its
transaction is refused at commit (`runtime.store.CommitGate`), rolls back, and the
request answers 503 (`TimedOut`). A call whose transaction already began to commit is
waited for instead, so a 503 always means nothing was changed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import anyio
import anyio.to_thread
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from runtime.store import Abandoned, CommitGate, gated

T = TypeVar("T")
log = logging.getLogger("sopflow.api")

_DEADLINE: ContextVar[float | None] = ContextVar("sopflow_request_deadline", default=None)
_SECONDS: ContextVar[float] = ContextVar("sopflow_request_seconds", default=0.0)


class TimedOut(Exception):
    """A request ran past its time; what it would have changed is not stored."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request did not finish within {seconds:g} s")
        self.seconds = seconds


class _Outcome(Generic[T]):
    """What a call in a worker thread returned or raised, and whether it has ended."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


async def call(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call `fn` in a worker thread, within the request's time; return what it returns."""
    deadline = _DEADLINE.get()
    gate = CommitGate()
    outcome: _Outcome[T] = _Outcome()

    def work() -> None:
        try:
            with gated(gate):
                outcome.value = fn(*args, **kwargs)
        except Abandoned:
            log.info("a request past its time: its work was rolled back")
        except BaseException as exc:  # handed to the waiting request
            outcome.error = exc
        finally:
            outcome.done.set()

    if deadline is None:  # outside a request (start-up, tests calling directly)
        await anyio.to_thread.run_sync(work)
        return outcome.result()
    with anyio.move_on_after(deadline - anyio.current_time()):
        await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    if not outcome.done.is_set():
        if gate.close():
            raise TimedOut(_SECONDS.get())
        # A commit got through before the deadline closed the gate: wait for its end.
        await anyio.to_thread.run_sync(outcome.done.wait)
    return outcome.result()


def deadline_middleware(seconds: float) -> Callable[[ASGIApp], ASGIApp]:
    """Return an ASGI middleware giving each HTTP request `seconds` to finish its calls."""

    def wrap(app: ASGIApp) -> ASGIApp:
        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            deadline = _DEADLINE.set(anyio.current_time() + seconds)
            budget = _SECONDS.set(seconds)
            try:
                await app(scope, receive, send)
            finally:
                _DEADLINE.reset(deadline)
                _SECONDS.reset(budget)

        return timed

    return wrap
