"""The tokens a start prints on demo data: bundle staff, working at once, never piling up."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.cli_serve import _demo_tokens
from runtime import access
from runtime.demo import DemoPlan, demo_staff, run_demo
from runtime.sessions import sign_in
from tests.api.conftest import Api

V1 = "/api/v1"
PRINTED = re.compile(
    r"demo (\w+) '([\w.]+)' \(([^)]*)\) console password: (\S+) token \(both shown once\): (\S+)"
)


def _printed(out: str) -> dict[str, tuple[str, str, str, str]]:
    return {
        role: (user, note, token, password)
        for role, user, note, password, token in PRINTED.findall(out)
    }


def test_the_printed_demo_tokens_are_bundle_staff_and_work(
    make_api: Callable[..., Api], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = make_api()
    server = api.server
    bundle = server.bundle
    assert bundle is not None
    _demo_tokens(server.store, bundle)
    assert capsys.readouterr().out == ""  # not a demo database: nothing printed
    run_demo(
        bundle,
        server.store,
        DemoPlan(seed=3, leads=60, tickets_per_day=2),
        evidence_dir=str(tmp_path),
    )
    _demo_tokens(server.store, bundle)
    printed = _printed(capsys.readouterr().out)
    assert set(printed) == {"rep", "manager", "analyst"}
    users = bundle.manifest.users
    rep, manager, analyst = (printed[r][0] for r in ("rep", "manager", "analyst"))
    assert "rep" in users[rep].roles and "analyst" in users[analyst].roles
    assert users[rep].manager == manager  # the rep's own manager
    assert "roles rep; owns " in printed["rep"][1]

    def call(role: str, method: str, path: str, **kw: Any) -> httpx.Response:
        token = printed[role][2]
        return api.client.request(
            method, V1 + path, headers={"Authorization": f"Bearer {token}"}, **kw
        )

    # The rep sees the open records the quarter routed to them.
    mine = call("rep", "GET", "/records/lead", params={"owner": rep})
    assert mine.status_code == 200, mine.text
    assert mine.json()["items"] and all(i["owner"] == rep for i in mine.json()["items"])
    # An opportunity's region is a province of the form's list (a rep's is their team's).
    regions = api.server.bundle.forms["opportunity"].spec.fields["region"].values
    region = users[rep].model_extra.get("region") if users[rep].model_extra else None
    data = {"pharmacy_name": "Demo Pharmacy", "region": region if region in regions else regions[0]}
    made = call("rep", "POST", "/records/opportunity", json=data)
    assert made.status_code == 201, made.text
    assert made.json()["stage"] == "appointment"
    # The analyst reads the alerts and metrics the quarter left; may not create a deal.
    assert call("analyst", "GET", "/alerts").status_code == 200
    assert call("analyst", "POST", "/records/opportunity", json=data).status_code == 403
    assert call("manager", "GET", "/records/opportunity").status_code == 200
    # Each printed password signs its person in to the console.
    for role in ("rep", "manager", "analyst"):
        user, password = printed[role][0], printed[role][3]
        assert sign_in(server.store, bundle, user, password, api.clock.now()) is not None
        assert sign_in(server.store, bundle, user, password + "x", api.clock.now()) is None


def test_each_start_revokes_the_last_starts_demo_tokens(
    make_api: Callable[..., Api], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = make_api()
    server = api.server
    bundle = server.bundle
    assert bundle is not None
    run_demo(
        bundle,
        server.store,
        DemoPlan(seed=5, leads=40, tickets_per_day=1),
        evidence_dir=str(tmp_path),
    )
    _demo_tokens(server.store, bundle)
    first = _printed(capsys.readouterr().out)
    _demo_tokens(server.store, bundle)
    second = _printed(capsys.readouterr().out)
    assert {r: v[0] for r, v in first.items()} == {r: v[0] for r, v in second.items()}
    live = [
        t
        for t in access.list_tokens(server.store)
        if t["name"] == "demo" and t["revoked_at"] is None
    ]
    people = demo_staff(bundle, server.store)
    assert sorted(t["user_id"] for t in live) == sorted(p.user for p in people)
    assert len(live) == 3  # one live demo token per person after two starts
    me = "/me"
    old = api.client.get(V1 + me, headers={"Authorization": f"Bearer {first['rep'][2]}"})
    new = api.client.get(V1 + me, headers={"Authorization": f"Bearer {second['rep'][2]}"})
    assert old.status_code == 401 and new.status_code == 200
    # ... and the first start's console passwords stop working too.
    rep = first["rep"][0]
    now = api.clock.now()
    assert sign_in(server.store, bundle, rep, first["rep"][3], now) is None
    assert sign_in(server.store, bundle, rep, second["rep"][3], now) is not None
