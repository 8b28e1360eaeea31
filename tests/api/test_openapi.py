"""OpenAPI 3.1: a valid document that carries the current bundle's entities and fields."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from openapi_spec_validator import validate

from api import openapi
from tests.api.conftest import Api

SCHEMA = "/schema/openapi.json"


def _document(api: Api) -> dict[str, Any]:
    response = api.call("GET", SCHEMA, "li.wei")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def test_the_document_is_valid_openapi_31_with_every_entity(make_api: Callable[..., Api]) -> None:
    api = make_api()
    document = _document(api)
    validate(document)  # raises on an invalid OpenAPI document
    assert document["openapi"].startswith("3.1")
    bundle = api.server.bundle
    assert bundle is not None
    for entity in bundle.forms:
        assert f"/api/v1/records/{entity}" in document["paths"], entity
    lead = document["components"]["schemas"]["LeadInput"]
    assert set(lead["required"]) == {"source", "external_id", "pharmacy_name"}
    assert lead["properties"]["source"]["enum"] == ["meituan", "jd_health", "web_form"]
    assert "/api/v1/me" in document["paths"]  # Litestar's own routes are there too


def test_the_document_follows_a_reload(make_api: Callable[..., Api]) -> None:
    api = make_api()
    assert "vbp_follow_up" not in _document(api)["components"]["schemas"]["LeadInput"]["properties"]
    form = api.directory / "forms" / "lead.yaml"
    form.write_text(
        form.read_text(encoding="utf-8").replace(
            "fields:\n", "fields:\n  vbp_follow_up: {type: date}\n", 1
        ),
        encoding="utf-8",
    )
    result = api.server.reload("api", "admin")
    assert result.applied, result.to_dict()
    field = _document(api)["components"]["schemas"]["LeadInput"]["properties"]["vbp_follow_up"]
    assert {"type": "string", "format": "date"} in field["anyOf"]


def test_the_document_needs_a_token(make_api: Callable[..., Api]) -> None:
    api = make_api()
    response = api.client.get(SCHEMA)
    assert response.status_code == 401
    assert response.json()["extra"] == [] and "token" in response.json()["detail"]


def test_a_failed_apply_swaps_the_old_bundle_back(
    make_api: Callable[..., Api], monkeypatch: Any
) -> None:
    """A step after the swap fails (here: writing the version row): nothing is half-applied."""
    api = make_api()
    server = api.server
    old = server.bundle
    assert old is not None

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("the store refused the version row")

    monkeypatch.setattr(server, "record_version", broken)
    form = api.directory / "forms" / "lead.yaml"
    form.write_text(
        form.read_text(encoding="utf-8").replace(
            "fields:\n", "fields:\n  extra_note: {type: text}\n", 1
        ),
        encoding="utf-8",
    )
    result = server.reload("api", "admin")
    assert not result.applied
    assert server.bundle is old
    assert "extra_note" not in _document(api)["components"]["schemas"]["LeadInput"]["properties"]
    monkeypatch.undo()
    again = server.reload("api", "admin")  # the next reload is not taken for "unchanged"
    assert again.applied, again.to_dict()
    assert "extra_note" in _document(api)["components"]["schemas"]["LeadInput"]["properties"]


SAMPLES = {"entity": "lead", "alert_id": "1", "token_id": "1"}


def test_options_lists_every_method_of_every_path(make_api: Callable[..., Api]) -> None:
    """Litestar's automatic OPTIONS named only the methods of a path's first handler
    (`OPTIONS, POST` for /api/v1/records/{entity}); api/options.py completes it."""
    api = make_api()
    paths = _document(api)["paths"]
    assert len(paths) > 50
    for path, item in paths.items():
        documented = {m.upper() for m in item if m != "parameters"} | {"OPTIONS"}
        url = re.sub(r"\{(\w+)\}", lambda m: SAMPLES.get(m.group(1), "x"), path)
        response = api.client.options(url)  # no token: OPTIONS is open, as CORS needs
        assert response.status_code == 204, (path, response.text)
        allowed = {m.strip() for m in response.headers["allow"].split(",")}
        assert allowed == documented, path
    assert api.client.options("/api/v1/records/lead").headers["allow"] == "GET, OPTIONS, POST"


def test_every_answer_and_constraint_is_documented(make_api: Callable[..., Api]) -> None:
    api = make_api()
    document = _document(api)
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            if path in ("/healthz", "/readyz"):
                assert "401" not in codes, path
                continue
            assert {"401", "503"} <= codes, (method, path)
            for code in codes - {"200", "201", "204"}:
                content = operation["responses"][code]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/SopflowError"}
            if "requestBody" in operation:
                assert {"400", "413"} <= codes, (method, path)
                assert operation["requestBody"]["required"] is True, (method, path)
    assert set(document["paths"]["/readyz"]["get"]["responses"]) == {"200", "503"}
    reload = document["paths"]["/api/v1/definitions/reload"]["post"]["responses"]
    assert set(reload) == {"200", "401", "403", "422", "503"}  # 200, never the 201 of a POST
    lead = document["paths"]["/api/v1/records/lead"]
    assert set(lead["post"]["responses"]) >= {"201", "403", "409", "422"}
    assert "/api/v1/records/{entity}" not in document["paths"]  # each entity has its own
    entity = document["paths"]["/api/v1/records/{entity}/{record_id}/history"]["get"]
    assert entity["parameters"][0]["schema"]["enum"] == sorted(api.server.bundle.forms)
    # Times carry their offset; bounds and lengths are the server's.
    record = schemas["Lead"]["properties"]
    assert record["created_at"] == {"type": "string", "format": "date-time"}
    limit = next(p for p in lead["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 500}
    name = schemas["LeadInput"]["properties"]["pharmacy_name"]
    assert name["allOf"][0] == {"maxLength": 100_000}  # str_max_length (runtime/data.py)
    assert re.search(name["allOf"][-1]["pattern"], "  ") is None  # not blank
    assert re.search(name["allOf"][-1]["pattern"], "a\x00") is None  # no NUL
    assert "orders_90d" in schemas["LeadInput"]["properties"]
    stock = schemas["DistributorStockInput"]["properties"]
    assert (
        "reorder_qty" not in stock
        and "reorder_qty" in schemas["DistributorStockData"]["properties"]
    )
    token_id = document["paths"]["/api/v1/admin/tokens/{token_id}"]["delete"]["parameters"][0]
    assert token_id["schema"]["maximum"] == 2**31 - 1  # an INTEGER id column in PostgreSQL
    for body in ("TokenRequest", "UserRequest", "TransitionRequest", "Feedback", "BranchRequest"):
        assert schemas[body]["additionalProperties"] is False, body
    assert schemas["Feedback"]["properties"]["verdict"]["enum"] == ["useful", "false_positive"]
    history = document["paths"]["/api/v1/definitions/history"]["get"]["parameters"][0]
    assert (history["schema"]["minimum"], history["schema"]["maximum"]) == (1, 500)


def test_integral_bounds_are_written_exactly() -> None:
    """Litestar writes `le=2**63 - 1` as 9.223372036854776e18, one past the bound."""
    assert openapi._exact({"a": [{"maximum": float(2**63 - 1), "minimum": 1.0}]}) == {
        "a": [{"maximum": 2**63 - 1, "minimum": 1}]
    }
    assert openapi._exact({"maximum": 0.5}) == {"maximum": 0.5}


def test_an_id_past_the_id_columns_is_refused_by_its_documented_bound(
    make_api: Callable[..., Api],
) -> None:
    """Alert and token ids are INTEGER columns in PostgreSQL: the document's bound."""
    api = make_api()
    for path in ("/api/v1/alerts/2147483648", "/api/v1/alerts/2147483648/acknowledge"):
        method = "POST" if path.endswith("acknowledge") else "GET"
        answer = api.call(method, path, "admin")
        assert answer.status_code == 400, answer.text
        assert answer.json()["extra"][0]["key"] == "alert_id"
    assert api.call("GET", "/api/v1/alerts/2147483647", "admin").status_code == 404


def test_each_inbound_declaration_has_its_path_with_its_fields(
    make_api: Callable[..., Api],
) -> None:
    document = _document(make_api())
    validate(document)
    assert "/api/v1/inbound/{name}" not in document["paths"]  # no per-entity path
    operation = document["paths"]["/api/v1/inbound/wecom_contacts"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert list(body["properties"]) == [
        "customer_code",
        "contact_name",
        "contact_phone",
        "contact_email",
        "contact_title",
    ]
    assert body["required"] == ["customer_code"] and body["additionalProperties"] is False
    assert "^[A-Z]{2,4}-[0-9]{3,6}$" in str(body["properties"]["customer_code"])
    assert {p["name"] for p in operation["parameters"]} == {
        "X-Sopflow-Timestamp",
        "X-Sopflow-Signature",
    }
    assert {"200", "201", "401", "404", "422"} <= set(operation["responses"])
    assert "SOPFLOW_INBOUND_SECRET_WECOM_CONTACTS" in operation["description"]
    assert "security" not in operation
