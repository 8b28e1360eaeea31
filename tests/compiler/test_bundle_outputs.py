"""What a compiled bundle says of itself (summary, catalog) and what compiling refuses outright."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog import catalog, lookup
from engine.compiler import pipeline
from engine.compiler.pipeline import compile_bundle
from tests.runtime.small import small_bundle, write

FILES = {
    "forms/lead.yaml": "kind: form\nversion: 1\nentity: lead\nfields:\n  tier: {type: string}\n",
    "workflows/flow.yaml": "kind: workflow\nversion: 1\nname: flow\nentity: lead\n"
    "title: Lead flow\nstages: [{id: new, title: New}]\n",
    "workflows/tpl.yaml": "kind: workflow_template\nversion: 1\nname: tpl\nworkflow:\n"
    "  entity: lead\n  stages: [{id: open}]\n---\n"
    "kind: workflow\nversion: 1\nname: made\ntemplate: tpl\ntitle: Made\n",
}


def test_the_summary_counts_files_and_definitions(tmp_path: Path) -> None:
    bundle = small_bundle(tmp_path, FILES)
    assert bundle.summary() == (
        f"bundle 'small' ({bundle.hash[:12]}): 4 files, 1 form, 2 workflows, 1 workflow_template"
    )


def test_the_catalog_names_a_workflow_template_and_lookup_walks_dotted_paths(
    tmp_path: Path,
) -> None:
    found = catalog(small_bundle(tmp_path, FILES))
    assert found["workflow"] == {
        "flow": {"title": "Lead flow", "description": "", "stages": {"new": {"title": "New"}}},
        "made": {
            "title": "Made",
            "description": "",
            "stages": {"open": {"title": ""}},
            "template": "tpl",
        },
    }
    assert lookup(found, "workflow.made.template") == (True, "tpl")
    assert lookup(found, "workflow.flow.template") == (False, None)
    assert lookup(found, "workflow.flow.title.more") == (False, None)


def test_compiling_a_file_instead_of_a_folder_is_one_error(tmp_path: Path) -> None:
    file = tmp_path / "bundle.yaml"
    file.write_text("kind: bundle\n", encoding="utf-8")
    result = compile_bundle(file, display_root="defs")
    assert result.bundle is None
    assert [d.render() for d in result.diagnostics] == [
        "defs:1:1: error[no-bundle]: not a folder of definitions"
    ]


def test_a_folder_past_the_file_limit_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "MAX_FILES", 3)
    result = compile_bundle(write(tmp_path, FILES), display_root="defs")
    assert result.bundle is None
    assert [d.render() for d in result.diagnostics] == [
        "defs:1:1: error[too-many-files]: 4 files; the limit is 3"
    ]
