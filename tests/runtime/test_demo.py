"""The simulated quarter (runtime/demo.py): deterministic, and the product computed it all."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from engine.compiler.pipeline import compile_bundle
from runtime.demo import DemoPlan, counts, demo_staff, digest, is_demo, run_demo
from runtime.store import T_ALERT, T_EVENT, T_FORECAST, T_RECORD, Store

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
PLAN = DemoPlan(seed=7, leads=300, opportunity_share=0.2, tickets_per_day=3)


def test_a_small_quarter_is_deterministic_and_fills_every_part(
    store: Store, tmp_path: Path
) -> None:
    bundle = compile_bundle(DEFINITIONS).bundle
    assert bundle is not None
    assert not is_demo(store)
    seen: list[int] = []
    done = run_demo(bundle, store, PLAN, evidence_dir=str(tmp_path / "ev"), progress=seen.append)
    assert sum(seen) == 300  # the progress callback counts every lead once
    assert done.days == 90 and done.refused == 0, done.refusals
    assert is_demo(store)
    made = counts(store)
    assert made["lead"] == 300 and made["ticket"] == 90 * PLAN.tickets_per_day
    assert made["opportunity"] > 0
    # 30 stock days, each reporting 5 SKUs for the next 3 distributors of the table's 127
    assert made["distributor_stock"] == 30 * 3 * 5
    with store.read() as conn:
        stages = {
            (e, s, st)
            for e, s, st in conn.execute(
                select(T_RECORD.c.entity, T_RECORD.c.stage, T_RECORD.c.status).distinct()
            ).all()
        }
        rules = {r[0] for r in conn.execute(select(T_ALERT.c.rule)).all()}
        feedback = conn.execute(
            select(func.count()).select_from(T_ALERT).where(T_ALERT.c.feedback.is_not(None))
        ).scalar()
        forecasts = conn.execute(select(func.count()).select_from(T_FORECAST)).scalar()
        breached = {
            e
            for (e,) in conn.execute(
                select(T_RECORD.c.entity)
                .join(T_EVENT, T_EVENT.c.record_id == T_RECORD.c.id)
                .where(T_EVENT.c.kind == "sla_breached")
                .distinct()
            ).all()
        }
        transfers = conn.execute(select(T_RECORD.c.data).where(T_RECORD.c.entity == "ticket")).all()
        owners = {
            o
            for (o,) in conn.execute(
                select(T_RECORD.c.owner).where(T_RECORD.c.entity == "lead").distinct()
            ).all()
        }
    # Deals move on, some are won and some lost, some stall in a stage.
    opp_stages = {(s, st) for e, s, st in stages if e == "opportunity"}
    assert {("won", "won"), ("lost", "lost")} <= opp_stages
    assert any(st == "open" for _, st in opp_stages)
    # Tickets are taken, transferred between seat groups, resolved and closed; some wait
    # past their severity's SLA (the ticks record the breach), as do stalled deals.
    assert {("ticket", "closed", "closed"), ("ticket", "triage", "open")} <= stages
    assert sum(d.get("transfers", 0) for (d,) in transfers) > 0
    assert {"ticket", "opportunity"} <= breached
    assert "stock_below_safety" in rules and feedback
    assert forecasts and forecasts >= 20  # recomputed every 72 hours over the quarter
    # Leads go to several of the bundle's reps (every rep is read from the bundle).
    assert len(owners - {None}) >= 4
    # The people a newcomer logs in as are bundle users; the rep owns open records.
    staff = {p.role: p for p in demo_staff(bundle, store)}
    assert set(staff) == {"rep", "manager", "analyst"}
    assert bundle.manifest.users[staff["rep"].user].manager == staff["manager"].user
    assert "owns 0 " not in staff["rep"].note
    # Same seed, another database: the same records in the same states.
    other = Store.open(f"sqlite:///{tmp_path / 'again.db'}")
    run_demo(bundle, other, PLAN, evidence_dir=str(tmp_path / "ev2"))
    assert counts(other) == made
    assert digest(other) == digest(store)
    assert demo_staff(bundle, other) == demo_staff(bundle, store)
    # Another seed: another quarter.
    third = Store.open(f"sqlite:///{tmp_path / 'third.db'}")
    run_demo(
        bundle,
        third,
        DemoPlan(seed=8, leads=300, tickets_per_day=3),
        evidence_dir=str(tmp_path / "ev3"),
    )
    assert digest(third) != digest(store)
