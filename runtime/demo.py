"""A simulated quarter: fill a store through the runtime's own commands and a fake clock.

Everything the demo leaves behind (scores, owners, routing reasons, timers, alerts, the
forecast history) is what the runtime computed from commands: the demo only decides, from
a seeded random generator, which commands run and when. Same seed, same commands.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from engine.bundle import Bundle
from runtime import access
from runtime.clock import FakeClock
from runtime.core import Runtime
from runtime.errors import CommandError
from runtime.store import T_ALERT, T_RECORD, Store

JPEG = b"\xff\xd8\xff\xe0demo-shelf"
PDF = b"%PDF-1.4\ndemo"
OPP_CHAIN = ["appointment", "inventory_count", "competitor_analysis", "proposal_demo"]
OPP_CHAIN += ["quote", "payment_tracking", "won"]
EVIDENCE: dict[str, list[tuple[str, bytes, str, str]]] = {
    "inventory_count": [
        ("shelf_photo", JPEG + bytes([i]), "image/jpeg", f"shelf-{i}.jpg") for i in range(3)
    ]
    + [("inventory_list", PDF, "application/pdf", "inventory.pdf")],
    "competitor_analysis": [("price_comparison", PDF, "application/pdf", "prices.pdf")],
}
DWELL_DAYS = {  # mean days an opportunity spends in a stage before its rep moves it on
    "appointment": 5,
    "inventory_count": 4,
    "competitor_analysis": 3,
    "proposal_demo": 6,
    "quote": 5,
    "payment_tracking": 8,
}
SOURCES = ["meituan", "jd_health", "web_form"]
DISTRICTS = ["jinjiang", "wuhou", "qingyang", "jinniu", "chenghua", "yuzhong", "jiangbei"]
SPECIALTIES = ["otc", "prescription", "devices"]
TOUCHPOINTS = ["web_form", "email_opened", "whitepaper", "demo_booked"]
CLASSES = ["herbal_pieces", "antibiotics"]
SKUS = ["cola-330", "tea-500", "ibuprofen-200", "vitc-100", "mask-n95"]
#: The demo staff: API users holding the bundle's roles, printed with tokens by `serve`.
DEMO_STAFF = {"demo.rep": "rep", "demo.manager": "manager", "demo.analyst": "analyst"}


@dataclass
class DemoPlan:
    """What to simulate: the seed, how many leads, which quarter."""

    seed: int = 1
    leads: int = 100_000
    quarter: str = "2026Q1"
    opportunity_share: float = 0.03  # leads a rep turns into an opportunity
    stall_share: float = 0.15  # opportunities that stop moving (SLA breaches, stall alerts)
    tickets_per_day: int = 8
    stock_every_days: int = 3
    # Distributors reporting on a stock day, taken in turn through the `distributors` table
    # (the default bundle lists 127: all of them each time would swamp a small quarter).
    stock_distributors: int = 3

    def days(self) -> list[date]:
        """Return the quarter's days."""
        year, q = int(self.quarter[:4]), int(self.quarter[-1])
        first = date(year, 3 * q - 2, 1)
        end = date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)
        return [first + timedelta(days=i) for i in range((end - first).days)]


@dataclass
class DemoResult:
    """What the demo did: commands by kind, refusals, and the time it simulated."""

    commands: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    refusals: dict[str, int] = field(default_factory=dict)
    days: int = 0

    def count(self, kind: str) -> None:
        """Count one command of `kind`."""
        self.commands[kind] = self.commands.get(kind, 0) + 1


@dataclass
class _Opp:
    id: str
    stage: str
    due: date
    stalled: bool


Progress = Callable[[int], None]


def run_demo(
    bundle: Bundle,
    store: Store,
    plan: DemoPlan,
    *,
    evidence_dir: str = "var/evidence",
    progress: Progress | None = None,
) -> DemoResult:
    """Simulate `plan`'s quarter on `store`; call `progress(n)` after each n leads."""
    sim = _Simulation(bundle, store, plan, evidence_dir)
    for step in sim.run():
        if progress is not None:
            progress(step)
    return sim.result


class _Simulation:
    def __init__(self, bundle: Bundle, store: Store, plan: DemoPlan, evidence_dir: str) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.zone = ZoneInfo(bundle.manifest.timezone or "UTC")
        days = plan.days()
        self.days = days
        self.clock = FakeClock(self._at(days[0], time(8, 0)))
        self.rt = Runtime(bundle, store, self.clock, evidence_dir=evidence_dir)
        self.result = DemoResult(days=len(days))
        self.opps: list[_Opp] = []
        self.reps = [u for u, s in bundle.manifest.users.items() if "rep" in s.roles and s.active]
        self.distributors = [r["distributor"] for r in bundle.tables["distributors"].rows]
        self.stock_days = 0

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, self.zone).astimezone(ZoneInfo("UTC"))

    def _do(self, kind: str, command: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            out = command(*args, **kwargs)
        except CommandError as exc:
            self.result.refused += 1
            key = f"{kind}: {exc.message} {[p.message for p in exc.problems]}"[:200]
            self.result.refusals[key] = self.result.refusals.get(key, 0) + 1
            return None
        self.result.count(kind)
        return out

    def run(self) -> Iterator[int]:
        """Run the quarter day by day; yield the leads made since the last yield."""
        self._staff()
        self.rt.tick(self.clock.now())  # registers the schedules from the first day
        per_day = self._spread(self.plan.leads, len(self.days))
        for n, day in enumerate(self.days):
            made = 0
            for i in range(per_day[n]):
                seconds = 9 * 3600 + (9 * 3600 * i) // max(per_day[n], 1)
                self.clock.set(self._at(day, time(0)) + timedelta(seconds=seconds))
                self._lead(n, i)
                made += 1
                if made % 50 == 0:
                    yield 50
            self.clock.set(self._at(day, time(18, 30)))
            self._opportunities(day)
            self._tickets(day, n)
            if n % self.plan.stock_every_days == 0:
                self._stock(day)
            self._feedback()
            self.clock.set(self._at(day, time(23, 0)))
            self._do("tick", lambda: self.rt.tick(self.clock.now()))
            yield made % 50

    @staticmethod
    def _spread(total: int, days: int) -> list[int]:
        return [total // days + (1 if d < total % days else 0) for d in range(days)]

    def _staff(self) -> None:
        now = self.clock.now()
        bundle = self.rt.bundle
        for user, role in DEMO_STAFF.items():
            if role in bundle.manifest.roles and access.resolve_user(self.rt.store, bundle, user):
                continue
            if role in bundle.manifest.roles:
                access.create_user(self.rt.store, bundle, user, [role], now, name=f"Demo {role}")

    def _lead(self, day: int, i: int) -> None:
        r = self.rng
        data = {
            "source": r.choice(SOURCES),
            "external_id": f"Q{day:02d}-{i:05d}",
            "pharmacy_name": f"Pharmacy {r.randrange(1, 40_000):05d}",
            "district": r.choice(DISTRICTS),
            "specialty": r.choice(SPECIALTIES),
            "orders_90d": r.randrange(0, 60),
            "turnover_rate": round(r.uniform(0.5, 12.0), 1),
            "policy_change": r.random() < 0.1,
            "touchpoints": r.sample(TOUCHPOINTS, r.randrange(0, 4)),
        }
        self._do("ingest", lambda: self.rt.ingest("lead", data))
        if r.random() < self.plan.opportunity_share:
            self._new_opportunity(data)

    def _new_opportunity(self, lead: dict[str, Any]) -> None:
        r = self.rng
        region = r.choice(["sichuan", "chongqing"])
        data = {
            "pharmacy_name": lead["pharmacy_name"],
            "pharmacy_tier": r.choice(["chain", "single"]),
            "region": region,
            "expected_amount": r.randrange(5, 200) * 1000,
            "revenue_3m": r.randrange(10, 90) * 1000,
            "cost_3m": r.randrange(5, 60) * 1000,
        }
        view = self._do("create", lambda: self.rt.create("opportunity", data))
        if view is not None:
            due = self.clock.now().astimezone(self.zone).date() + self._dwell("appointment")
            self.opps.append(_Opp(view.id, "appointment", due, r.random() < self.plan.stall_share))

    def _dwell(self, stage: str) -> timedelta:
        mean = DWELL_DAYS.get(stage, 5)
        return timedelta(days=max(1, round(self.rng.expovariate(1 / mean))))

    def _opportunities(self, day: date) -> None:
        still: list[_Opp] = []
        for opp in self.opps:
            if opp.stalled or opp.due > day:
                still.append(opp)
                continue
            if self._advance(opp):
                if opp.stage not in ("won", "lost"):
                    opp.due = day + self._dwell(opp.stage)
                    still.append(opp)
            else:
                still.append(opp)
        self.opps = still

    def _advance(self, opp: _Opp) -> bool:
        r, rt = self.rng, self.rt
        if r.random() < 0.06 and opp.stage != "quote":  # some deals are lost on the way
            if self._do("move", lambda: rt.transition(opp.id, "lost")) is not None:
                opp.stage = "lost"
                return True
            return False
        target = OPP_CHAIN[OPP_CHAIN.index(opp.stage) + 1]
        for kind, content, media, name in EVIDENCE.get(opp.stage, []):
            self._do(
                "attach",
                rt.attach_evidence,
                opp.id,
                kind,
                content,
                file_name=name,
                media_type=media,
            )
        if target == "quote":  # some quotes above the regional cap: refused when leaving
            price = round(r.uniform(20, 50), 1)
            fields = {"product_class": r.choice(CLASSES), "quote_price": price}
            self._do("update", rt.update, opp.id, fields)
        if opp.stage == "quote" and rt.check_transition(opp.id, target):
            self._do("update", rt.update, opp.id, {"quote_price": 30.0})  # the rep lowers it
        if self._do("move", lambda: rt.transition(opp.id, target)) is not None:
            opp.stage = target
            return True
        return False

    def _tickets(self, day: date, n: int) -> None:
        r = self.rng
        for _ in range(self.plan.tickets_per_day):
            data = {
                "customer_tier": r.choices(["VIP", "normal", "trial"], [1, 6, 2])[0],
                "keyword_class": r.choice(["out_of_stock", "invoice", "system_error", "other"]),
                "severity": r.choices([1, 2, 3], [1, 3, 6])[0],
            }
            self._do("create", self.rt.create, "ticket", data)

    def _stock(self, day: date) -> None:
        r = self.rng
        count = len(self.distributors)
        take = min(max(self.plan.stock_distributors, 0), count)
        start = (self.stock_days * take) % count if count else 0
        self.stock_days += 1
        for dist in (self.distributors[(start + j) % count] for j in range(take)):
            for sku in SKUS:
                sales = r.randrange(5, 40)
                days_left = r.choices([r.uniform(2, 6.9), r.uniform(7, 30)], [1, 4])[0]
                data = {
                    "distributor": dist,
                    "sku": sku,
                    "daily_sales": sales,
                    "on_hand": int(sales * days_left),
                }
                self._do("ingest", self.rt.ingest, "distributor_stock", data)

    def _feedback(self) -> None:
        with self.rt.store.read() as conn:
            ids = [
                row[0]
                for row in conn.execute(
                    select(T_ALERT.c.id)
                    .where(T_ALERT.c.feedback.is_(None), T_ALERT.c.state == "firing")
                    .order_by(T_ALERT.c.id)
                    .limit(5)
                ).all()
            ]
        for alert_id in ids:
            verdict = "useful" if self.rng.random() < 0.8 else "false_positive"
            self._do("feedback", self.rt.alert_feedback, alert_id, verdict)


def digest(store: Store) -> str:
    """Return a digest of every record's entity, stage, status and data (ids aside)."""
    h = hashlib.sha256()
    with store.read() as conn:
        rows = conn.execute(
            select(T_RECORD.c.entity, T_RECORD.c.stage, T_RECORD.c.status, T_RECORD.c.data)
        ).all()
    for line in sorted(f"{e}|{s}|{st}|{sorted(d.items())}" for e, s, st, d in rows):
        h.update(line.encode())
    return h.hexdigest()


def counts(store: Store) -> dict[str, int]:
    """Return how many records each entity has, and how many alerts there are."""
    with store.read() as conn:
        out = {
            e: n
            for e, n in conn.execute(
                select(T_RECORD.c.entity, func.count()).group_by(T_RECORD.c.entity)
            ).all()
        }
        out["alerts"] = conn.execute(select(func.count()).select_from(T_ALERT)).scalar() or 0
    return out
