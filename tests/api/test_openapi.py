"""OpenAPI 3.1: a valid document that carries the current bundle's entities and fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openapi_spec_validator import validate

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
