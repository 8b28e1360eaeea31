"""The hand-written lead creation both lead benchmarks measure sopflow against.

What a developer would write for the lead bundle of `bench/runtime_bundles.py` without
sopflow: a pydantic model of the 12 fields, the 17-term quality score and the pick of
the least-loaded matching rep among the 100 written by hand (loads kept in memory), and
one SQLAlchemy Core INSERT of the record row in its own transaction. In-process
(`bench/lead_creation.py`) and behind Litestar (`bench/serve_app.py`, KIND `lead`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Engine, insert

from bench import runtime_bundles as rb
from runtime.store import T_RECORD

WEIGHTS = tuple(w for _, w in rb.LEAD_FEATURES)
NOW = datetime(2026, 1, 5, 9, 0)

Region = Literal["sichuan", "chongqing", "yunnan", "guizhou"]
Touchpoint = Literal["web_form", "email_opened", "whitepaper", "demo_booked"]


class LeadIn(BaseModel):
    """The lead body as a developer would declare it for a hand-written endpoint."""

    model_config = ConfigDict(extra="forbid")

    pharmacy_name: str
    district: str | None = None
    region: Region
    specialty: Literal["otc", "prescription", "devices"] | None = None
    tier: Literal["VIP", "normal", "trial"] = "normal"
    intent: StrictInt | None = Field(None, ge=0, le=100)
    keywords: list[str] | None = Field(None, max_length=20)
    stock_days: float | None = Field(None, ge=0)
    orders_90d: StrictInt | None = Field(None, ge=0)
    revenue_3m: float | None = None
    margin_3m: float | None = None
    touchpoints: list[Touchpoint] | None = None


def _clamp(x: float) -> float:
    return 0 if x < 0 else 1 if x > 1 else x


def quality_by_hand(r: dict[str, Any]) -> float:
    """The 17-feature quality score, written by hand (same arithmetic as the runtime)."""
    kw, tp, stock = r["keywords"] or [], r["touchpoints"] or [], r["stock_days"]
    revenue, margin, intent = r["revenue_3m"], r["margin_3m"], r["intent"]
    values = (
        _clamp(r["orders_90d"] / 12),
        r["tier"] == "VIP",
        0 if r["tier"] == "trial" else 1,
        _clamp(intent / 100),
        "invoice" in kw,
        stock < 7,
        _clamp(1 - stock / 30),
        _clamp(margin / 20000),
        _clamp(margin / revenue) if revenue else 0,
        _clamp(revenue / 100000),
        r["specialty"] == "prescription",
        _clamp(len(kw) / 5),
        r["region"] == "sichuan",
        "demo_booked" in tp,
        _clamp(len(tp) / 4),
        r["district"] is not None,
        intent >= 50,
    )
    total = weights = 0.0
    for value, weight in zip(values, WEIGHTS, strict=True):
        total += weight * min(max(float(value), 0.0), 1.0)
        weights += weight
    return round(100 * total / weights, 6)


@dataclass(frozen=True)
class Decision:
    """What creating a lead decided: score, owner, queue."""

    score: float | None
    owner: str | None
    queue: str | None


class HandWritten:
    """The baseline: validate, score, pick the least-loaded matching rep, insert one row."""

    def __init__(self, engine: Engine, reps: list[rb.Rep]) -> None:
        self.engine = engine
        self.reps = [(r.id, r.region, frozenset(r.specialty), frozenset(r.territory)) for r in reps]
        self.loads = {r.id: 0 for r in reps}

    def pick(self, r: dict[str, Any]) -> str | None:
        """Return the least-loaded rep in the lead's region whose match reaches 82."""
        region, specialty, district = r["region"], r["specialty"], r["district"]
        best: tuple[float, float, str] | None = None
        for rep, rep_region, specialties, territory in self.reps:
            if rep_region != region:
                continue
            match = round(
                100 * (0.6 * (specialty in specialties) + 0.4 * (district in territory)), 6
            )
            if match < rb.THRESHOLD:
                continue
            key = (float(self.loads[rep]), -match, rep)
            if best is None or key < best:
                best = key
        return best[2] if best else None

    def create(self, body: dict[str, Any]) -> tuple[str, Decision]:
        """Create one lead in its own transaction; return its id and what was decided.

        Not thread-safe (the loads): a server calls it under a lock.
        """
        data = dict(body)
        if isinstance(data.get("pharmacy_name"), str):
            data["pharmacy_name"] = " ".join(data["pharmacy_name"].split())
        if isinstance(data.get("district"), str):
            data["district"] = data["district"].strip()
        values = LeadIn.model_validate(data).model_dump()
        values["quality_score"] = quality_by_hand(values)
        owner = self.pick(values)
        queue = None if owner else "unmatched_leads"
        if owner:
            self.loads[owner] += 1
        row = record_row("lead", values, owner, queue)
        with self.engine.begin() as conn:
            conn.execute(insert(T_RECORD), row)
        return row["id"], Decision(values["quality_score"], owner, queue)


def record_row(
    entity: str, data: dict[str, Any], owner: str | None, queue: str | None
) -> dict[str, Any]:
    """Return a new `sf_record` row holding `data`."""
    return {
        "id": uuid.uuid4().hex,
        "entity": entity,
        "status": "open",
        "owner": owner,
        "queue": queue,
        "data": data,
        "schema_version": 1,
        "read_only": False,
        "row_version": 1,
        "created_at": NOW,
        "updated_at": NOW,
    }
