"""A simulated quarter: fill a store through the runtime's own commands and a fake clock.

Everything the demo leaves behind (scores, owners, routing reasons, timers, alerts, the
forecast history) is what the runtime computed from commands: the demo only decides, from
a seeded random generator, which commands run and when. Same seed, same commands.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from engine.bundle import Bundle
from engine.spec.manifest import Calendar
from runtime.clock import FakeClock, utc
from runtime.core import Runtime
from runtime.errors import CommandError
from runtime.people import manager_of
from runtime.store import T_ALERT, T_EVENT, T_RECORD, Store

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
SPECIALTIES = ["otc", "prescription", "devices"]  # when the lead form declares none
TOUCHPOINTS = ["web_form", "email_opened", "whitepaper", "demo_booked"]
CLASSES = ["herbal_pieces", "antibiotics"]
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
OFF_DAY_DEMAND = 0.15  # a weekend or holiday brings this share of a working day's leads
SKUS = ["cola-330", "tea-500", "ibuprofen-200", "vitc-100", "mask-n95"]
KEYWORDS = ["out_of_stock", "invoice", "system_error", "other"]
# Service desk: mean hours a ticket waits before an agent takes it, and is worked
# before it is resolved, by severity (1 = most severe); a resolved ticket is closed
# one to three days later. Simulation choices, not business rules: the SLA itself
# (ticket_handling.yaml) decides which waits breach.
TAKE_HOURS = {1: 0.5, 2: 1.5, 3: 4.0}
WORK_HOURS = {1: 2.0, 2: 6.0, 3: 16.0}
DESK_OPEN, DESK_CLOSE = time(9, 0), time(18, 0)
#: The event a demo run leaves (no record): `sopflow serve` prints the demo staff's
#: tokens on a database that holds it.
DEMO_EVENT = "demo_filled"


@dataclass
class DemoPlan:
    """What to simulate: the seed, how many leads, which quarter."""

    seed: int = 1
    leads: int = 100_000
    quarter: str = "2026Q1"
    opportunity_share: float = 0.03  # leads a rep turns into an opportunity
    stall_share: float = 0.15  # opportunities that stop moving (SLA breaches, stall alerts)
    goods_share: float = 0.1  # consumer-goods leads (an industry and a city) when reps sell them
    stray_share: float = 0.1  # pharmacy leads from any district, not one a rep covers
    tickets_per_day: int = 8
    late_share: float = 0.12  # tickets nobody takes before the next morning but one
    transfer_share: float = 0.2  # tickets sent back to triage and on to another seat group
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
    stall_at: str | None  # the stage it stops moving in (None: it runs to won or lost)


@dataclass
class _Staff:
    """Who the demo acts for, all read from the bundle's users (any number of them)."""

    reps: list[str]
    pharmacy: list[tuple[list[str], list[str]]]  # a pharmacy rep's territory and specialties
    goods: list[tuple[list[str], list[str]]]  # a goods rep's territory (cities), industries
    districts: list[str]  # every rep territory and every canonical district, sorted
    agents: list[str]
    regions: dict[str, str]  # rep -> region

    @classmethod
    def of(cls, bundle: Bundle) -> _Staff:
        reps: list[str] = []
        agents: list[str] = []
        pharmacy: list[tuple[list[str], list[str]]] = []
        goods: list[tuple[list[str], list[str]]] = []
        districts: set[str] = set()
        regions: dict[str, str] = {}
        for user, spec in sorted(bundle.manifest.users.items()):
            if not spec.active:
                continue
            extra = spec.model_extra or {}
            if "agent" in spec.roles:
                agents.append(user)
            if "rep" not in spec.roles:
                continue
            reps.append(user)
            if extra.get("region"):
                regions[user] = str(extra["region"])
            territory = [str(t) for t in extra.get("territory") or []]
            if not territory:
                continue
            if extra.get("industries"):
                goods.append((territory, [str(i) for i in extra["industries"]]))
            else:
                pharmacy.append((territory, [str(i) for i in extra.get("specialty") or []]))
                districts.update(territory)
        table = bundle.tables.get("districts")
        if table is not None:
            districts.update(str(r["canonical"]) for r in table.rows if r.get("canonical"))
        return cls(reps, pharmacy, goods, sorted(districts) or ["unknown"], agents, regions)


Progress = Callable[[int], None]
Action = Callable[[], None]


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


def _reps_calendar(bundle: Bundle, reps: list[str]) -> Calendar | None:
    """Return the calendar most reps work by (None when none has one)."""
    names = Counter(
        spec.calendar
        for rep in reps
        if (spec := bundle.manifest.users.get(rep)) is not None and spec.calendar
    )
    if not names:
        return None
    return bundle.manifest.calendars.get(names.most_common(1)[0][0])


def _spans(calendar: Calendar | None) -> list[tuple[int, int]]:
    """Return a working day's hours as (start, end) seconds after midnight."""
    hours = calendar.hours if calendar is not None else ["09:00-18:00"]
    spans = []
    for span in hours:
        start, end = (int(t[:2]) * 3600 + int(t[3:5]) * 60 for t in str(span).split("-"))
        spans.append((start, end))
    return spans or [(9 * 3600, 18 * 3600)]


def _values(bundle: Bundle, entity: str, name: str, default: list[str]) -> list[str]:
    """Return an enum field's values as the bundle's form declares them."""
    form = bundle.forms.get(entity)
    spec = form.spec.fields.get(name) if form is not None else None
    return list(spec.values) if spec is not None and spec.values else default


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
        self.staff = _Staff.of(bundle)
        self.sources = _values(bundle, "lead", "source", ["web_form"])
        self.specialties = _values(bundle, "lead", "specialty", SPECIALTIES)
        self.industries = _values(bundle, "lead", "industry", [])
        self.opp_regions = _values(bundle, "opportunity", "region", ["sichuan"])
        self.distributors = [r["distributor"] for r in bundle.tables["distributors"].rows]
        self.pending: list[tuple[datetime, int, Action]] = []  # the service desk's next steps
        self.seq = 0
        self.stock_days = 0
        self.calendar = _reps_calendar(bundle, self.staff.reps)
        self.office_hours = _spans(self.calendar)

    def _at(self, day: date, clock: time) -> datetime:
        """Return the bundle's local `day` at `clock` as naive UTC (the clock's terms)."""
        return utc(datetime.combine(day, clock, self.zone))

    def _local(self, when: datetime) -> datetime:
        return when.replace(tzinfo=UTC).astimezone(self.zone)

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
        self._mark()
        self.rt.tick(self.clock.now())  # registers the schedules from the first day
        per_day = self._spread(self.plan.leads, [self._demand(day) for day in self.days])
        for n, day in enumerate(self.days):
            self._until(self._at(day, time(8, 30)))
            self._tick()  # the morning tick: what fell due overnight (SLA breaches) fires
            self._tickets(day)
            made = 0
            for i in range(per_day[n]):
                seconds = self._office_second(i, per_day[n])
                self._until(self._at(day, time(0)) + timedelta(seconds=seconds))
                self._lead(n, i)
                made += 1
                if made % 50 == 0:
                    yield 50
            self._until(self._at(day, time(18, 30)))
            self._opportunities(day)
            if n % self.plan.stock_every_days == 0:
                self._stock(day)
            self._feedback()
            self._until(self._at(day, time(23, 0)))
            self._tick()
            yield made % 50

    def _mark(self) -> None:
        """Leave the demo's event: `sopflow serve` then knows this database is a demo."""
        plan = self.plan
        with self.rt.store.begin(self.clock.now()) as tx:
            tx.event(DEMO_EVENT, None, None, seed=plan.seed, quarter=plan.quarter, leads=plan.leads)

    def _tick(self) -> None:
        self._do("tick", lambda: self.rt.tick(self.clock.now()))

    def _later(self, when: datetime, action: Action) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (when, self.seq, action))

    def _until(self, when: datetime) -> None:
        """Run every service-desk step due by `when` at its own time, then set the clock."""
        while self.pending and self.pending[0][0] <= when:
            due, _, action = heapq.heappop(self.pending)
            self.clock.set(max(due, self.clock.now()))
            action()
        self.clock.set(max(when, self.clock.now()))

    def _demand(self, day: date) -> float:
        """Return how many leads `day` brings, relative to a working day of the reps'
        calendar (a weekend or a holiday brings a few: they wait for Monday in a queue)."""
        cal = self.calendar
        if cal is None:
            return 1.0
        working = WEEKDAYS[day.weekday()] in cal.weekdays and day not in cal.holidays
        return 1.0 if working else OFF_DAY_DEMAND

    def _office_second(self, i: int, n: int) -> int:
        """Return the second of the day the `i`-th of `n` leads arrives: spread evenly over
        the working hours of the reps' calendar (09:00-18:00 without one)."""
        spans = self.office_hours
        total = sum(end - start for start, end in spans)
        offset = (total * i) // max(n, 1)
        for start, end in spans:
            if offset < end - start:
                return start + offset
            offset -= end - start
        return spans[-1][1] - 1

    @staticmethod
    def _spread(total: int, weights: list[float]) -> list[int]:
        """Split `total` over days in proportion to `weights` (largest remainders first)."""
        whole = sum(weights) or 1.0
        shares = [total * w / whole for w in weights]
        counts = [int(x) for x in shares]
        order = sorted(range(len(shares)), key=lambda d: (counts[d] - shares[d], d))
        for d in order[: total - sum(counts)]:
            counts[d] += 1
        return counts

    def _lead(self, day: int, i: int) -> None:
        r = self.rng
        data: dict[str, Any] = {
            "source": r.choice(self.sources),
            "external_id": f"Q{day:02d}-{i:05d}",
            "pharmacy_name": f"Pharmacy {r.randrange(1, 40_000):05d}",
            "orders_90d": r.randrange(0, 60),
            "turnover_rate": round(r.uniform(0.5, 12.0), 1),
            "policy_change": r.random() < 0.1,
            "touchpoints": r.sample(TOUCHPOINTS, r.randrange(0, 4)),
        }
        staff = self.staff
        if staff.goods and self.industries and r.random() < self.plan.goods_share:
            cities, industries = r.choice(staff.goods)  # demand where a goods rep sells
            data["city"] = r.choice(cities)
            data["industry"] = r.choice(
                [i for i in industries if i in self.industries] or self.industries
            )
        elif staff.pharmacy and r.random() >= self.plan.stray_share:
            territory, specialties = r.choice(staff.pharmacy)  # where a pharmacy rep works
            data["district"] = r.choice(territory)
            data["specialty"] = r.choice(
                [s for s in specialties if s in self.specialties] or self.specialties
            )
        else:  # anywhere: some find no rep and wait in the fallback queue
            data["district"] = r.choice(staff.districts)
            data["specialty"] = r.choice(self.specialties)
        made = self._do("ingest", lambda: self.rt.ingest("lead", data))
        if r.random() < self.plan.opportunity_share:
            owner = made[0].owner if made is not None else None
            self._new_opportunity(data, owner)

    def _new_opportunity(self, lead: dict[str, Any], owner: str | None) -> None:
        r = self.rng
        region = self.staff.regions.get(owner or "")
        data = {
            "pharmacy_name": lead["pharmacy_name"],
            "pharmacy_tier": r.choice(["chain", "single"]),
            "region": region if region in self.opp_regions else r.choice(self.opp_regions),
            "expected_amount": r.randrange(5, 200) * 1000,
            "revenue_3m": r.randrange(10, 90) * 1000,
            "cost_3m": r.randrange(5, 60) * 1000,
        }
        view = self._do("create", lambda: self.rt.create("opportunity", data))
        if view is None:
            return
        if owner is not None:  # the lead's rep works the deal
            self._do("assign", self.rt.assign, view.id, user=owner)
        due = self._local(self.clock.now()).date() + self._dwell("appointment")
        stall = r.choice(OPP_CHAIN[:-2]) if r.random() < self.plan.stall_share else None
        self.opps.append(_Opp(view.id, "appointment", due, stall))

    def _dwell(self, stage: str) -> timedelta:
        mean = DWELL_DAYS.get(stage, 5)
        return timedelta(days=max(1, round(self.rng.expovariate(1 / mean))))

    def _opportunities(self, day: date) -> None:
        still: list[_Opp] = []
        for opp in self.opps:
            if opp.stall_at == opp.stage or opp.due > day:
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

    # -- the service desk ---------------------------------------------------------
    def _tickets(self, day: date) -> None:
        """Plan the day's tickets: they arrive from 07:00 to 21:00, each worked later."""
        r = self.rng
        start = self._at(day, time(7, 0))
        arrivals = sorted(r.randrange(14 * 3600) for _ in range(self.plan.tickets_per_day))
        for seconds in arrivals:
            data = {
                "customer_tier": r.choices(["VIP", "normal", "trial"], [1, 6, 2])[0],
                "keyword_class": r.choice(KEYWORDS),
                "severity": r.choices([1, 2, 3], [1, 3, 6])[0],
                "channel": r.choice(["phone", "email", "wechat", "api"]),
            }
            self._later(start + timedelta(seconds=seconds), partial(self._ticket, data))

    def _on_desk(self, when: datetime) -> datetime:
        """Return `when`, or the desk's next opening when it falls outside its hours."""
        local = self._local(when)
        if local.time() < DESK_OPEN:
            return self._at(local.date(), DESK_OPEN)
        if local.time() >= DESK_CLOSE:
            return self._at(local.date() + timedelta(days=1), DESK_OPEN)
        return when

    def _hours(self, mean: float) -> timedelta:
        return timedelta(hours=self.rng.expovariate(1 / mean))

    def _ticket(self, data: dict[str, Any]) -> None:
        view = self._do("create", self.rt.create, "ticket", data)
        if view is None or not self.staff.agents:
            return
        now, severity = self.clock.now(), int(data["severity"])
        if self.rng.random() < self.plan.late_share:  # left until the morning after next
            day = self._local(now).date() + timedelta(days=2)
            when = self._at(day, DESK_OPEN) + self._hours(2)
        else:
            when = self._on_desk(now + self._hours(TAKE_HOURS[severity]))
        self._later(when, partial(self._take, view.id, severity, True))

    def _take(self, ticket: str, severity: int, first: bool) -> None:
        """An agent takes the ticket and starts on it; it is transferred, or resolved."""
        agent = self.rng.choice(self.staff.agents)
        self._do("assign", self.rt.assign, ticket, user=agent)
        if self._do("move", self.rt.transition, ticket, "in_progress") is None:
            return
        now = self.clock.now()
        if first and self.rng.random() < self.plan.transfer_share:
            self._later(now + self._hours(1), partial(self._transfer, ticket, severity))
            return
        when = self._on_desk(now + self._hours(WORK_HOURS[severity]))
        self._later(when, partial(self._resolve, ticket))

    def _transfer(self, ticket: str, severity: int) -> None:
        """Back to triage as another kind of question: routed to another seat group."""
        if self._do("move", self.rt.transition, ticket, "triage") is None:
            return
        keyword = self.rng.choice(KEYWORDS)
        self._do("update", self.rt.update, ticket, {"keyword_class": keyword})
        when = self._on_desk(self.clock.now() + self._hours(TAKE_HOURS[severity]))
        self._later(when, partial(self._take, ticket, severity, False))

    def _resolve(self, ticket: str) -> None:
        if self._do("move", self.rt.transition, ticket, "resolved") is None:
            return
        days = timedelta(days=self.rng.randint(1, 3))
        self._later(self.clock.now() + days, partial(self._close, ticket))

    def _close(self, ticket: str) -> None:
        self._do("move", self.rt.transition, ticket, "closed")

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


def is_demo(store: Store) -> bool:
    """Tell whether `sopflow demo` filled this store (it left its `demo_filled` event)."""
    query = select(T_EVENT.c.id).where(T_EVENT.c.record_id.is_(None), T_EVENT.c.kind == DEMO_EVENT)
    with store.read() as conn:
        return conn.execute(query.limit(1)).first() is not None


@dataclass(frozen=True)
class DemoPerson:
    """One of the people a newcomer logs in as on demo data: a bundle user and a role."""

    user: str
    role: str
    note: str


def demo_staff(bundle: Bundle, store: Store) -> list[DemoPerson]:
    """Return the rep who holds the most open records, their manager, and an analyst.

    All three are bundle users: the rep with most open records owned (ties: by user id),
    the rep's manager (else the first manager), the first analyst by id. A role the
    bundle does not have, or nobody holds, is left out.
    """
    users = bundle.manifest.users
    reps = sorted(u for u, s in users.items() if s.active and "rep" in s.roles)
    people: list[DemoPerson] = []
    if reps:
        held = func.count().label("n")
        query = (
            select(T_RECORD.c.owner, held)
            .where(T_RECORD.c.status == "open", T_RECORD.c.owner.in_(reps))
            .group_by(T_RECORD.c.owner)
            .order_by(held.desc(), T_RECORD.c.owner)
            .limit(1)
        )
        with store.read() as conn:
            top = conn.execute(query).first()
        rep, n = (str(top[0]), int(top[1])) if top is not None else (reps[0], 0)
        people.append(DemoPerson(rep, "rep", f"owns {n} open records"))
        manager = manager_of(bundle, rep)
        if manager is not None and manager in users and users[manager].active:
            people.append(DemoPerson(manager, "manager", f"{rep}'s manager"))
    if not any(p.role == "manager" for p in people):
        managers = sorted(u for u, s in users.items() if s.active and "manager" in s.roles)
        people += [DemoPerson(managers[0], "manager", "a manager")] if managers else []
    analysts = sorted(u for u, s in users.items() if s.active and "analyst" in s.roles)
    people += [DemoPerson(analysts[0], "analyst", "an analyst")] if analysts else []
    return people


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
