"""Restart = reload: starting the server pre-flights the bundle against live data, fields
included, the same way a hot reload does (docs/server.md, "Start-up").

A bundle that contradicts the data (records in a removed stage, stored values a field
refuses) does not start: `create_app` raises StartRefused carrying the reload's report,
and `sopflow serve` prints it and exits 1, without a traceback. Values of a field the
bundle dropped are kept aside (a warning) and their records stay updatable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from api.app import create_app
from api.cli import main
from api.server import Server, StartRefused
from runtime.clock import FakeClock
from runtime.store import T_RECORD
from tests.api.conftest import Api
from tests.api.test_definitions import MakeApi, _drop_district, edit, lead, ticket


def restart(api: Api, db_url: tuple[str, str | None], tmp_path: Path) -> Server:
    """Start a second server on the same folder and database (the first one stays)."""
    url, schema = db_url
    app = create_app(
        api.directory,
        clock=FakeClock(),
        database_url=url,
        database_schema=schema,
        evidence_dir=tmp_path / "evidence",
        mailbox_dir=tmp_path / "mailbox",
        background=False,
        watch=False,
    )
    server: Server = app.state.server
    return server


def test_start_refuses_a_bundle_whose_removed_stage_holds_records(
    make_api: MakeApi, db_url: tuple[str, str | None], tmp_path: Path
) -> None:
    api = make_api()
    held = sorted([ticket(api), ticket(api)])
    edit(api, "workflows/ticket_handling.yaml", "  - id: triage\n", "  - id: intake\n")
    with pytest.raises(StartRefused) as refused:
        restart(api, db_url, tmp_path)
    (finding,) = refused.value.result.preflight
    assert finding["code"] == "stage-removed" and finding["severity"] == "error"
    assert finding["workflow"] == "ticket_handling" and finding["stage"] == "triage"
    assert finding["count"] == 2 and sorted(finding["examples"]) == held
    assert not refused.value.result.applied
    (line,) = refused.value.report()
    assert line.startswith(
        "preflight error[stage-removed] ticket/ticket_handling/triage: "
        "workflow 'ticket_handling' has no stage 'triage', but 2 record(s) have it"
    )
    # the same edit, as a hot reload of the running server, is refused with the same code
    result = api.server.reload("api", "admin")
    assert [p["code"] for p in result.preflight] == ["stage-removed"] and not result.applied


def test_start_refuses_stored_values_the_form_now_refuses(
    make_api: MakeApi, db_url: tuple[str, str | None], tmp_path: Path
) -> None:
    api = make_api()
    bad = lead(api, 1, orders_90d=40)
    lead(api, 2, orders_90d=10)  # exactly at the new maximum: fits
    edit(
        api,
        "forms/lead.yaml",
        "orders_90d: {type: integer, min: 0}",
        "orders_90d: {type: integer, min: 0, max: 10}",
    )
    with pytest.raises(StartRefused) as refused:
        restart(api, db_url, tmp_path)
    (finding,) = refused.value.result.preflight
    assert finding["code"] == "type-changed" and finding["severity"] == "error"
    assert finding["field"] == "orders_90d" and finding["count"] == 1
    assert finding["examples"] == [bad]
    # declared as a migration (schema_version raised), the old record is a legacy one
    edit(
        api,
        "forms/lead.yaml",
        "title: Purchase-intent lead\n",
        "title: Purchase-intent lead\nschema_version: 2\n",
    )
    server = restart(api, db_url, tmp_path)
    assert server.last is not None and server.last.applied
    (warning,) = server.last.preflight
    assert warning["code"] == "type-changed" and warning["severity"] == "warning"
    assert warning["examples"] == [bad]
    server.close()


def test_start_keeps_values_of_a_dropped_field_aside_and_the_record_updatable(
    make_api: MakeApi, db_url: tuple[str, str | None], tmp_path: Path
) -> None:
    api = make_api()
    held = lead(api, 1, district="jinjiang")
    lead(api, 2, district=None)  # a null value is no data
    _drop_district(api)
    server = restart(api, db_url, tmp_path)
    assert server.last is not None and server.last.applied
    (finding,) = server.last.preflight
    assert finding["code"] == "field-removed" and finding["severity"] == "warning"
    assert finding["field"] == "district" and finding["count"] == 1
    assert finding["examples"] == [held]
    assert server.runtime is not None
    changed = server.runtime.update(held, {"pharmacy_name": "Renamed"}, actor="admin")
    assert changed.data["pharmacy_name"] == "Renamed"
    assert changed.data["district"] == "jinjiang"
    server.close()


def test_a_restart_on_the_bundle_last_applied_does_not_read_the_data(
    make_api: MakeApi, db_url: tuple[str, str | None], tmp_path: Path
) -> None:
    api = make_api()
    held = lead(api, 1)
    with api.server.store.begin(api.clock.now(), None, "") as tx:  # data no form declares
        tx.conn.execute(
            update(T_RECORD)
            .where(T_RECORD.c.id == held)
            .values(data={"source": "web_form", "external_id": "x1", "stray": 1})
        )
    same = restart(api, db_url, tmp_path)
    assert same.last is not None and same.last.applied and same.last.preflight == []
    same.close()
    edit(api, "forms/lead.yaml", "title: Purchase-intent lead\n", "title: Purchase leads\n")
    changed = restart(api, db_url, tmp_path)
    assert changed.last is not None
    assert [(p["code"], p["field"]) for p in changed.last.preflight] == [("field-removed", "stray")]
    changed.close()


def test_serve_prints_the_report_and_exits_1_without_a_traceback(
    make_api: MakeApi, db_url: tuple[str, str | None], monkeypatch: Any
) -> None:
    api = make_api()
    ticket(api)
    edit(api, "workflows/ticket_handling.yaml", "  - id: triage\n", "  - id: intake\n")
    url, schema = db_url
    if schema:
        monkeypatch.setenv("SOPFLOW_DATABASE_SCHEMA", schema)
    ran = CliRunner().invoke(
        main, ["serve", str(api.directory), "--database-url", url, "--no-watch"]
    )
    assert ran.exit_code == 1, ran.output
    assert ran.exception is None or isinstance(ran.exception, SystemExit)
    assert "preflight error[stage-removed] ticket/ticket_handling/triage:" in ran.output
    assert "sopflow: not starting: the definitions contradict the live data (1 problem(s))" in (
        ran.output
    )
    assert "Traceback" not in ran.output
