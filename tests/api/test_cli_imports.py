"""Each `sopflow` command imports what it needs and no more (issue 14: start-up time).

`validate` and `schema` load the engine alone, `test` adds the runtime but never the
server stack, `--version` loads no sopflow package. Each case runs the real CLI in a
fresh interpreter and reads `sys.modules` when it ends; no timings are asserted (the
start-up time is measured by bench/cli_start.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from api.cli import COMMANDS, LazyGroup, main
from api.cli_schema import schema
from api.cli_validate import validate

REPO = Path(__file__).resolve().parents[2]
# The server stack and the store's libraries: what a compile-only command must not load.
SERVER = ("litestar", "uvicorn", "api.app", "api.server", "api.routes")
STORE = ("sqlalchemy", "sqlmodel", "alembic", "psycopg", "httpx", "apscheduler", "runtime")
WATCHED = (*SERVER, *STORE, "engine", "engine.compiler.pipeline", "engine.schema")
WATCHED += ("engine.spec.testing", "runtime.testing", "jinja2", "ruamel.yaml", "click")

PROBE = """
import json, sys
from api.cli import main
out, watched = sys.argv[1], sys.argv[2].split(",")
sys.argv = ["sopflow", *sys.argv[3:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code
with open(out, "w", encoding="utf-8") as handle:
    json.dump({"code": code, "loaded": [m for m in watched if m in sys.modules]}, handle)
"""


def loaded_by(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """Run `sopflow ARGS` in a fresh interpreter; return its exit code and the watched modules."""
    out = tmp_path / "modules.json"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-c", PROBE, str(out), ",".join(WATCHED), *args]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert out.exists(), proc.stderr
    found = json.loads(out.read_text(encoding="utf-8"))
    return found["code"], set(found["loaded"])


def test_version_loads_no_sopflow_package(tmp_path: Path) -> None:
    code, loaded = loaded_by(tmp_path, "--version")
    assert code == 0
    assert loaded == {"click"}


def test_validate_loads_the_engine_and_nothing_of_the_server_or_the_store(
    tmp_path: Path,
) -> None:
    code, loaded = loaded_by(tmp_path, "validate", "definitions")
    assert code == 0
    assert loaded == {"click", "engine", "engine.compiler.pipeline", "jinja2", "ruamel.yaml"}


def test_validate_with_errors_and_json_stays_on_the_engine(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "bundle.yaml").write_text("kind: bundle\nversion: 1\nname: [\n", encoding="utf-8")
    code, loaded = loaded_by(tmp_path, "validate", str(bad), "--format", "json")
    assert code == 1
    assert not loaded & {*SERVER, *STORE, "engine.spec.testing"}
    assert "engine.compiler.pipeline" in loaded


def test_schema_loads_the_spec_models_only(tmp_path: Path) -> None:
    code, loaded = loaded_by(tmp_path, "schema", "--out", str(tmp_path / "schema.json"))
    assert code == 0
    assert loaded == {"click", "engine", "engine.schema", "engine.spec.testing"}


def test_sopflow_test_loads_the_runtime_but_not_the_server(tmp_path: Path) -> None:
    code, loaded = loaded_by(tmp_path, "test", "definitions", "-q", "-k", "f10_alert_feedback")
    assert code == 0
    assert "runtime.testing" in loaded and "sqlalchemy" in loaded
    assert not loaded & set(SERVER)


def test_importing_the_dispatcher_loads_no_command() -> None:
    code = "import sys, api.cli; print(sorted(m for m in sys.modules if m.startswith('api')))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "['api', 'api.cli']"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_lazy_command_keeps_its_own_name(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None and command.name == name


def test_help_lists_every_command_with_its_short_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed] == sorted(COMMANDS)
    ctx = click.Context(main)
    for line in listed:
        name = line.split()[0]
        command = main.get_command(ctx, name)
        assert command is not None
        assert line.split(None, 1)[1] == command.get_short_help_str(80 - 6 - len("validate"))


def test_a_mistyped_command_is_matched_against_every_command() -> None:
    fresh = LazyGroup(name="sopflow", lazy=COMMANDS)  # nothing loaded yet
    result = CliRunner().invoke(fresh, ["validat"])
    assert result.exit_code == 2
    assert "No such command 'validat'. Did you mean 'validate'?" in result.output
    assert "Did you mean" not in CliRunner().invoke(fresh, ["zzz"]).output


def test_a_known_command_loads_only_its_own_module() -> None:
    fresh = LazyGroup(name="sopflow", lazy=COMMANDS)
    assert fresh.list_commands(click.Context(fresh)) == sorted(COMMANDS)
    assert fresh.commands == {}
    fresh.get_command(click.Context(fresh), "schema")
    assert list(fresh.commands) == ["schema"]
    assert fresh.get_command(click.Context(fresh), "nothing") is None


def test_running_a_command_loads_only_that_command(tmp_path: Path) -> None:
    fresh = LazyGroup("sopflow", lazy=COMMANDS)
    assert fresh.name == "sopflow"
    result = CliRunner().invoke(fresh, ["schema", "--out", str(tmp_path / "schema.json")])
    assert result.exit_code == 0, result.output
    assert list(fresh.commands) == ["schema"]
    assert fresh.commands["schema"] is schema


def test_the_lazy_name_is_the_name_a_command_is_listed_and_called_by() -> None:
    renamed = LazyGroup("sopflow", lazy={"check": "api.cli_validate:validate"})
    ctx = click.Context(renamed)
    assert renamed.get_command(ctx, "check") is validate
    assert renamed.commands == {"check": validate}
    assert renamed.list_commands(ctx) == ["check"]
    assert renamed.get_command(ctx, "validate") is None


def test_a_lazy_entry_that_is_not_a_command_is_refused() -> None:
    broken = LazyGroup(name="sopflow", lazy={"odd": "api.cli:COMMANDS"})
    with pytest.raises(TypeError, match=r"^api\.cli:COMMANDS is not a click command$"):
        broken.get_command(click.Context(broken), "odd")
