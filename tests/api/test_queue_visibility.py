"""A queue someone may not see (`visible_to`) stays hidden through every endpoint.

The default bundle's `unmatched_leads` is seen by managers and directors only; the
administrator (role admin) reads every lead but not that queue, and the rep li.wei reads
only the leads he holds. A prescription lead in Wuhou waits there (P3).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.api.conftest import DEFINITIONS, Api

V1 = "/api/v1"
QUEUE = "unmatched_leads"
REP, MANAGER, ADMIN = "li.wei", "zhang.min", "admin"
MakeApi = Callable[..., Api]


def waiting_lead(api: Api, n: int = 1) -> str:
    """Create a lead nobody may take: it waits in unmatched_leads."""
    runtime = api.server.runtime
    assert runtime is not None
    data = {
        "source": "meituan",
        "external_id": f"Q-{n}",
        "pharmacy_name": f"Pharmacy {n}",
        "district": "wuhou",
        "specialty": "prescription",
        "orders_90d": 6,
    }
    view = runtime.create("lead", data)
    assert view.queue == QUEUE
    return view.id


def test_listing_with_a_hidden_queue_filter_is_like_an_unknown_queue(make_api: MakeApi) -> None:
    api = make_api()
    waiting_lead(api)
    hidden = api.call("GET", f"{V1}/records/lead?queue={QUEUE}", ADMIN)
    unknown = api.call("GET", f"{V1}/records/lead?queue=no_such_queue", ADMIN)
    assert hidden.status_code == unknown.status_code == 200
    assert hidden.json() == unknown.json() == {"items": [], "total": 0, "next": None}
    seen = api.call("GET", f"{V1}/records/lead?queue={QUEUE}", MANAGER).json()
    assert seen["total"] == 1 and seen["items"][0]["queue"] == QUEUE
    both = api.call("GET", f"{V1}/records/lead?queue={QUEUE}&queue=general_service", ADMIN)
    assert both.json()["total"] == 0


def test_a_record_in_a_hidden_queue_does_not_name_it(make_api: MakeApi) -> None:
    api = make_api()
    lead_id = waiting_lead(api)
    for path in (
        f"{V1}/records/lead/{lead_id}",
        f"{V1}/records/lead",
        f"{V1}/records/lead/{lead_id}/audit",
        f"{V1}/records/lead/{lead_id}/explain",
        f"{V1}/records/lead/{lead_id}/history",
        f"{V1}/queues",
    ):
        answer = api.call("GET", path, ADMIN)
        assert answer.status_code == 200, (path, answer.text)
        assert QUEUE not in answer.text, (path, answer.text)
        assert QUEUE in api.call("GET", path, MANAGER).text or path.endswith("history")
    record = api.call("GET", f"{V1}/records/lead/{lead_id}", ADMIN).json()
    assert (record["owner"], record["queue"]) == (None, None)
    [routing] = api.call("GET", f"{V1}/records/lead/{lead_id}/explain?kind=routing", ADMIN).json()
    assert routing["outcome"] is None
    assert routing["detail"]["reason"] == "no candidate passed; waiting in a queue you do not see"
    routed = [
        e
        for e in api.call("GET", f"{V1}/records/lead/{lead_id}/audit", ADMIN).json()
        if e["kind"] == "routed"
    ]
    assert routed[0]["detail"]["queue"] is None


def test_the_hidden_queue_itself_is_a_404_like_an_unknown_one(make_api: MakeApi) -> None:
    api = make_api()
    waiting_lead(api)
    hidden = api.call("GET", f"{V1}/queues/{QUEUE}", REP)
    assert hidden.status_code == 404
    assert hidden.json()["detail"] == f"there is no queue '{QUEUE}'"
    assert QUEUE not in json.dumps(hidden.json()["extra"])
    assert api.call("GET", f"{V1}/queues/{QUEUE}", MANAGER).json()["total"] == 1
    names = [q["name"] for q in api.call("GET", f"{V1}/queues", REP).json()]
    assert QUEUE not in names


def test_assigning_to_a_hidden_queue_is_like_an_unknown_queue(make_api: MakeApi) -> None:
    api = make_api()
    runtime = api.server.runtime
    assert runtime is not None
    lead_id = runtime.create(
        "lead",
        {
            "source": "meituan",
            "external_id": "Q-9",
            "pharmacy_name": "P",
            "district": "jinjiang",
            "specialty": "otc",
            "orders_90d": 6,
        },
    ).id
    body = {"queue": QUEUE}
    hidden = api.call("POST", f"{V1}/records/lead/{lead_id}/assign", REP, json=body)
    unknown = api.call("POST", f"{V1}/records/lead/{lead_id}/assign", REP, json={"queue": "nope"})
    assert hidden.status_code == unknown.status_code == 422
    assert hidden.json()["detail"] == f"queue '{QUEUE}' does not exist"
    assert unknown.json()["detail"] == "queue 'nope' does not exist"
    done = api.call("POST", f"{V1}/records/lead/{lead_id}/assign", MANAGER, json=body)
    assert done.status_code == 200 and done.json()["queue"] == QUEUE


def test_a_metric_grouped_by_queue_leaves_out_hidden_queues(
    make_api: MakeApi, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(DEFINITIONS, bundle)
    (bundle / "rules" / "queue_metric.yaml").write_text(
        "kind: metric\nversion: 1\nname: leads_by_queue\nentity: lead\nmeasure: count\n"
        "group_by: [queue]\n",
        encoding="utf-8",
    )
    api = make_api(bundle)
    waiting_lead(api)
    groups = api.call("GET", f"{V1}/metrics/leads_by_queue", MANAGER).json()["groups"]
    assert {g["queue"] for g in groups} == {QUEUE}
    hidden = api.call("GET", f"{V1}/metrics/leads_by_queue", ADMIN).json()
    assert hidden["groups"] == []
