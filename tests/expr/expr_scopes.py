"""Shared scopes and records for the expression tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from engine.expr import ExprType, MetricSig, Scope, TableSig

T = ExprType
TIER = T.enum(["VIP", "normal", "trial"])
LINE = T.record("line", {"amount": T.NUMBER, "sku": T.STRING})
USER = T.record("user", {"name": T.STRING, "team": T.STRING})

RECORD = {
    "tier": TIER,
    "score": T.INTEGER,
    "keywords": T.list_of(T.STRING),
    "tags": T.list_of(T.enum(["urgent", "vip", "cold"])),
    "stock_days": T.INTEGER,
    "quote_price": T.NUMBER,
    "product_class": T.enum(["A", "B"]),
    "region": T.STRING,
    "name": T.STRING,
    "stage": T.STRING,
    "stage_entered_at": T.DATETIME,
    "order_date": T.DATE,
    "lines": T.list_of(LINE),
    "extra": T.ANY,
}

PRICE_CAPS = TableSig(
    name="price_caps",
    key=("product_class", "region"),
    columns={"product_class": T.enum(["A", "B"]), "region": T.STRING, "max_unit_price": T.NUMBER},
    rows=(
        {"product_class": "A", "region": "north", "max_unit_price": 10.0},
        {"product_class": "B", "region": "north", "max_unit_price": 20.0},
        {"product_class": "A", "region": "south", "max_unit_price": 12.5},
    ),
)
SEASONAL = TableSig(
    name="seasonal",
    key=("region",),
    columns={"region": T.STRING, "valid_from": T.DATE, "valid_to": T.DATE, "coef": T.NUMBER},
    rows=(
        {"region": "north", "valid_from": dt.date(2026, 1, 1), "valid_to": dt.date(2026, 3, 31),
         "coef": 1.2},
        {"region": "north", "valid_from": dt.date(2026, 4, 1), "valid_to": None, "coef": 0.9},
        {"region": "south", "valid_from": None, "valid_to": dt.date(2026, 6, 30), "coef": 1.5},
    ),
    range=("valid_from", "valid_to"),
)  # fmt: skip

SCOPE = Scope(
    record=RECORD,
    context={"now": T.DATETIME, "user": USER},
    constants={"params": {"region": "north", "threshold": 70}},
    tables={"price_caps": PRICE_CAPS, "seasonal": SEASONAL},
    metrics={"won_rate": MetricSig("won_rate", (("region", T.STRING),))},
    subject="entity 'lead'",
    evidence=("shelf_photo", "signed_contract"),
    assignments=("reviewer", "approver"),
)
NO_NOW = Scope(record=RECORD, subject="entity 'lead'")
SMALL = Scope(record={"score": T.INTEGER, "name": T.STRING})

NOW = dt.datetime(2026, 2, 10, 12, 0)


def metric_provider(name: str, group: tuple[Any, ...]) -> float | None:
    """Answer metric('won_rate', region) like the runtime would."""
    return {("won_rate", ("north",)): 0.5, ("won_rate", ("south",)): 0.25}.get((name, group))


def evidence_counter(kind: str, stays: str) -> int:
    """Answer evidence_count(kind, stays) like the runtime would: 2 now, 3 over all stays."""
    return {("shelf_photo", "current_stay"): 2, ("shelf_photo", "any_stay"): 3}.get(
        (kind, stays), 0
    )


CONTEXT: dict[str, Any] = {
    "now": NOW,
    "user": {"name": "ann", "team": "sales"},
    "metric": metric_provider,
    "evidence_count": evidence_counter,
    "assignee": {"reviewer": "rita"}.get,
}


def full_record() -> dict[str, Any]:
    """Return a lead with every field set."""
    return {
        "tier": "VIP",
        "score": 90,
        "keywords": ["invoice", "late"],
        "tags": ["urgent"],
        "stock_days": 3,
        "quote_price": 12.0,
        "product_class": "A",
        "region": "north",
        "name": " Ann Lee ",
        "stage": "quote",
        "stage_entered_at": dt.datetime(2026, 2, 7, 0, 0),
        "order_date": dt.date(2026, 2, 1),
        "lines": [{"amount": 2.5, "sku": "a"}, {"amount": None, "sku": "b"}],
        "extra": None,
    }
