"""The README stays true: its links exist, its make targets exist, its commands run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
TEXT = README.read_text(encoding="utf-8")
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", TEXT, re.S)
COMMANDS = [
    line.split("#")[0].strip()
    for block in SH_BLOCKS
    for line in block.splitlines()
    if line.strip() and not line.strip().startswith("#")
]
# Commands that start a long-lived server or rebuild the environment are checked by
# their own tests (tests/api/test_cli_serve.py) or by CI itself, not run from here.
NOT_RUN_HERE = {
    "make run",
    "make demo",
    "make test",
    "make bench",
    "make lint",
    "make format",
    "make clean",
}


def test_every_link_to_a_file_exists() -> None:
    links = re.findall(r"\]\(((?!https?:)[^)#]+)\)", TEXT)
    assert links
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_every_make_target_it_names_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z-]+):", makefile, re.M))
    named = set(re.findall(r"`make ([a-z-]+)`", TEXT)) | {
        c.split()[1] for c in COMMANDS if c.startswith("make ")
    }
    assert named and named <= targets, f"not in the Makefile: {named - targets}"


SOPFLOW = [c for c in COMMANDS if c.startswith(".venv/bin/sopflow ")]


@pytest.mark.parametrize("command", SOPFLOW)
def test_each_sopflow_command_runs(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the command as written (from the repository root), with outputs in a temp dir."""
    args = shlex.split(command)[1:]
    args = [str(tmp_path / Path(a).name) if a.endswith((".xml", ".json")) else a for a in args]
    # Databases and evidence folders under var/ go to the temp dir too.
    args = [
        f"sqlite:///{tmp_path / Path(a).name}" if a.startswith("sqlite:///var/") else a
        for a in args
    ]
    args = [str(tmp_path / Path(a).name) if a.startswith("var/") else a for a in args]
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, f"{command}\n{result.output}"


def test_the_readme_shows_the_sopflow_commands() -> None:
    shown = {shlex.split(c)[1] for c in SOPFLOW}
    assert {"validate", "test", "schema"} <= shown
    assert (
        not {c for c in COMMANDS if c.startswith("make ")}
        - NOT_RUN_HERE
        - {
            "make schema",
            "make validate",
            "make db",
        }
    )
