"""The read-only server: health, the compiled bundle, its diagnostics, the schema."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient

from api.app import create_app
from engine.schema import definition_schema


def test_serves_the_default_bundle() -> None:
    with TestClient(app=create_app("definitions")) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        body = client.get("/definitions").json()
    assert body["ok"] is True
    assert body["summary"].startswith("bundle 'regional-distribution'")
    assert len(body["hash"]) == 64
    assert body["counts"]["form"] == 7
    assert body["diagnostics"] == []


def test_a_broken_bundle_still_serves_and_shows_its_errors(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text(
        "kind: bundle\nversion: 1\nname: b\ntimezone: Mars/Olympus\nroles: [admin]\n"
    )
    with TestClient(app=create_app(tmp_path)) as client:
        body = client.get("/definitions").json()
    assert body["ok"] is False and body["hash"] is None
    assert [d["code"] for d in body["diagnostics"]] == ["invalid"]
    assert body["diagnostics"][0]["line"] == 4
    assert "IANA time zone" in body["diagnostics"][0]["message"]


def test_serves_the_schema() -> None:
    with TestClient(app=create_app("definitions")) as client:
        assert client.get("/definitions/schema").json() == definition_schema()
