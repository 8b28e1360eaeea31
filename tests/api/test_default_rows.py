"""The default bundle's row-level access (forms/lead.yaml, forms/opportunity.yaml): a rep
sees the leads they hold, a manager their team's, directors and analysts every lead; a
lead no rep may take waits in `unmatched_leads`, which managers see and hand out.

li.wei reports to zhang.min (Sichuan); tang.rui to deng.hui (Chongqing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.api.conftest import Api
from tests.api.test_queue_visibility import waiting_lead

V1 = "/api/v1"
LEADS = f"{V1}/records/lead"
MakeApi = Callable[..., Api]


def _lead(api: Api, external_id: str, district: str) -> str:
    runtime = api.server.runtime
    assert runtime is not None
    data = {
        "source": "meituan",
        "external_id": external_id,
        "pharmacy_name": f"Pharmacy {external_id}",
        "district": district,
        "specialty": "otc",
    }
    return runtime.create("lead", data).id


def _listed(api: Api, user: str, query: str = "") -> set[str]:
    answer = api.call("GET", f"{LEADS}{query}", user)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["total"] == len(body["items"])
    return {r["id"] for r in body["items"]}


def test_each_role_sees_the_leads_its_rows_give_it(make_api: MakeApi) -> None:
    api = make_api()
    li = _lead(api, "R-1", "jinjiang")
    tang = _lead(api, "R-2", "yuzhong")
    waiting = waiting_lead(api)
    runtime = api.server.runtime
    assert runtime is not None
    assert (runtime.get(li).owner, runtime.get(tang).owner) == ("li.wei", "tang.rui")
    assert _listed(api, "li.wei") == {li}
    assert _listed(api, "tang.rui") == {tang}
    assert _listed(api, "zhang.min") == {li, waiting}  # his team's, and the queue's
    assert _listed(api, "deng.hui") == {tang, waiting}
    for everyone in ("wang.fang", "an.jian", "admin"):  # director, analyst, administrator
        assert _listed(api, everyone) == {li, tang, waiting}, everyone
    # Another rep's lead is answered as one that does not exist (404, not 403).
    for path in (f"{LEADS}/{tang}", f"{LEADS}/{tang}/audit", f"{LEADS}/{tang}/explain"):
        hidden = api.call("GET", path, "li.wei")
        assert hidden.status_code == 404, (path, hidden.text)
    assert api.call("GET", f"{LEADS}/{tang}", "zhang.min").status_code == 404
    assert api.call("GET", f"{LEADS}/{tang}", "deng.hui").status_code == 200
    patch = {"row_version": 1, "data": {"orders_90d": 3}}
    assert api.call("PATCH", f"{LEADS}/{tang}", "li.wei", json=patch).status_code == 404
    assert api.call("PATCH", f"{LEADS}/{li}", "li.wei", json=patch).status_code == 200


def test_a_manager_sees_and_hands_out_the_unmatched_leads(make_api: MakeApi) -> None:
    api = make_api()
    waiting = waiting_lead(api)  # a prescription lead in Wuhou: no certified rep covers it
    queue = api.call("GET", f"{V1}/queues/unmatched_leads", "zhang.min").json()
    assert [r["id"] for r in queue["items"]] == [waiting] and queue["total"] == 1
    sizes = {q["name"]: q["waiting"] for q in api.call("GET", f"{V1}/queues", "zhang.min").json()}
    assert sizes["unmatched_leads"] == 1
    assert _listed(api, "zhang.min", "?queue=unmatched_leads") == {waiting}
    assert api.call("GET", f"{LEADS}/{waiting}", "zhang.min").json()["queue"] == "unmatched_leads"
    # A rep does not see it, nor may they take it.
    path = f"{LEADS}/{waiting}/assign"
    assert api.call("GET", f"{LEADS}/{waiting}", "he.jing").status_code == 404
    assert api.call("POST", path, "he.jing", json={"user": "he.jing"}).status_code == 404
    # The manager hands it to a certified rep of his team: it leaves the queue.
    done = api.call("POST", path, "zhang.min", json={"user": "chen.jie"})
    assert done.status_code == 200, done.text
    assert (done.json()["owner"], done.json()["queue"]) == ("chen.jie", None)
    assert api.call("GET", f"{LEADS}/{waiting}", "chen.jie").status_code == 200
    assert api.call("GET", f"{LEADS}/{waiting}", "zhang.min").status_code == 200
    # Out of the queue and held by another manager's team: deng.hui no longer sees it.
    assert api.call("GET", f"{LEADS}/{waiting}", "deng.hui").status_code == 404
    assert api.call("GET", f"{V1}/queues/unmatched_leads", "deng.hui").json()["total"] == 0
