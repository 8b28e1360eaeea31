"""Find and parse the definition tests (`kind: test` documents) of a bundle folder.

Tests live beside the definitions (any `.yaml` under the folder, by convention in
`tests/`); the compiler leaves them out of the Bundle and its hash, and `sopflow test`
reads them here with the same located diagnostics as definitions get.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.compiler.parse import validate_as
from engine.diagnostics import Diagnostic
from engine.spec import LANGUAGE_VERSION
from engine.spec.testing import TEST_KIND, TestSpec, is_test
from engine.yamlsource import Document, load_documents


@dataclass(frozen=True)
class TestCase:
    """One parsed test document and where it came from."""

    __test__ = False  # not a pytest test class

    spec: TestSpec
    doc: Document
    root: Path | None = None  # the bundle folder the case was found in (for `reload:`)

    @property
    def path(self) -> str:
        """Return the file the case is in (as shown in messages)."""
        return self.doc.path

    @property
    def line(self) -> int:
        """Return the line the case starts on."""
        return self.doc.start[0]

    def locate(self, *loc: str | int, key: bool = False) -> tuple[int, int]:
        """Return the (line, col) of a value of the case, e.g. ('steps', 2, 'expect', 'stage')."""
        return self.doc.locate(tuple(loc), key=key)


def parse_test(doc: Document) -> tuple[TestSpec | None, list[Diagnostic]]:
    """Validate one `kind: test` document; return its spec or located diagnostics."""
    data: Any = doc.data
    version = data.get("version")
    if version != LANGUAGE_VERSION or isinstance(version, bool):
        return None, [
            doc.diagnostic(
                ("version",) if version is not None else (),
                "unsupported-version" if version is not None else "missing-version",
                "a test needs 'version: 1'",
                f"this sopflow reads version {LANGUAGE_VERSION}",
            )
        ]
    spec, problems, _ = validate_as(doc, TEST_KIND, TestSpec)
    return (spec if isinstance(spec, TestSpec) else None), problems


def load_tests(
    root: Path | str, files: list[Path], display_root: str | None = None
) -> tuple[list[TestCase], list[Diagnostic]]:
    """Parse the test documents of `files` (under `root`); other documents are skipped."""
    root = Path(root)
    shown = display_root if display_root is not None else str(root)
    cases: list[TestCase] = []
    problems: list[Diagnostic] = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        docs, bad = load_documents(
            f"{shown.rstrip('/')}/{rel}" if shown else rel, path.read_bytes()
        )
        tests = [d for d in docs if is_test(d)]
        if tests or _looks_like_tests(rel):
            problems.extend(bad)
        for doc in tests:
            spec, diags = parse_test(doc)
            problems.extend(diags)
            if spec is not None:
                cases.append(TestCase(spec, doc, root))
    return cases, problems


def _looks_like_tests(rel: str) -> bool:
    """Tell whether a file sits where tests live (its YAML errors are then test errors)."""
    return rel.startswith("tests/") or "/tests/" in rel


__all__ = ["TEST_KIND", "TestCase", "is_test", "load_tests", "parse_test"]
