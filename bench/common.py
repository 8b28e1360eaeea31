"""What every benchmark shares: the machine description, timing, statistics and its result."""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class BenchError(RuntimeError):
    """A benchmark could not measure what it claims (bad input, wrong results)."""


@dataclass(frozen=True)
class Machine:
    """Where and when the figures were measured."""

    cores: int
    cpu: str
    python: str
    os: str
    date: str

    def line(self) -> str:
        """Describe the machine in one Markdown line."""
        return f"{self.date}, {self.cores} cores, {self.cpu}, Python {self.python}, {self.os}"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    for line in text.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _os_name() -> str:
    try:
        release = platform.freedesktop_os_release().get("PRETTY_NAME", "")
    except OSError:
        release = ""
    kernel = f"{platform.system()} {platform.release()}"
    return f"{release} ({kernel})" if release else kernel


def machine() -> Machine:
    """Describe this machine: cores, CPU model, Python, OS, and today's date (UTC)."""
    return Machine(
        cores=os.cpu_count() or 1,
        cpu=_cpu_model(),
        python=f"{platform.python_version()} ({platform.python_implementation()})",
        os=_os_name(),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


@dataclass(frozen=True)
class Stats:
    """Median, min and max of repeated measurements (seconds, or a rate)."""

    median: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        """Summarise samples."""
        if not samples:
            raise BenchError("no samples")
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))


@dataclass(frozen=True)
class Timing:
    """One measurement: wall-clock seconds and CPU seconds of this process (or its child)."""

    wall: float
    cpu: float


def timed(fn: Callable[[], Any], *, no_gc: bool = False) -> tuple[Timing, Any]:
    """Run `fn` once; return its Timing and result. `no_gc` pauses the cyclic GC (as timeit).

    CPU time does not count the time other processes hold the cores, so on a shared box
    it is the steadier figure; wall-clock time is what a user waits.
    """
    enabled = gc.isenabled()
    if no_gc:
        gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        if enabled:
            gc.enable()
    return Timing(wall, cpu), value


def load() -> str:
    """Describe the 1-minute load average (other processes on the box), when known."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "unknown"


def seconds(value: float) -> str:
    """Format a duration for people: 1.23 s, 45.6 ms, 789 us."""
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} us"


def rate(value: float) -> str:
    """Format a rate in records per second: 12.3M/s, 456k/s."""
    if value >= 1e6:
        return f"{value / 1e6:.2f}M/s"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k/s"
    return f"{value:.0f}/s"


def verdict(passed: bool | None) -> str:
    """Say PASS, FAIL, or n/a (no target)."""
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Render a Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Result:
    """What one benchmark reports: console lines, its Markdown section, pass/fail, raw data."""

    name: str
    title: str
    target: str
    passed: bool | None
    lines: list[tuple[str, str]] = field(default_factory=list)
    markdown: str = ""
    data: dict[str, Any] = field(default_factory=dict)
