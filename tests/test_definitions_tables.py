"""The default bundle's reference tables hold what the case studies name.

The pharmacy seed's library of 127 legal-reviewed objection-handling scripts (P7) and the
consumer-goods seed's 127 core distributors reporting stock by API (F9).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle

DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"
CATEGORIES = {
    "price",
    "competitor",
    "stock",
    "payment",
    "insurance",
    "efficacy",
    "delivery",
    "display",
    "promotion",
    "compliance",
}


def _bundle() -> Bundle:
    bundle = compile_bundle(DEFINITIONS).bundle
    assert bundle is not None
    return bundle


def test_127_distinct_scripts_each_reviewed_by_legal_in_every_category() -> None:
    bundle = _bundle()
    rows = bundle.tables["objection_scripts"].rows
    assert len(rows) == 127
    for column in ("code", "objection", "script"):
        assert len({r[column] for r in rows}) == 127, column
    assert {r["category"] for r in rows} == CATEGORIES
    classes = {r["product_class"] for r in bundle.tables["products"].rows}
    assert {r["product_class"] for r in rows} == classes | {"any"}
    for row in rows:
        assert row["code"].startswith(f"{row['category']}-"), row["code"]
        assert row["keywords"] and all(isinstance(k, str) and k for k in row["keywords"])
        assert row["legal_reviewed"] is True
        assert isinstance(row["reviewed_on"], date)
    # the sample the tests have named since the start keeps its codes and text
    first = {r["code"]: r for r in rows}
    assert first["price-01"]["objection"] == "Your price is higher than the competitor's"
    assert first["compliance-01"]["script"].startswith("Show the product's registration")


def test_127_distributors_across_the_12_regions_each_with_a_declared_rep() -> None:
    bundle = _bundle()
    rows = bundle.tables["distributors"].rows
    assert len(rows) == 127
    assert len({r["distributor"] for r in rows}) == 127
    # the rows tests name stay as they were
    assert [dict(r) for r in rows[:3]] == [
        {"distributor": "hangzhou-lianhua", "region": "east", "rep": "li.wei", "cover_days": 14},
        {"distributor": "ningbo-sanjiang", "region": "east", "rep": "li.wei", "cover_days": 21},
        {"distributor": "tianjin-jiajia", "region": "north", "rep": "chen.jie", "cover_days": 14},
    ]
    regions = {w.params["region"] for w in bundle.workflows.values() if w.template}
    assert len(regions) == 12
    assert {r["region"] for r in rows} == regions
    users = bundle.manifest.users
    for row in rows:
        assert row["rep"] in users and "rep" in users[row["rep"]].roles, row
        assert row["cover_days"] >= 7, row  # more than the 7-day alert threshold
