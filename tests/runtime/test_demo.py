"""The simulated quarter (runtime/demo.py): deterministic, and the product computed it all."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from engine.compiler.pipeline import compile_bundle
from runtime import access
from runtime.demo import DEMO_STAFF, DemoPlan, counts, digest, run_demo
from runtime.store import T_ALERT, T_FORECAST, T_RECORD, Store

DEFINITIONS = Path(__file__).resolve().parents[2] / "definitions"
PLAN = DemoPlan(seed=7, leads=300)


def test_a_small_quarter_is_deterministic_and_fills_every_part(
    store: Store, tmp_path: Path
) -> None:
    bundle = compile_bundle(DEFINITIONS).bundle
    assert bundle is not None
    seen: list[int] = []
    done = run_demo(bundle, store, PLAN, evidence_dir=str(tmp_path / "ev"), progress=seen.append)
    assert sum(seen) == 300  # the progress callback counts every lead once
    assert done.days == 90 and done.refused == 0
    made = counts(store)
    assert made["lead"] == 300 and made["ticket"] == 90 * PLAN.tickets_per_day
    assert made["opportunity"] > 0
    # 30 stock days, each reporting 5 SKUs for the next 3 distributors of the table's 127
    assert made["distributor_stock"] == 30 * 3 * 5
    with store.read() as conn:
        stages = {r[0] for r in conn.execute(select(T_RECORD.c.stage)).all()}
        rules = {r[0] for r in conn.execute(select(T_ALERT.c.rule)).all()}
        feedback = conn.execute(
            select(func.count()).select_from(T_ALERT).where(T_ALERT.c.feedback.is_not(None))
        ).scalar()
        forecasts = conn.execute(select(func.count()).select_from(T_FORECAST)).scalar()
    assert {"appointment", "won"} <= stages
    assert "stock_below_safety" in rules and feedback
    assert forecasts and forecasts >= 20  # recomputed every 72 hours over the quarter
    for user_id, role in DEMO_STAFF.items():
        found = access.resolve_user(store, bundle, user_id)
        assert found is not None and role in found.roles
    # Same seed, another database: the same records in the same states.
    other = Store.open(f"sqlite:///{tmp_path / 'again.db'}")
    run_demo(bundle, other, PLAN, evidence_dir=str(tmp_path / "ev2"))
    assert counts(other) == made
    assert digest(other) == digest(store)
    # Another seed: another quarter.
    third = Store.open(f"sqlite:///{tmp_path / 'third.db'}")
    run_demo(bundle, third, DemoPlan(seed=8, leads=300), evidence_dir=str(tmp_path / "ev3"))
    assert digest(third) != digest(store)
