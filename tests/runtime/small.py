"""Small bundles written for one test file: a manifest plus the documents under test."""

from __future__ import annotations

from pathlib import Path

from engine.bundle import Bundle
from engine.compiler.pipeline import compile_bundle
from engine.diagnostics import Diagnostic

MANIFEST = """\
kind: bundle
version: 1
name: small
timezone: UTC
roles:
  rep: {title: Rep}
  reviewer: {title: Reviewer}
users:
  ann: {name: Ann, roles: [rep], capacity: 2}
  bob: {name: Bob, roles: [rep], capacity: 2}
  rita: {name: Rita, roles: [reviewer]}
queues:
  overflow: {title: Overflow}
"""


def write(root: Path, files: dict[str, str]) -> Path:
    """Write a bundle directory: the manifest (unless given) and `files` by relative path."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in {"bundle.yaml": MANIFEST, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def small_bundle(root: Path, files: dict[str, str]) -> Bundle:
    """Compile a small bundle; fail with its diagnostics when it does not compile."""
    result = compile_bundle(write(root, files))
    assert result.bundle is not None, [d.render() for d in result.diagnostics]
    return result.bundle


def diagnostics(root: Path, files: dict[str, str]) -> list[str]:
    """Compile a small bundle and return its rendered diagnostics, paths made relative."""
    result = compile_bundle(write(root, files))
    return [_relative(d, root) for d in result.diagnostics]


def _relative(d: Diagnostic, root: Path) -> str:
    return d.render().replace(f"{root}/", "").replace(f"{root.name}/", "")
