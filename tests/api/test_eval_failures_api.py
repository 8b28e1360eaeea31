"""Evaluation failures over HTTP: in a record's explain, counted per rule (JSON, Prometheus).

Each test runs on SQLite and PostgreSQL (make_api).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import Api
from tests.runtime.evalerr_bundle import BIG, TOO_LARGE, write_bundle

DOC = (Path(__file__).resolve().parents[2] / "docs" / "expressions.md").read_text("utf-8")
SECTION = DOC.split("## When an expression fails", 1)[1].split("\n## ", 1)[0]
V1 = "/api/v1"
FAILURES = f"{V1}/metrics/evaluation-failures"


def test_failures_show_in_explain_and_count_per_rule(
    make_api: Callable[..., Api], tmp_path: Path
) -> None:
    api = make_api(write_bundle(tmp_path / "bundle"))
    runtime = api.server.runtime
    assert runtime is not None
    order = runtime.create("order", {"label": "ab", "copies": BIG}, actor="ann")
    runtime.update(order.id, {"label": "abc"}, actor="ann")

    response = api.call(
        "GET", f"{V1}/records/order/{order.id}/explain?kind=evaluation_failed", "ann"
    )
    assert response.status_code == 200, response.text
    first = response.json()[0]
    assert (first["rule"], first["outcome"], first["record_id"]) == (
        "order.banner",
        "computed",
        order.id,
    )
    assert first["detail"] == {
        "where": "computed",
        "rule": "order.banner",
        "field": "banner",
        "expression": "label * copies",
        "error": TOO_LARGE,
    }
    assert [row["rule"] for row in response.json()] == [
        "order.banner",
        "order_fit",
        "long_banner",
    ] * 2

    response = api.call("GET", FAILURES, "max")
    assert response.status_code == 200, response.text
    assert [(i["kind"], i["rule"], i["failures"]) for i in response.json()["items"]] == [
        ("alert", "long_banner", 2),
        ("computed", "order.banner", 2),
        ("score", "order_fit", 2),
    ]
    assert response.json()["items"][0]["last_at"] == "2026-01-05T09:00:00+00:00"

    response = api.call("GET", f"{FAILURES}?format=prometheus", "max")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    # docs/expressions.md shows this decision and this line as they are.
    [example] = re.findall(r"```json\n(.*?)```", SECTION, re.S)
    shown = {k: first[k] for k in ("kind", "rule", "outcome", "detail")}
    assert json.loads(example) == shown
    assert response.text.splitlines()[3] in SECTION.replace("\n", " ")
    assert response.text.splitlines()[2:] == [
        'sopflow_rule_evaluation_failures_total{kind="alert",rule="long_banner"} 2',
        'sopflow_rule_evaluation_failures_total{kind="computed",rule="order.banner"} 2',
        'sopflow_rule_evaluation_failures_total{kind="score",rule="order_fit"} 2',
    ]


def test_the_counts_need_the_metrics_role_and_a_known_format(
    make_api: Callable[..., Api], tmp_path: Path
) -> None:
    api = make_api(write_bundle(tmp_path / "bundle"))
    assert api.call("GET", FAILURES, "ann").status_code == 403
    response = api.call("GET", f"{FAILURES}?format=xml", "max")
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == "unknown format 'xml'"
    assert api.call("GET", FAILURES, "max").json() == {"items": []}


def test_a_failure_of_a_field_the_caller_may_not_read_is_left_out(
    make_api: Callable[..., Api], tmp_path: Path
) -> None:
    root = write_bundle(tmp_path / "bundle")
    text = (root / "bundle.yaml").read_text(encoding="utf-8")
    hidden = 'banner: {type: string, computed: "label * copies", read: [manager]}'
    (root / "bundle.yaml").write_text(
        text.replace('banner: {type: string, computed: "label * copies"}', hidden),
        encoding="utf-8",
    )
    api = make_api(root)
    runtime = api.server.runtime
    assert runtime is not None
    order = runtime.create("order", {"label": "ab", "copies": BIG}, actor="ann")
    path = f"{V1}/records/order/{order.id}/explain?kind=evaluation_failed"
    seen = {
        user: [r["rule"] for r in api.call("GET", path, user).json()] for user in ("ann", "max")
    }
    assert seen == {
        "ann": ["order_fit", "long_banner"],
        "max": ["order.banner", "order_fit", "long_banner"],
    }
