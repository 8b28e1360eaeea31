"""The app's start: it serves the default bundle; a broken bundle still starts, not ready.

With broken definitions and no good version ever loaded there are no users or roles,
so token-authenticated routes answer 503; the reload report
(`GET /api/v1/definitions/reload`) then answers without a token, so the errors are
visible over HTTP (and in the `sopflow.reload` log once a reload ran), and `/readyz`
says 503. Once a good bundle is served, the report needs a definitions role again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.testing import TestClient

from api.app import create_app
from api.config import Config
from api.server import Server
from engine.schema import definition_schema
from runtime.access import create_token
from tests.api.conftest import DEFINITIONS

BROKEN = "kind: bundle\nversion: 1\nname: b\ntimezone: Mars/Olympus\nroles: [admin]\n"


def app_on(directory: Path, tmp_path: Path, **flags: Any) -> Litestar:
    return create_app(
        Config.under(tmp_path, directory=directory, background=False, watch=False, **flags)
    )


def admin_headers(server: Server) -> dict[str, str]:
    assert server.bundle is not None
    _, token = create_token(server.store, server.bundle, "admin", server.clock.now())
    return {"Authorization": f"Bearer {token}"}


def test_serves_the_default_bundle(tmp_path: Path) -> None:
    app = app_on(DEFINITIONS, tmp_path)
    with TestClient(app=app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json()["ready"] is True
        assert client.get("/api/v1/definitions").status_code == 401
        headers = admin_headers(app.state.server)
        body = client.get("/api/v1/definitions", headers=headers).json()
        report = client.get("/api/v1/definitions/reload", headers=headers).json()
    assert body["summary"].startswith("startup: bundle 'regional-distribution'")
    forms = len(list((DEFINITIONS / "forms").glob("*.yaml")))  # one form per file there
    assert len(body["hash"]) == 64 and body["counts"]["form"] == forms == 10
    assert body["last_reload"]["errors"] == 0 and body["last_reload"]["trigger"] == "startup"
    assert report["applied"] is True and report["diagnostics"] == []


def test_a_broken_bundle_still_starts_and_shows_its_errors(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "bundle.yaml").write_text(BROKEN)
    with TestClient(app=app_on(folder, tmp_path)) as client:
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["bundle"] is None
        assert (
            client.get("/api/v1/definitions", headers={"Authorization": "Bearer x"}).status_code
            == 503
        )
        body = client.get("/api/v1/definitions/reload").json()
    assert body["applied"] is False and body["hash"] is None and body["errors"] == 1
    (diagnostic,) = body["diagnostics"]
    assert diagnostic["code"] == "invalid" and diagnostic["line"] == 4
    assert diagnostic["where"].endswith("broken/bundle.yaml:4:11")
    assert "IANA time zone" in diagnostic["message"]


def test_a_fixed_bundle_is_served_and_the_report_needs_a_role_again(tmp_path: Path) -> None:
    folder = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, folder)
    manifest = folder / "bundle.yaml"
    good = manifest.read_text()
    manifest.write_text(good.replace("timezone: Asia/Shanghai", "timezone: Mars/Olympus"))
    app = app_on(folder, tmp_path)
    with TestClient(app=app) as client:
        assert client.get("/api/v1/definitions/reload").json()["errors"] > 0
        manifest.write_text(good)
        server: Server = app.state.server
        result = server.reload("api", None)
        assert result.applied and result.changes["from"] is None
        assert client.get("/readyz").status_code == 200
        assert client.get("/api/v1/definitions/reload").status_code == 401
        headers = admin_headers(server)
        report = client.get("/api/v1/definitions/reload", headers=headers).json()
        assert report["applied"] is True and report["errors"] == 0


def test_serves_the_schema(tmp_path: Path) -> None:
    app = app_on(DEFINITIONS, tmp_path)
    with TestClient(app=app) as client:
        headers = admin_headers(app.state.server)
        assert client.get("/api/v1/definitions/schema", headers=headers).json() == (
            definition_schema()
        )
        assert client.get("/api/v1/definitions/schema").status_code == 401
