"""The definitions page: version, history, last reload diagnostics, diagrams, tables."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from markupsafe import escape

ANALYST, REP = "ma.lin", "li.wei"


def test_a_rep_is_refused_with_a_403_page(console: Callable[..., Any]) -> None:
    _api, client = console(REP)
    for path in ("/definitions", "/definitions/workflows/pharmacy_visit"):
        page = client.get(path)
        assert page.status_code == 403, path
        assert "may not read the definitions" in page.text
        assert page.headers["content-type"].startswith("text/html")


def test_the_page_shows_the_version_history_and_every_workflow(
    console: Callable[..., Any],
) -> None:
    api, client = console(ANALYST)
    bundle = api.server.bundle
    page = client.get("/definitions")
    assert page.status_code == 200
    assert bundle.hash[:12] in page.text
    assert str(escape(bundle.summary())) in page.text
    history = api.call("GET", "/api/v1/definitions/history", ANALYST).json()
    assert history and str(escape(history[0]["summary"])) in page.text
    assert page.text.count('<svg class="flow"') == len(bundle.workflows) == 15
    for name in bundle.workflows:
        assert f'href="/definitions/workflows/{name}"' in page.text
    for scoring in bundle.scorings.values():
        for feature in scoring.spec.features.values():
            assert f'<td class="num">{feature.weight}</td>' in page.text
    for routing in bundle.routings.values():
        assert routing.fallback_queue in page.text


def test_a_diagram_has_every_stage_and_an_arrow_per_move(console: Callable[..., Any]) -> None:
    api, client = console(ANALYST)
    for name, wf in api.server.bundle.workflows.items():
        page = client.get(f"/definitions/workflows/{name}")
        assert page.status_code == 200, name
        svg = page.text[page.text.index('<svg class="flow"') : page.text.index("</svg>")]
        assert "<title>" in svg and 'aria-label="Workflow' in svg
        for stage in wf.body.stages:
            assert f'data-id="{stage.id}"' in svg, (name, stage.id)
            assert str(escape(stage.title or stage.id))[:20] in svg
            if stage.only_when:
                assert re.search(f'class="stage conditional" data-id="{stage.id}"', svg)
        arrows = set(re.findall(r'data-from="([^"]+)" data-to="([^"]+)"', svg))
        assert arrows == set(wf.moves), name
        assert len(re.findall(r'<path class="move', svg)) == len(wf.moves)
        for stage in wf.body.stages:  # the stage table
            assert f"({stage.id})</span>" in page.text
    assert client.get("/definitions/workflows/nope").status_code == 404


def test_a_broken_reload_shows_each_diagnostic_as_file_line_col(
    console: Callable[..., Any],
) -> None:
    api, client = console(ANALYST)
    broken = api.directory / "rules" / "broken.yaml"
    broken.write_text("kind: scoring\nversion: 1\nname: broken\nentity: nowhere\n", "utf-8")
    answer = api.call("POST", "/api/v1/definitions/reload", "admin")
    assert answer.status_code == 422
    diagnostics = answer.json()["result"]["diagnostics"]
    assert diagnostics
    page = client.get("/definitions")
    assert page.status_code == 200
    assert "not applied" in page.text
    for d in diagnostics:
        assert re.fullmatch(r".+:\d+:\d+", d["where"])
        assert f"<code>{d['where']}</code>" in page.text
        assert str(escape(d["message"])) in page.text
