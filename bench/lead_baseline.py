"""The hand-written lead creation both lead benchmarks measure sopflow against.

What a developer would write for the lead bundle of `bench/runtime_bundles.py` without
sopflow: a pydantic model of the 12 fields, the 17-term quality score and the pick of
the least-loaded matching rep among the 100 written by hand (loads kept in memory), and
one SQLAlchemy Core INSERT of the record row in its own transaction. In-process
(`bench/lead_creation.py`) and behind Litestar (`bench/serve_app.py`, KIND `lead`).

`Audited` is the same code also keeping, in the same transaction, the rows sopflow keeps
for a lead (`created` and `routed` events, the score's and the routing's explanations as
columns, the owner's load and its load item), built by hand and written straight to the
driver: a floor for what storing sopflow's audit costs, with none of its generality.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from sqlalchemy import Connection, Engine, insert

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


def feature_values(r: dict[str, Any]) -> list[float]:
    """The 17 feature values of the quality score, each within 0..1 (by hand)."""
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
    return [min(max(float(value), 0.0), 1.0) for value in values]


def quality_by_hand(r: dict[str, Any]) -> float:
    """The 17-feature quality score, written by hand (same arithmetic as the runtime)."""
    total = weights = 0.0
    for value, weight in zip(feature_values(r), WEIGHTS, strict=True):
        total += weight * value
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

    @staticmethod
    def validated(body: dict[str, Any]) -> dict[str, Any]:
        """Return the lead's values: whitespace normalised, validated, scored."""
        data = dict(body)
        if isinstance(data.get("pharmacy_name"), str):
            data["pharmacy_name"] = " ".join(data["pharmacy_name"].split())
        if isinstance(data.get("district"), str):
            data["district"] = data["district"].strip()
        values = LeadIn.model_validate(data).model_dump()
        values["quality_score"] = quality_by_hand(values)
        return values

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
        values = self.validated(body)
        owner, explained = self.choose(values)
        queue = None if owner else "unmatched_leads"
        if owner:
            self.loads[owner] += 1
        row = record_row("lead", values, owner, queue)
        with self.engine.begin() as conn:
            conn.execute(insert(T_RECORD), row)
            self.keep(conn, row["id"], values, owner, queue, explained)
        return row["id"], Decision(values["quality_score"], owner, queue)

    def choose(self, r: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
        """Return the owner picked and why (the baseline keeps no explanation)."""
        return self.pick(r), None

    def keep(
        self,
        conn: Connection,
        record_id: str,
        values: dict[str, Any],
        owner: str | None,
        queue: str | None,
        explained: dict[str, Any] | None,
    ) -> None:
        """Write what is kept besides the record row, in its transaction (the baseline: nothing)."""


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


_EVENT = (
    "INSERT INTO sf_event (at, record_id, entity, kind, actor, bundle_hash, detail) "
    "VALUES (?, ?, 'lead', ?, NULL, NULL, ?)"
)
_DECISION = (
    "INSERT INTO sf_decision (record_id, kind, rule, at, outcome, detail, version) "
    "VALUES (?, ?, ?, ?, ?, ?, NULL)"
)
_LOAD = "UPDATE sf_load SET open_count = open_count + 1 WHERE user_id = ?"
_NEW_LOAD = "INSERT INTO sf_load (user_id, open_count, round_robin_at) VALUES (?, 1, NULL)"
_LOAD_ITEM = "INSERT INTO sf_load_item (record_id, owner, counted, until) VALUES (?, ?, 1, NULL)"
_FEATURES = [f"f{k:02d}" for k in range(1, len(WEIGHTS) + 1)]
_AT = "2026-01-05 09:00:00.000000"  # NOW as SQLite keeps a datetime


class Audited(HandWritten):
    """The baseline also keeping the rows sopflow keeps for a lead, in the same transaction."""

    def choose(self, r: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """The least-loaded pick, keeping sopflow's explanation columns on the way."""
        region, specialty, district = r["region"], r["specialty"], r["district"]
        users: list[str] = []
        loads: list[int] = []
        excluded: list[int | None] = []
        scored: list[int] = []
        matches: list[float] = []
        values: list[tuple[float, float]] = []
        reasons = [f"not eligible: region == {region}", "match below the threshold"]
        best: tuple[float, float, str, int] | None = None
        for i, (rep, rep_region, specialties, territory) in enumerate(self.reps):
            users.append(rep)
            load = self.loads[rep]
            loads.append(load)
            if rep_region != region:
                excluded.append(0)
                continue
            parts = (float(specialty in specialties), float(district in territory))
            match = round(100 * (0.6 * parts[0] + 0.4 * parts[1]), 6)
            scored.append(i)
            matches.append(match)
            values.append(parts)
            if match < rb.THRESHOLD:
                excluded.append(1)
                continue
            excluded.append(None)
            key = (float(load), -match, rep, i)
            if best is None or key < best:
                best = key
        columns: dict[str, Any] = {
            "user": users,
            "load": loads,
            "capacity": None,
            "excluded": excluded,
            "reasons": reasons,
            "scored": scored,
            "match": matches,
            "features": {
                "feature": ["specialty", "territory"],
                "weight": [0.6, 0.4],
                "value": values,
                "contribution": [[60 * a, 40 * b] for a, b in values],
            },
        }
        if best is None:
            return None, columns
        columns["chosen"] = best[3]
        return best[2], columns

    def keep(
        self,
        conn: Connection,
        record_id: str,
        values: dict[str, Any],
        owner: str | None,
        queue: str | None,
        explained: dict[str, Any] | None,
    ) -> None:
        """Write the events, explanations and load rows, straight to the driver."""
        total = sum(WEIGHTS)
        features = feature_values(values)
        score = {
            "score": values["quality_score"],
            "features": {
                "feature": _FEATURES,
                "weight": list(WEIGHTS),
                "value": features,
                "contribution": [
                    round(100 * w * v / total, 6) for w, v in zip(WEIGHTS, features, strict=True)
                ],
            },
        }
        reason = f"least loaded: {self.loads[owner] - 1} open records" if owner else "no candidate"
        routing = {"owner": owner, "queue": queue, "reason": reason, "candidates": explained}
        routed = {"rule": "lead_routing", "owner": owner, "queue": queue, "reason": reason}
        encode = msgspec.json.encode

        def dumps(value: Any) -> str:
            return encode(value).decode()

        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_EVENT, (_AT, record_id, "created", dumps({"data": values})))
            cursor.execute(
                _DECISION,
                (record_id, "score", "lead_quality", _AT, str(score["score"]), dumps(score)),
            )
            cursor.execute(
                _DECISION,
                (
                    record_id,
                    "routing",
                    "lead_routing",
                    _AT,
                    owner or f"queue:{queue}",
                    dumps(routing),
                ),
            )
            if owner:
                cursor.execute(_LOAD, (owner,))
                if cursor.rowcount == 0:
                    cursor.execute(_NEW_LOAD, (owner,))
                cursor.execute(_LOAD_ITEM, (record_id, owner))
            cursor.execute(_EVENT, (_AT, record_id, "routed", dumps(routed)))
        finally:
            cursor.close()
