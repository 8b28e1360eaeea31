"""Definitions endpoints and the pre-flight of a reload, on SQLite and PostgreSQL.

A reload is refused (the version served stays) when the new definitions would strand
live data: records in a removed stage, stored values a changed field refuses, records
of a removed entity. The same edits without data are applied; data in a removed field
is kept aside (a warning), and those records stay updatable.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from api.server import Server
from engine.compiler.pipeline import compile_bundle
from engine.schema import definition_schema
from runtime.preflight import preflight
from runtime.store import T_RECORD
from tests.api.conftest import DEFINITIONS, Api

MakeApi = Callable[..., Api]


def edit(api: Api, path: str, old: str, new: str) -> None:
    """Replace `old` (which must be there) by `new` in a file of the served folder."""
    file = api.directory / path
    text = file.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new, 1), encoding="utf-8")


def drop_document(api: Api, path: str, name: str) -> None:
    """Remove the YAML document named `name` from a multi-document file."""
    file = api.directory / path
    docs = file.read_text(encoding="utf-8").split("\n---\n")
    kept = [d for d in docs if not re.search(rf"^name: {name}$", d, re.M)]
    assert len(kept) == len(docs) - 1
    file.write_text("\n---\n".join(kept), encoding="utf-8")


def ticket(api: Api) -> str:
    """Create a ticket (it enters triage) and return its id."""
    runtime = api.server.runtime
    assert runtime is not None
    view = runtime.create("ticket", {"customer_tier": "VIP", "severity": 2}, actor="zhao.lei")
    return view.id


def lead(api: Api, n: int, **data: Any) -> str:
    """Create a lead and return its id."""
    runtime = api.server.runtime
    assert runtime is not None
    values = {"source": "web_form", "external_id": f"x{n}", "pharmacy_name": f"P {n}", **data}
    return runtime.create("lead", values, actor="admin").id


def served(server: Server) -> str:
    assert server.bundle is not None
    return server.bundle.hash


def codes(result: Any) -> list[str]:
    return [p["code"] for p in result.preflight if p["severity"] == "error"]


# -- the endpoints -----------------------------------------------------------------------


def test_current_version_history_and_reload(make_api: MakeApi) -> None:
    api = make_api()
    first = served(api.server)
    current = api.call("GET", "/api/v1/definitions", "li.wei")  # any authenticated user
    assert current.status_code == 200
    body = current.json()
    assert body["hash"] == first and body["name"] == "regional-distribution"
    assert body["summary"].startswith("startup: bundle 'regional-distribution'")
    forms = len(list((DEFINITIONS / "forms").glob("*.yaml")))  # one form per file there
    assert body["counts"]["form"] == forms and "herbal_price_cap" in body["documents"]["validation"]
    edit(
        api,
        "rules/lead_scoring.yaml",
        "weight: 0.14, title: Purchase",
        "weight: 0.2, title: Purchase",
    )
    answer = api.call("POST", "/admin/reload", "admin")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["applied"] is True and result["author"] == "admin"
    assert result["changes"]["changed"] == {"scoring": ["lead_quality"]}
    assert result["changes"]["from"] == first
    now = api.call("GET", "/api/v1/definitions", "li.wei").json()
    assert now["hash"] == result["hash"] != first
    assert now["author"] == "admin" and now["changes"]["changed"] == {"scoring": ["lead_quality"]}
    history = api.call("GET", "/api/v1/definitions/history", "admin").json()
    assert [v["hash"] for v in history] == [result["hash"], first]
    assert history[0]["summary"].startswith("api: ")
    again = api.call("POST", "/api/v1/definitions/reload", "admin").json()
    assert again["applied"] is False and again["changes"]["unchanged"] is True
    assert len(api.call("GET", "/api/v1/definitions/history", "admin").json()) == 2


def test_who_may_use_the_definitions_endpoints(make_api: MakeApi) -> None:
    api = make_api()
    for method, path in [
        ("GET", "/api/v1/definitions/history"),
        ("GET", "/api/v1/definitions/reload"),
        ("POST", "/api/v1/definitions/reload"),
        ("POST", "/admin/reload"),
        ("POST", "/api/v1/definitions/validate"),
    ]:
        refused = api.call(method, path, "li.wei", json={"files": {}})
        assert refused.status_code == 403, (path, refused.text)
        assert "allowed: admin, analyst" in refused.json()["detail"]
        assert api.client.request(method, path).status_code == 401
    assert api.call("GET", "/api/v1/definitions", "li.wei").status_code == 200
    assert api.client.get("/api/v1/definitions").status_code == 401
    schema = api.call("GET", "/api/v1/definitions/schema", "li.wei")
    assert schema.status_code == 200 and schema.json() == definition_schema()
    bad = api.call("GET", "/api/v1/definitions/history?limit=0", "admin")
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "limit"


def test_a_broken_edit_keeps_the_version_served_and_shows_every_error(make_api: MakeApi) -> None:
    api = make_api()
    first = served(api.server)
    edit(api, "forms/lead.yaml", "orders_90d: {type: integer", "orders_90d: {type: integr")
    edit(api, "rules/compliance.yaml", "quote_price >", "quote_prise >")
    answer = api.call("POST", "/api/v1/definitions/reload", "admin")
    assert answer.status_code == 422
    error = answer.json()
    assert error["detail"].startswith("the definitions were not applied")
    sources = sorted(e["source"] for e in error["extra"])
    assert [re.sub(r"^.*/definitions\d*/", "", s) for s in sources] == [
        "forms/lead.yaml:12:22",
        "rules/compliance.yaml:8:13",
    ], sources
    assert served(api.server) == first
    report = api.call("GET", "/api/v1/definitions/reload", "admin").json()
    assert report["applied"] is False and report["errors"] == 2
    assert report["author"] == "admin" and report["trigger"] == "api"
    assert all(re.search(r"\.yaml:\d+:\d+$", d["where"]) for d in report["diagnostics"])
    assert any("quote_prise" in d["message"] for d in report["diagnostics"])


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _folder(root: Path, prefix: str = "") -> dict[str, str]:
    return {
        prefix + p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*.yaml"))
    }


def test_validate_an_uploaded_bundle_without_applying_it(make_api: MakeApi) -> None:
    api = make_api()
    first = served(api.server)
    files = _folder(DEFINITIONS, "definitions/")
    files["definitions/rules/lead_scoring.yaml"] = files[
        "definitions/rules/lead_scoring.yaml"
    ].replace("weight: 0.14,", "weight: 0.13,", 1)
    upload = {"file": ("bundle.zip", _zip(files), "application/zip")}
    answer = api.call("POST", "/api/v1/definitions/validate", "admin", files=upload)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # files under a hidden folder (definitions/tests/.next/) are uploaded, never compiled
    compiled = [k for k in files if not any(part.startswith(".") for part in k.split("/"))]
    assert len(compiled) < len(files)
    assert body["ok"] is True and body["errors"] == 0 and body["files"] == len(compiled)
    assert body["changes"]["changed"] == {"scoring": ["lead_quality"]}
    same = api.call(
        "POST", "/api/v1/definitions/validate", "admin", json={"files": _folder(DEFINITIONS)}
    )
    assert same.json()["hash"] == first  # the top folder of a zip is dropped, as served
    broken = {
        "bundle.yaml": "kind: bundle\nversion: 1\nname: b\ntimezone: Mars/Olympus\nroles: [admin]\n"
    }
    bad = api.call("POST", "/api/v1/definitions/validate", "admin", json={"files": broken}).json()
    assert bad["ok"] is False and bad["errors"] == 1
    assert bad["diagnostics"][0]["where"] == "bundle.yaml:4:11"
    assert served(api.server) == first  # nothing was applied
    assert len(api.call("GET", "/api/v1/definitions/history", "admin").json()) == 1


def test_validate_reports_what_the_live_data_refuses(make_api: MakeApi) -> None:
    api = make_api()
    ticket(api)
    files = _folder(api.directory)
    files["workflows/ticket_handling.yaml"] = files["workflows/ticket_handling.yaml"].replace(
        "  - id: triage\n", "  - id: intake\n"
    )
    body = api.call("POST", "/api/v1/definitions/validate", "admin", json={"files": files}).json()
    assert body["errors"] == 0, body["diagnostics"]
    assert body["ok"] is False
    assert [(p["code"], p["stage"], p["count"]) for p in body["preflight"]] == [
        ("stage-removed", "triage", 1)
    ]


def test_bad_uploads_are_clear_400s(make_api: MakeApi) -> None:
    api = make_api()

    def send(content_type: str = "", **kw: Any) -> Any:
        headers = api.headers("admin")
        if content_type:
            headers["content-type"] = content_type
        answer = api.client.post("/api/v1/definitions/validate", headers=headers, **kw)
        assert answer.status_code == 400, answer.text
        return answer.json()

    def zipped(files: dict[str, str]) -> dict[str, Any]:
        return {"files": {"file": ("b.zip", _zip(files), "application/zip")}}

    assert "not a relative path" in send(**zipped({"../../evil.yaml": "kind: bundle"}))["detail"]
    assert "not a relative path" in send(**zipped({"/etc/evil.yaml": "x"}))["detail"]
    assert "not a relative path" in send(json={"files": {"forms/../../x.yaml": "x"}})["detail"]
    assert "not a zip" in send(files={"file": ("b.zip", b"nope", "application/zip")})["detail"]
    assert "not a zip" in send("application/zip", content=b"PK nope")["detail"]
    assert "not JSON" in send("application/json", content=b"{")["detail"]
    assert "expected" in send(json={"files": ["a.yaml"]})["detail"]
    assert "no definition files" in send(json={"files": {}})["detail"]
    assert "no definition files" in send(**zipped({"a.txt": "x"}))["detail"]
    assert send("text/plain", content=b"x")["extra"][0]["key"] == "content-type"
    assert "larger than" in send(**zipped({"a.yaml": "x" * (3 * 1024 * 1024)}))["detail"]


# -- pre-flight ----------------------------------------------------------------------------


def test_removing_a_stage_that_holds_records_is_refused(make_api: MakeApi) -> None:
    api = make_api()
    first = served(api.server)
    ids = {ticket(api), ticket(api)}
    edit(api, "workflows/ticket_handling.yaml", "  - id: triage\n", "  - id: intake\n")
    result = api.server.reload("api", "admin")
    assert result.diagnostics == [] and not result.applied
    assert served(api.server) == first
    (finding,) = result.preflight
    assert finding["code"] == "stage-removed" and finding["stage"] == "triage"
    assert finding["workflow"] == "ticket_handling" and finding["count"] == 2
    assert set(finding["examples"]) == ids
    report = api.call("GET", "/api/v1/definitions/reload", "admin").json()
    assert report["preflight"][0]["code"] == "stage-removed"
    # the old bundle keeps serving: a new ticket still enters triage
    runtime = api.server.runtime
    assert runtime is not None
    assert runtime.get(ticket(api)).stage == "triage"


def test_a_removed_stage_without_records_is_applied(make_api: MakeApi) -> None:
    api = make_api()
    edit(api, "workflows/ticket_handling.yaml", "  - id: triage\n", "  - id: intake\n")
    result = api.server.reload("api", "admin")
    assert result.applied, (result.diagnostics, result.preflight)
    assert result.changes["stages"] == {
        "ticket_handling": {"added": ["intake"], "removed": ["triage"]}
    }


def _drop_district(api: Api) -> None:
    edit(api, "forms/lead.yaml", "  district: {type: string, normalize: [trim]}\n", "")
    edit(api, "forms/lead.yaml", "pharmacy_name, district, specialty", "pharmacy_name, specialty")
    edit(api, "rules/lead_scoring.yaml", "district in candidate.territory", "True")
    edit(api, "rules/lead_scoring.yaml", ", matching: {territory: district}}", "}")


def test_removing_a_field_that_holds_data_keeps_the_values_aside(make_api: MakeApi) -> None:
    api = make_api()
    held = lead(api, 1, district="jinjiang")
    lead(api, 2, district=None)
    lead(api, 3)
    _drop_district(api)
    result = api.server.reload("api", "admin")
    assert result.diagnostics == [] and codes(result) == []
    assert result.applied
    (finding,) = result.preflight
    assert finding["code"] == "field-removed" and finding["severity"] == "warning"
    assert finding["field"] == "district" and finding["count"] == 1
    assert finding["examples"] == [held]
    assert finding["hint"].startswith("the values are kept aside")
    # the record stays updatable: the value is kept, and ignored by validation
    runtime = api.server.runtime
    assert runtime is not None
    changed = runtime.update(held, {"pharmacy_name": "Renamed"}, actor="admin")
    assert changed.data["pharmacy_name"] == "Renamed"
    assert changed.data["district"] == "jinjiang"
    # kept aside: stored, not shown (nothing says any more who may read it)
    answer = api.call("GET", f"/api/v1/records/lead/{held}", "admin").json()
    assert answer["data"]["pharmacy_name"] == "Renamed" and "district" not in answer["data"]


def test_removing_a_field_no_record_holds_is_applied(make_api: MakeApi) -> None:
    api = make_api()
    lead(api, 2, district=None)  # a null value is no data
    lead(api, 3)
    _drop_district(api)
    result = api.server.reload("api", "admin")
    assert result.diagnostics == [] and result.preflight == []
    assert result.applied and result.changes["fields"] == {"lead": {"removed": ["district"]}}
    assert result.changes["changed"] == {
        "form": ["lead"],
        "scoring": ["lead_rep_match"],
        "routing": ["lead_routing"],  # it no longer narrows by district
    }


def test_a_type_change_that_stored_values_fail_is_refused(make_api: MakeApi) -> None:
    api = make_api()
    first = served(api.server)
    bad = lead(api, 1, orders_90d=40)
    lead(api, 2, orders_90d=5)
    lead(api, 3)
    edit(
        api,
        "forms/lead.yaml",
        "orders_90d: {type: integer, min: 0}",
        "orders_90d: {type: integer, min: 0, max: 10}",
    )
    result = api.server.reload("api", "admin")
    assert result.diagnostics == [] and codes(result) == ["type-changed"]
    (finding,) = result.preflight
    assert finding["field"] == "orders_90d" and finding["count"] == 1
    assert finding["examples"] == [bad] and "constraints changed" in finding["message"]
    assert served(api.server) == first
    # the same change declared as a migration (schema_version raised) is applied: the old
    # record becomes a legacy record, readable, read-only where it fails (P12)
    edit(
        api,
        "forms/lead.yaml",
        "title: Purchase-intent lead\n",
        "title: Purchase-intent lead\nschema_version: 2\n",
    )
    result = api.server.reload("api", "admin")
    assert result.applied and [p["severity"] for p in result.preflight] == ["warning"]
    assert result.preflight[0]["code"] == "type-changed"


def test_a_type_change_is_checked_value_by_value_in_batches(make_api: MakeApi) -> None:
    api = make_api()
    for n in range(5):
        lead(api, n, external_id=f"{n}" if n % 2 else f"e{n}")
    edit(
        api,
        "forms/lead.yaml",
        "external_id: {type: string, required: true}",
        "external_id: {type: string, required: true, pattern: '^[0-9]+$'}",
    )
    old = api.server.bundle
    new = compile_bundle(api.directory).bundle
    assert old is not None and new is not None
    (finding,) = preflight(api.server.store, old, new, batch=2)
    assert finding.count == 3 and finding.field == "external_id"
    assert sorted(finding.examples) == sorted(r for r in _lead_ids(api) if r not in _odd(api))
    edit(api, "forms/lead.yaml", "pattern: '^[0-9]+$'}", "}")
    edit(api, "forms/lead.yaml", "external_id: {type: string", "external_id: {type: integer")
    new = compile_bundle(api.directory).bundle
    assert new is not None
    (finding,) = preflight(api.server.store, old, new, batch=2)
    assert finding.count == 5 and "type changed from string to integer" in finding.message


def _lead_ids(api: Api) -> list[str]:
    with api.server.store.read() as conn:
        return [str(r) for r in conn.execute(select(T_RECORD.c.id)).scalars()]


def _odd(api: Api) -> set[str]:
    """Ids of the leads whose external id is all digits."""
    with api.server.store.read() as conn:
        rows = conn.execute(select(T_RECORD.c.id, T_RECORD.c.data)).all()
    return {str(i) for i, data in rows if str(data["external_id"]).isdigit()}


def test_removing_an_entity_with_records_is_refused(make_api: MakeApi) -> None:
    api = make_api()
    first = served(api.server)
    runtime = api.server.runtime
    assert runtime is not None
    runtime.create(
        "distributor_stock",
        {"distributor": "ningbo-sanjiang", "sku": "S1", "on_hand": 50, "daily_sales": 5},
    )
    (api.directory / "forms/distributor_stock.yaml").unlink()
    drop_document(api, "rules/alerts.yaml", "stock_below_safety")
    drop_document(api, "rules/alerts.yaml", "stock_alert_response_hours")
    result = api.server.reload("api", "admin")
    assert result.diagnostics == [], result.diagnostics
    assert (
        codes(result) == ["entity-removed"] and result.preflight[0]["entity"] == "distributor_stock"
    )
    assert served(api.server) == first
    with api.server.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(T_RECORD)).scalar() == 1


def test_the_reload_log_has_one_line_per_diagnostic(make_api: MakeApi, caplog: Any) -> None:
    api = make_api()
    edit(api, "forms/lead.yaml", "orders_90d: {type: integer", "orders_90d: {type: integr")
    edit(api, "rules/compliance.yaml", "quote_price >", "quote_prise >")
    with caplog.at_level("INFO", logger="sopflow.reload"):
        api.server.reload("watch", None)
    lines = [r.getMessage() for r in caplog.records if r.name == "sopflow.reload"]
    located = [line for line in lines if re.search(r"\.yaml:\d+:\d+: error\[", line)]
    assert len(located) == 2
    assert any("refused: 2 error(s)" in line for line in lines)
    assert json.dumps(api.server.last.to_dict() if api.server.last else {})


# -- re-evaluation on model change (issue 11) -------------------------------------------


def test_a_weight_change_queues_a_reevaluation_shown_in_the_reload_and_its_endpoint(
    make_api: MakeApi,
) -> None:
    """P9: lead_quality declares reevaluate: {records: open}; a reload re-scores leads."""
    api = make_api()
    runtime = api.server.runtime
    assert runtime is not None
    record = lead(api, 1, orders_90d=6)
    before = api.call("GET", f"/api/v1/records/lead/{record}/explain?kind=score", "admin").json()
    [quality] = [d for d in before if d["rule"] == "lead_quality"]
    assert quality["stale"] is False and len(quality["version"]) == 12
    edit(
        api,
        "rules/lead_scoring.yaml",
        "weight: 0.14, title: Purchase",
        "weight: 0.2, title: Purchase",
    )
    result = api.call("POST", "/admin/reload", "admin").json()
    [job] = result["changes"]["reevaluations"]
    assert (job["rule"], job["kind"], job["state"], job["total"]) == (
        "lead_quality",
        "scoring",
        "queued",
        1,
    )
    stale = api.call("GET", f"/api/v1/records/lead/{record}/explain?kind=score", "admin").json()
    assert [d["stale"] for d in stale if d["rule"] == "lead_quality"] == [True]
    listed = api.call("GET", "/api/v1/reevaluations", "admin").json()
    assert [(j["id"], j["done"], j["total"]) for j in listed] == [(job["id"], 0, 1)]
    assert runtime.reevaluate() == 1  # what the scheduler's job runs in the background
    [done] = api.call("GET", "/api/v1/reevaluations?state=done", "admin").json()
    assert (done["done"], done["total"], done["version"]) == (1, 1, job["version"])
    assert done["queued_at"].endswith("+00:00") and done["finished_at"].endswith("+00:00")
    after = api.call("GET", f"/api/v1/records/lead/{record}/explain?kind=score", "admin").json()
    latest = [d for d in after if d["rule"] == "lead_quality"][-1]
    assert latest["version"] == job["version"] and latest["stale"] is False
    assert api.call("GET", "/api/v1/reevaluations", "li.wei").status_code == 403
    assert api.call("GET", "/api/v1/reevaluations?limit=0", "admin").status_code == 400


def test_a_reload_whose_migration_fails_leaves_no_reevaluation_job(
    make_api: MakeApi, monkeypatch: Any
) -> None:
    """The jobs are queued with the version row: a rolled-back apply queues none."""
    from runtime import evolve

    api = make_api()
    first = served(api.server)
    record = lead(api, 1, orders_90d=6)
    edit(
        api,
        "rules/lead_scoring.yaml",
        "weight: 0.14, title: Purchase",
        "weight: 0.2, title: Purchase",
    )

    def fails(tx: Any, bundle: Any) -> list[Any]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(evolve, "apply", fails)  # the server's apply, not the rehearsal
    answer = api.call("POST", "/api/v1/definitions/reload", "admin")
    assert answer.status_code == 422, answer.text
    result = answer.json()["result"]
    assert result["applied"] is False
    assert [p["code"] for p in result["preflight"]] == ["apply-failed"]
    assert "reevaluations" not in result["changes"]
    assert served(api.server) == first
    assert api.call("GET", "/api/v1/reevaluations", "admin").json() == []
    explained = api.call("GET", f"/api/v1/records/lead/{record}/explain?kind=score", "admin")
    assert [d["stale"] for d in explained.json() if d["rule"] == "lead_quality"] == [False]
    monkeypatch.undo()  # the same reload, now applied, queues the job once
    result = api.call("POST", "/api/v1/definitions/reload", "admin").json()
    assert result["applied"] is True, result
    [job] = result["changes"]["reevaluations"]
    listed = api.call("GET", "/api/v1/reevaluations", "admin").json()
    assert [j["id"] for j in listed] == [job["id"]]
