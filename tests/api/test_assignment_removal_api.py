"""A named assignment dropped from a form, through the server: the reload plans and
applies its removal (with a count) and a start on the same bundle changes nothing.

Runs on SQLite and PostgreSQL (make_api).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from api.app import create_app
from runtime.clock import FakeClock
from tests.api.conftest import Api
from tests.runtime.assign_bundle import MANIFEST, WITHOUT_REVIEWER, claims_bundle

V1 = "/api/v1"
REMOVED = [{"kind": "assignment-removed", "entity": "claim", "from": "reviewer", "count": 2}]


def test_a_reload_removes_a_dropped_assignment_and_a_restart_changes_nothing(
    make_api: Callable[..., Api], db_url: tuple[str, str | None], tmp_path: Path
) -> None:
    root = tmp_path / "claims"
    claims_bundle(root, **{"bundle.yaml": MANIFEST + "access: {definitions: [manager]}\n"})
    api = make_api(bundle=root)
    for owner in ("ann", "bob"):
        made = api.call("POST", f"{V1}/records/claim", owner, json={"title": owner})
        assert made.status_code == 201, made.text
        assert made.json()["assignments"]["reviewer"]["user"] in ("rita", "sam")
    (api.directory / "forms" / "claim.yaml").write_text(WITHOUT_REVIEWER, "utf-8")

    files = {
        str(p.relative_to(api.directory)): p.read_text("utf-8")
        for p in api.directory.rglob("*.yaml")
    }
    planned = api.call("POST", f"{V1}/definitions/validate", "mia", json={"files": files})
    assert planned.status_code == 200, planned.text
    assert planned.json()["preflight"] == []  # nothing refuses it
    answer = api.call("POST", f"{V1}/definitions/reload", "mia")
    assert answer.status_code == 200, answer.text
    assert answer.json()["applied"] is True, answer.json()
    assert answer.json()["migration"] == REMOVED
    shown = api.call("GET", f"{V1}/records/claim", "mia").json()["items"]
    assert all("reviewer" not in i["assignments"] for i in shown)
    audit = api.call("GET", f"{V1}/records/claim/{shown[0]['id']}/audit", "mia").json()
    assert [e["detail"]["assignment"] for e in audit if e["kind"] == "assignment_removed"] == [
        "reviewer"
    ]

    url, schema = db_url
    restarted = create_app(
        api.directory,
        clock=FakeClock(),
        database_url=url,
        database_schema=schema,
        evidence_dir=tmp_path / "evidence",
        mailbox_dir=tmp_path / "mailbox",
        background=False,
        watch=False,
    ).state.server
    assert restarted.last is not None and restarted.last.applied
    assert restarted.last.migration == [] and restarted.last.preflight == []
    restarted.close()
