"""Definition migrations through the server: a reload (API) and a start-up (CLI).

The reload answer and `sopflow serve` report the migration with a count per change; a
failing migration rolls back and the bundle served before stays; a second start on the
same bundle migrates nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from api.app import create_app
from api.cli import main
from api.server import Server, StartRefused
from runtime import evolve
from runtime.clock import FakeClock
from runtime.store import T_EVENT, T_RECORD
from tests.api.conftest import Api
from tests.api.test_definitions import MakeApi, edit
from tests.runtime.small import write

MANIFEST = """\
kind: bundle
version: 1
name: claims
timezone: UTC
roles:
  admin: {title: Admin}
users:
  root: {name: Root, roles: [admin]}
access:
  definitions: [admin]
"""
FORM = """\
kind: form
version: 1
entity: claim
fields:
  title: {type: string}
  amount: {type: decimal}
  legacy_code: {type: string}
"""
FLOW = """\
kind: workflow
version: 1
name: claim_flow
entity: claim
stages:
  - id: triage
  - id: quality_check
  - id: payout
moves: {forward: any_later}
"""


def v1_folder(tmp_path: Path) -> Path:
    return write(
        tmp_path / "v1",
        {"bundle.yaml": MANIFEST, "forms/claim.yaml": FORM, "workflows/flow.yaml": FLOW},
    )


def to_v2(directory: Path) -> None:
    """Edit the served folder: rename a field and a stage, remove a field and a stage."""
    api = Api(None, None, directory, FakeClock())  # type: ignore[arg-type]
    edit(
        api,
        "forms/claim.yaml",
        "  amount: {type: decimal}\n",
        "  amount_due: {type: decimal, renamed_from: amount}\n",
    )
    edit(
        api,
        "forms/claim.yaml",
        "  legacy_code: {type: string}\n",
        "removed_fields: [legacy_code]\n",
    )
    edit(
        api,
        "workflows/flow.yaml",
        "  - id: triage\n",
        "  - id: assessment\n    renamed_from: triage\n",
    )
    edit(api, "workflows/flow.yaml", "  - id: quality_check\n", "")
    edit(
        api,
        "workflows/flow.yaml",
        "moves: {forward: any_later}\n",
        "moves: {forward: any_later}\nremoved_stages:\n  quality_check: {move_to: payout}\n",
    )


def seed(api: Api) -> dict[str, str]:
    runtime = api.server.runtime
    assert runtime is not None
    a = runtime.create("claim", {"title": "A", "amount": 5, "legacy_code": "L"}, actor="root").id
    b = runtime.create("claim", {"title": "B"}, actor="root").id
    runtime.transition(b, "quality_check", actor="root")
    return {"a": a, "b": b}


def stored(server: Server, record_id: str) -> dict[str, Any]:
    with server.store.read() as conn:
        row = conn.execute(select(T_RECORD).where(T_RECORD.c.id == record_id)).one()
    return dict(row._mapping)


EXPECTED = [
    {"kind": "field-renamed", "entity": "claim", "from": "amount", "to": "amount_due", "count": 1},
    {"kind": "field-removed", "entity": "claim", "from": "legacy_code", "count": 1},
    {
        "kind": "stage-renamed",
        "entity": "claim",
        "workflow": "claim_flow",
        "from": "triage",
        "to": "assessment",
        "count": 1,
    },
    {
        "kind": "stage-moved",
        "entity": "claim",
        "workflow": "claim_flow",
        "from": "quality_check",
        "to": "payout",
        "count": 1,
    },
]


def test_a_reload_migrates_and_reports_each_change(make_api: MakeApi, tmp_path: Path) -> None:
    api = make_api(v1_folder(tmp_path))
    ids = seed(api)
    to_v2(api.directory)
    answer = api.call("POST", "/api/v1/definitions/reload", "root")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["applied"] is True, result
    assert result["migration"] == EXPECTED
    assert result["changes"]["stages"] == {
        "claim_flow": {"added": ["assessment"], "removed": ["triage", "quality_check"]}
    }
    a, b = stored(api.server, ids["a"]), stored(api.server, ids["b"])
    assert a["data"].get("amount_due") == 5 and "legacy_code" not in a["data"]
    assert (a["stage"], b["stage"]) == ("assessment", "payout")
    last = api.call("GET", "/api/v1/definitions/reload", "root").json()
    assert last["migration"] == EXPECTED
    history = api.call("GET", "/api/v1/definitions/history", "root").json()
    assert history[0]["changes"]["migration"] == EXPECTED
    # the API serves the migrated records under the new names
    got = api.call("GET", f"/api/v1/records/claim/{ids['a']}", "root")
    assert got.status_code == 200, got.text
    assert got.json()["data"]["amount_due"] == 5 and got.json()["stage"] == "assessment"


def test_a_failing_migration_rolls_back_and_the_old_bundle_stays(
    make_api: MakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api(v1_folder(tmp_path))
    ids = seed(api)
    first = api.server.bundle
    before = stored(api.server, ids["a"])
    to_v2(api.directory)
    real = evolve.apply
    calls = []

    def fails_when_applied(tx: Any, bundle: Any) -> list[evolve.Change]:
        done = real(tx, bundle)  # every change written in the transaction, then a failure
        calls.append(len(done))
        raise RuntimeError("disk full")

    monkeypatch.setattr(
        evolve, "apply", fails_when_applied
    )  # the server's apply, not the rehearsal
    answer = api.call("POST", "/api/v1/definitions/reload", "root")
    assert answer.status_code == 422, answer.text
    result = answer.json()["result"]
    assert result["applied"] is False and calls == [4]
    assert result["migration"] == EXPECTED  # the plan the pre-flight rehearsed
    assert [p["code"] for p in result["preflight"]] == ["apply-failed"]
    assert api.server.bundle is first
    assert stored(api.server, ids["a"]) == before
    assert stored(api.server, ids["b"])["stage"] == "quality_check"
    with api.server.store.read() as conn:
        kinds = set(conn.execute(select(T_EVENT.c.kind)).scalars())
    assert not kinds & {"field_removed", "migration_move", "definition_migrated"}


def test_start_up_migrates_prints_the_plan_and_a_second_start_changes_nothing(
    make_api: MakeApi,
    db_url: tuple[str, str | None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_api(v1_folder(tmp_path))
    ids = seed(api)
    to_v2(api.directory)
    url, schema = db_url
    if schema is not None:
        monkeypatch.setenv("SOPFLOW_DATABASE_SCHEMA", schema)
    monkeypatch.setenv("SOPFLOW_EVIDENCE_DIR", str(tmp_path / "evidence"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: None)
    runner = CliRunner()
    started = runner.invoke(
        main, ["serve", str(api.directory), "--database-url", url, "--no-watch"]
    )
    assert started.exit_code == 0, started.output
    lines = [x for x in started.output.splitlines() if x.startswith("sopflow: migrated")]
    assert lines == [
        "sopflow: migrated claim: field 'amount' -> 'amount_due', 1 record(s)",
        "sopflow: migrated claim: field 'legacy_code' removed (values kept in history), "
        "1 record(s)",
        "sopflow: migrated claim/claim_flow: stage 'triage' -> 'assessment', 1 record(s)",
        "sopflow: migrated claim/claim_flow: stage 'quality_check' removed, its records moved "
        "to 'payout', 1 record(s)",
    ]
    assert stored(api.server, ids["b"])["stage"] == "payout"
    again = runner.invoke(main, ["serve", str(api.directory), "--database-url", url, "--no-watch"])
    assert again.exit_code == 0, again.output
    assert "sopflow: migrated" not in again.output and "migrate " not in again.output
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


def test_a_start_whose_migration_fails_does_not_start_and_writes_nothing(
    make_api: MakeApi,
    db_url: tuple[str, str | None],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    api = make_api(v1_folder(tmp_path))
    ids = seed(api)
    before = stored(api.server, ids["b"])
    to_v2(api.directory)
    real = evolve.apply

    def fails(tx: Any, bundle: Any) -> list[evolve.Change]:
        real(tx, bundle)
        raise RuntimeError("disk full")

    monkeypatch.setattr(evolve, "apply", fails)  # the server's apply, not the rehearsal
    url, schema = db_url
    with pytest.raises(StartRefused) as refused:
        create_app(
            api.directory,
            clock=FakeClock(),
            database_url=url,
            database_schema=schema,
            evidence_dir=tmp_path / "evidence",
            mailbox_dir=tmp_path / "mailbox",
            background=False,
            watch=False,
        )
    result = refused.value.result
    assert not result.applied and [p["code"] for p in result.preflight] == ["migration-failed"]
    assert result.migration == EXPECTED  # what the pre-flight planned
    assert stored(api.server, ids["b"]) == before
