"""Lead creation with a 17-feature score and routing over 100 reps, against hand-written code.

Each operation is `Runtime.create("lead", body)` on a generated bundle: a 12-field
form (normalisers, types, bounds), a 17-feature quality score written to the record,
and a routing rule (eligible rule, a two-feature match score against each of 100 reps,
threshold 82, least loaded, a fallback queue) with its explanations. The baseline, in
the same run, is what ARCHITECTURE.md's "Serving fast" measures sopflow against, minus
HTTP: a pydantic model for the 12 fields, the 17-term score and the pick among the 100
reps written by hand, and one SQLAlchemy Core INSERT of the record row in its own
transaction on the same kind of store (`bench/lead_baseline.py`, which the HTTP benchmark's
hand-written Litestar app runs too). Both make the same decisions (checked lead by
lead); the ratio of their rates is the figure to watch. Another variant, the baseline
also writing the rows sopflow keeps for a lead (`Audited`), is the floor of sopflow's
audit (decision 93).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select

from bench import runtime_bundles as rb
from bench.common import BenchError, Machine, Result, load, md_table, rate, seconds
from bench.lead_baseline import NOW, Audited, Decision, HandWritten, record_row
from bench.runtime_support import (
    RATE_HEADER,
    Hotspots,
    Variant,
    count_statements,
    hotspots,
    profile_markdown,
    race,
    rate_rows,
    statement_kinds,
)
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.store import T_DECISION, T_RECORD, Store

NAME = "lead_creation"
TITLE = "Lead creation: 17-feature score + routing over 100 reps vs hand-written code"
SOPFLOW = "sopflow Runtime.create"
BASELINE = "hand-written: pydantic + score + pick + Core INSERT"
INSERT_ONLY = "SQLAlchemy Core INSERT + COMMIT only"
AUDITED = "hand-written + sopflow's audit rows (driver SQL)"


class HandWrittenBatch(HandWritten):
    """The baseline over a batch, keeping what it decided for the comparison."""

    def __init__(self, engine: Engine, reps: list[rb.Rep]) -> None:
        super().__init__(engine, reps)
        self.decisions: list[Decision] = []

    def batch(self, leads: list[dict[str, Any]]) -> int:
        """Create every lead; return how many."""
        create, out = self.create, self.decisions
        for body in leads:
            out.append(create(body)[1])
        return len(leads)


class AuditedBatch(HandWrittenBatch, Audited):
    """The baseline also writing the rows sopflow keeps for a lead (`Audited`)."""


class InsertOnly:
    """The same row inserted with SQLAlchemy Core in its own transaction, nothing else."""

    def __init__(self, engine: Engine, leads: list[dict[str, Any]]) -> None:
        self.engine = engine
        self.rows = [{**body, "quality_score": 50.0} for body in leads]

    def batch(self) -> int:
        """Insert every row; return how many."""
        for data in self.rows:
            with self.engine.begin() as conn:
                conn.execute(insert(T_RECORD), record_row("lead", data, "rep.000", None))
        return len(self.rows)


class Sopflow:
    """Runtime.create through the generated bundle."""

    def __init__(self, store: Store, root: Path) -> None:
        self.rt = Runtime(
            rb.compiled(root / "bundle"), store, FakeClock(NOW), evidence_dir=root / "ev"
        )
        self.decisions: list[Decision] = []

    def batch(self, leads: list[dict[str, Any]]) -> int:
        """Create every lead; return how many."""
        create, out = self.rt.create, self.decisions
        for body in leads:
            view = create("lead", body)
            out.append(Decision(view.data.get("quality_score"), view.owner, view.queue))
        return len(leads)


def _compare(sop: list[Decision], hand: list[Decision]) -> dict[str, int]:
    if len(sop) != len(hand):
        raise BenchError(f"sopflow made {len(sop)} decisions, the baseline {len(hand)}")
    for i, (a, b) in enumerate(zip(sop, hand, strict=True)):
        same_score = a.score is not None and b.score is not None and abs(a.score - b.score) < 1e-6
        if not same_score or a.owner != b.owner or a.queue != b.queue:
            raise BenchError(f"lead {i}: sopflow decided {a}, the hand-written code {b}")
    routed = sum(d.owner is not None for d in sop)
    return {"leads": len(sop), "routed": routed, "queued": len(sop) - routed}


@dataclass
class Measured:
    """The figures of one run."""

    variants: list[Variant]
    checked: dict[str, int]
    statements: str
    decision_bytes: dict[str, dict[str, float]]  # variant -> kind -> mean size
    spots: Hotspots | None
    wal_pages: dict[str, float]


# Leads counted for the WAL pages a commit writes: 35 leads of about 20 pages stay under
# SQLite's automatic checkpoint at 1,000 pages, which would start the WAL over.
WAL_LEADS = 30
AUTO_CHECKPOINT = 1000


def wal_pages(root: Path, reps: list[rb.Rep]) -> dict[str, float]:
    """Return the WAL pages one lead's commit writes, for sopflow and both baselines.

    Each on a new store file: 5 leads first (first pages of each table), then the
    WAL's growth over WAL_LEADS leads, in frames (a page and its 24-byte header).
    """
    bodies = rb.make_leads(WAL_LEADS + 5, seed=11)
    pages: dict[str, float] = {}
    for name in (SOPFLOW, BASELINE, AUDITED):
        db = root / f"wal-{len(pages)}.db"
        store = Store.open(f"sqlite:///{db}")
        try:
            maker: Sopflow | HandWrittenBatch = (
                Sopflow(store, root)
                if name == SOPFLOW
                else AuditedBatch(store.engine, reps)
                if name == AUDITED
                else HandWrittenBatch(store.engine, reps)
            )
            maker.batch(bodies[:5])
            wal = Path(f"{db}-wal")
            before = wal.stat().st_size
            maker.batch(bodies[5:])
            after = wal.stat().st_size
            with store.read() as conn:
                page = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
        finally:
            store.dispose()
        frame = page + 24
        if after // frame >= AUTO_CHECKPOINT or after <= before:
            raise BenchError(f"{name}: the WAL was checkpointed while its pages were counted")
        pages[name] = (after - before) / frame / WAL_LEADS
    return pages


def _sizes(by_kind: dict[str, float]) -> str:
    return ", ".join(f"{kind} {size / 1024:.1f} KiB" for kind, size in sorted(by_kind.items()))


def _decision_sizes(store: Store) -> dict[str, float]:
    with store.read() as conn:
        rows = conn.execute(
            select(T_DECISION.c.kind, func.avg(func.length(T_DECISION.c.detail))).group_by(
                T_DECISION.c.kind
            )
        ).all()
    return {kind: float(size or 0) for kind, size in rows}


def measure(root: Path, leads: int, repeats: int, profile_top: int) -> Measured:
    """Run the three variants on SQLite files (one store each) in rotating rounds."""
    reps = rb.write_lead_bundle(root / "bundle")
    bodies = rb.make_leads(leads)
    sop_store = Store.open(f"sqlite:///{root / 'sopflow.db'}")
    hand_store = Store.open(f"sqlite:///{root / 'baseline.db'}")
    raw_store = Store.open(f"sqlite:///{root / 'insert.db'}")
    audit_store = Store.open(f"sqlite:///{root / 'audited.db'}")
    stores = (sop_store, hand_store, raw_store, audit_store)
    try:
        sop = Sopflow(sop_store, root)
        hand = HandWrittenBatch(hand_store.engine, reps)
        raw = InsertOnly(raw_store.engine, bodies)
        audited = AuditedBatch(audit_store.engine, reps)
        warm = rb.make_leads(50, seed=7)
        for maker in (sop, hand, audited):
            maker.batch(warm)
        variants = [
            Variant(BASELINE, lambda: lambda: hand.batch(bodies), leads),
            Variant(SOPFLOW, lambda: lambda: sop.batch(bodies), leads),
            Variant(INSERT_ONLY, lambda: raw.batch, leads),
            Variant(AUDITED, lambda: lambda: audited.batch(bodies), leads),
        ]
        race(variants, repeats)
        checked = _compare(sop.decisions, hand.decisions)
        _compare(audited.decisions, hand.decisions)
        sample = bodies[: min(leads, 20)]
        with count_statements(sop_store.engine) as sent:
            sop.batch(sample)
        statements = statement_kinds(sent, len(sample))
        spots = hotspots(lambda: sop.batch(bodies), leads, top=20) if profile_top else None
        sizes = {SOPFLOW: _decision_sizes(sop_store), AUDITED: _decision_sizes(audit_store)}
        return Measured(variants, checked, statements, sizes, spots, wal_pages(root, reps))
    finally:
        for store in stores:
            store.dispose()


def run(
    leads: int = 500,
    repeats: int = 7,
    *,
    machine: Machine,
    profile_top: int = 0,
) -> Result:
    """Generate the bundle in a temporary folder and measure lead creation."""
    loads = [load()]
    root = Path(tempfile.mkdtemp(prefix="sopflow-bench-leads-"))
    try:
        measured = measure(root, leads, repeats, profile_top)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    loads.append(load())
    return report(measured, repeats, loads, machine, profile_top)


def report(
    m: Measured, repeats: int, loads: list[str], machine: Machine, profile_top: int
) -> Result:
    """Build the console lines and the Markdown section."""
    by = {v.name: v for v in m.variants}
    names = (SOPFLOW, BASELINE, INSERT_ONLY, AUDITED)
    sop, hand, raw, audited = (by[n].wall_rate().median for n in names)
    ratio = sop / hand
    target = "no target set; reported: records/s and the ratio to hand-written code"
    sizes = _sizes(m.decision_bytes[SOPFLOW])
    pages = (
        f"sopflow {m.wal_pages[SOPFLOW]:.1f}, hand-written {m.wal_pages[BASELINE]:.1f}, "
        f"hand-written + audit rows {m.wal_pages[AUDITED]:.1f}"
    )
    lines = [
        ("sopflow Runtime.create", f"{rate(sop)} ({seconds(1 / sop)} per lead)"),
        ("hand-written baseline", f"{rate(hand)} ({seconds(1 / hand)} per lead)"),
        ("Core INSERT + COMMIT only", f"{rate(raw)} ({seconds(1 / raw)} per row)"),
        (
            "hand-written + sopflow's audit rows",
            f"{rate(audited)} ({seconds(1 / audited)} per lead)",
        ),
        ("ratio sopflow / hand-written", f"{ratio:.3f}x"),
        ("ratio sopflow / insert only", f"{sop / raw:.3f}x"),
        ("ratio hand-written + audit rows / hand-written", f"{audited / hand:.3f}x"),
        ("SQL per lead", m.statements),
        ("explanation JSON per lead", sizes),
        ("... hand-written + audit rows", _sizes(m.decision_bytes[AUDITED])),
        ("WAL pages a lead's commit writes", pages),
        ("same decisions", f"{m.checked['leads']:,} leads, {m.checked['routed']:,} routed"),
    ]
    if m.spots is not None:
        lines += m.spots.lines()
    parts = [
        f"## {TITLE}",
        "",
        f"Measured {machine.line()}; 1-minute load average {' -> '.join(loads)}.",
        "",
        f"- No target was set. Result: **{rate(sop)}** leads/s with sopflow against "
        f"{rate(hand)} for the hand-written baseline: **{ratio:.3f}x** "
        f"({seconds(1 / sop)} against {seconds(1 / hand)} per lead); a bare Core INSERT + "
        f"COMMIT of the same row runs at {rate(raw)}.",
        "- Each operation is `Runtime.create('lead', body)` on a generated bundle "
        "(`bench/runtime_bundles.py`): a 12-field form (normalisers, enums, bounds), a "
        "17-feature quality score written to `quality_score`, and a routing rule over "
        f"{rb.REP_COUNT} reps declared in `bundle.yaml` with `specialty`/`territory`/"
        "`region` user fields: eligible `candidate.available and region == "
        "candidate.region`, match score (specialty 0.6, territory 0.4) against each rep, "
        f"threshold {rb.THRESHOLD}, strategy least_loaded, fallback queue. sopflow also "
        "writes the audit event, the score and routing explanations (`sf_decision`) and "
        "the owner's load (`sf_load`) in the same transaction.",
        '- Baseline (ARCHITECTURE.md "Serving fast", without HTTP): a pydantic model of '
        "the 12 fields, the 17-term score and the least-loaded pick among the 100 reps "
        "written by hand (loads kept in memory), one SQLAlchemy Core INSERT of the record "
        "row per lead in its own transaction. Every store is a SQLite file opened by "
        "sopflow's engine (WAL, synchronous=NORMAL, BEGIN IMMEDIATE).",
        f"- Checked: sopflow and the baseline reach the same score, owner and queue for "
        f"all {m.checked['leads']:,} leads of the run ({m.checked['routed']:,} routed, "
        f"{m.checked['queued']:,} to the fallback queue).",
        f"- Rates are leads/s of wall-clock time, medians of {repeats} rounds with the "
        "variants in rotating order; the cyclic GC stays on.",
        "",
        f"SQL per lead (besides the COMMIT): {m.statements}. Explanation JSON kept per "
        f"lead (average `sf_decision.detail` size): {sizes}; every candidate considered "
        "and every feature is kept, as columns (`Runtime.explain` spells them out one "
        "dict per candidate and feature). WAL pages a lead's commit writes (4 KiB each, "
        f"{WAL_LEADS} leads on a new store file): {pages}; the baseline's are the record "
        "row's table and index pages, which sopflow writes too.",
        "",
        f"A floor for the audit sopflow keeps: the baseline also writing, in the same "
        "transaction, the rows sopflow keeps for a lead (`created` and `routed` events, the "
        "score's and the routing's explanations as columns, the owner's load and load "
        "item; `bench/lead_baseline.py` `Audited`), built by hand and sent straight to the "
        f"driver, runs at {rate(audited)}: **{audited / hand:.3f}x** the baseline, and "
        f"sopflow at {sop / audited:.3f}x of it. Its explanations: "
        f"{_sizes(m.decision_bytes[AUDITED])}.",
        "",
        md_table(RATE_HEADER, rate_rows(m.variants, BASELINE)),
    ]
    if m.spots is not None:
        parts += ["", "### Where a lead's time goes", ""]
        parts += profile_markdown(m.spots, "lead creations", min(profile_top, 12))
    data = {
        "ratio": ratio,
        "rates": {v.name: v.wall_rate() for v in m.variants},
        "wal_pages": m.wal_pages,
        **m.checked,
    }
    return Result(NAME, TITLE, target, None, lines, "\n".join(parts), data)
