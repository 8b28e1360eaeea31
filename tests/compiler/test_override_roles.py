"""A routing rule's `override_roles` must name roles the manifest declares."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.compiler.pipeline import compile_bundle

REPO = Path(__file__).resolve().parents[2]


def test_an_unknown_override_role_is_a_located_error(tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    shutil.copytree(REPO / "definitions", folder)
    rules = folder / "rules" / "lead_scoring.yaml"
    text = rules.read_text(encoding="utf-8")
    assert "override_roles: [manager, director, admin]" in text
    rules.write_text(
        text.replace(
            "override_roles: [manager, director, admin]", "override_roles: [manager, directr]", 1
        ),
        encoding="utf-8",
    )
    result = compile_bundle(folder, display_root="defs")
    assert result.bundle is None
    assert [d.render() for d in result.diagnostics] == [
        "defs/rules/lead_scoring.yaml:67:27: error[unknown-reference]: role 'directr' is not "
        "defined (did you mean 'director'?)"
    ]


def test_the_default_bundle_declares_who_may_override_lead_routing() -> None:
    result = compile_bundle(REPO / "definitions")
    assert result.bundle is not None
    assert result.bundle.routings["lead_routing"].override_roles == ["manager", "director", "admin"]
