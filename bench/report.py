"""Write docs/benchmarks.md: a header, then one marked section per benchmark.

Each section sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. A run
replaces the sections of the benchmarks it ran and keeps the others as they were
(with their own machine and date lines), so running one benchmark, or adding a new
one later, never loses the figures of the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from bench.common import Machine, Result, md_table, verdict

HEADER = """\
# Benchmarks

Written by `make bench` (`.venv/bin/python -m bench`); do not edit by hand between the
markers. Figures are medians over repeated runs on a shared, noisy machine; where a
benchmark compares with a baseline, the ratio is taken from the same run. Each benchmark
runs in a fresh interpreter (`bench/runner.py` says why), and each section names the
machine and date it was measured on. Speed targets are checked here, never by timed
assertions in tests (`tests/test_bench_smoke.py` only keeps the code running).
"""
_SECTION = re.compile(r"<!-- bench:([a-z0-9_]+) -->\n(.*?)<!-- /bench:\1 -->\n?", re.S)
# Each section starts with its summary row, kept in a comment, so the summary table
# lists every benchmark in the file even when a run measured only some of them.
_ROW = re.compile(r"^<!-- row: (.*) -->$", re.M)


def read_sections(text: str) -> dict[str, str]:
    """Return the existing sections by benchmark name, in file order."""
    return {m.group(1): m.group(2).strip() for m in _SECTION.finditer(text)}


def section(result: Result, machine: Machine) -> str:
    """Return a benchmark's section: its hidden summary row, then its Markdown."""
    row = " | ".join([result.title, result.target, verdict(result.passed), machine.date])
    return f"<!-- row: {row} -->\n{result.markdown.strip()}"


def summary(sections: dict[str, str], machine: Machine) -> str:
    """Render the summary table from the rows of every section."""
    rows = [m.group(1).split(" | ") for text in sections.values() for m in _ROW.finditer(text)]
    table = md_table(["benchmark", "target", "result", "measured"], rows)
    return f"## Summary\n\nLast run: {machine.line()}.\n\n{table}"


def render(existing: str, results: Sequence[Result], order: Sequence[str], machine: Machine) -> str:
    """Merge this run's sections into the existing document text."""
    sections = read_sections(existing)
    sections.pop("summary", None)
    sections.update({r.name: section(r, machine) for r in results})
    names = [*order, *(n for n in sections if n not in order)]
    ordered = {n: sections[n] for n in names if sections.get(n)}
    parts = [HEADER]
    for name, text in {"summary": summary(ordered, machine), **ordered}.items():
        parts.append(f"<!-- bench:{name} -->\n{text}\n<!-- /bench:{name} -->\n")
    return "\n".join(parts)


def write(path: Path, results: Sequence[Result], order: Sequence[str], machine: Machine) -> None:
    """Rewrite the document at `path` with this run's sections."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(existing, results, order, machine), encoding="utf-8")
