"""api/calls.py: every runtime call goes to a worker thread (no in-loop shortcut)."""

from __future__ import annotations

import inspect
import threading

import anyio

from api.calls import call


def test_a_call_runs_in_a_worker_thread_and_returns_its_value() -> None:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await call(threading.get_ident)

    loop, worker = anyio.run(main)
    assert worker != loop


def test_a_call_hands_its_error_to_the_caller() -> None:
    def fails(value: int, *, why: str) -> int:
        raise ValueError(f"{value} {why}")

    async def main() -> str:
        try:
            await call(fails, 3, why="no")
        except ValueError as exc:
            return str(exc)
        return "no error"

    assert anyio.run(main) == "3 no"
    assert next(iter(inspect.signature(call).parameters)) == "fn"
