"""Every link between the project's Markdown files lands: the file exists and, when the
link names a section (`language.md#conditional-stages`), a heading of that file makes
that anchor (GitHub's rule: lower case, punctuation dropped, spaces to hyphens)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FILES = sorted(
    [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        *REPO.glob("docs/*.md"),
        *REPO.glob("examples/**/*.md"),
    ]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """Return the anchor GitHub makes of a heading's text."""
    text = re.sub(r"<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Return the anchors of a Markdown file's headings (duplicates get -1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def test_slugs_follow_githubs_rule() -> None:
    assert slug("kind: workflow_template") == "kind-workflow_template"
    assert slug("Per item: `for_each`") == "per-item-for_each"
    assert slug("When an expression fails") == "when-an-expression-fails"


@pytest.mark.parametrize("source", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_between_markdown_files_land(source: Path) -> None:
    text = FENCE.sub("", source.read_text(encoding="utf-8"))
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        name, _, anchor = target.partition("#")
        path = (source.parent / name).resolve() if name else source
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading makes '#{anchor}'")
    assert not broken, f"{source.relative_to(REPO)}:\n  " + "\n  ".join(broken)


def test_every_file_the_scenario_table_names_exists() -> None:
    """docs/scenarios.md names, per scenario ID, the definitions and tests that prove it
    (paths in definitions/, or from the repository's root for tests/runtime and tests/api;
    a bare file name is in the folder of the path before it, or at the top)."""
    text = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    table = text.split("## Which files prove each ID", 1)[1]
    rows = [line for line in table.splitlines() if re.match(r"^\| [PF]\d", line)]
    assert len(rows) >= 20
    missing = []
    for row in rows:
        folder = ""
        for written in re.findall(r"[\w./-]+\.(?:yaml|py)", row):
            if "/" in written:
                folder = written.rsplit("/", 1)[0]
            names = [written] if "/" in written else [f"{folder}/{written}", written]
            places = [REPO / "definitions" / n for n in names] + [REPO / n for n in names]
            if not any(place.is_file() for place in places):
                missing.append(f"{row.split('|')[1].strip()}: {written}")
    assert not missing, "docs/scenarios.md names missing files:\n  " + "\n  ".join(missing)
