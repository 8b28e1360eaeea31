"""The tokens a start prints on demo data work: the rep creates an opportunity at once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.cli_serve import _demo_tokens
from runtime.demo import DemoPlan, run_demo
from tests.api.conftest import Api

V1 = "/api/v1"


def test_the_printed_demo_tokens_work(
    make_api: Callable[..., Api], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api = make_api()
    server = api.server
    assert server.bundle is not None
    _demo_tokens(server.store, server.bundle)
    assert capsys.readouterr().out == ""  # no demo staff yet: nothing printed
    run_demo(server.bundle, server.store, DemoPlan(seed=3, leads=60), evidence_dir=str(tmp_path))
    _demo_tokens(server.store, server.bundle)
    printed = dict(
        re.findall(r"demo (\w+) '[\w.]+' token \(shown once\): (\S+)", capsys.readouterr().out)
    )
    assert set(printed) == {"rep", "manager", "analyst"}

    def call(role: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return api.client.request(
            method, V1 + path, headers={"Authorization": f"Bearer {printed[role]}"}, **kw
        )

    data = {"pharmacy_name": "Demo Pharmacy", "region": "sichuan"}
    made = call("rep", "POST", "/records/opportunity", json=data)
    assert made.status_code == 201, made.text
    assert made.json()["stage"] == "appointment"
    # The analyst reads the alerts and metrics the quarter left; may not create a deal.
    assert call("analyst", "GET", "/alerts").status_code == 200
    refused = call("analyst", "POST", "/records/opportunity", json=data)
    assert refused.status_code == 403
    assert call("manager", "GET", "/records/opportunity").status_code == 200
