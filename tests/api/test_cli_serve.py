"""`sopflow serve` starts, prints where and a first token, and stops gracefully;
`sopflow token` and `sopflow user` manage access from the command line."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from api.cli import main

REPO = Path(__file__).resolve().parents[2]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_prints_the_url_and_a_token_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _port()
    env = {
        **os.environ,
        "SOPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "SOPFLOW_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "SOPFLOW_MAILBOX_DIR": str(tmp_path / "mailbox"),
    }
    env["SOPFLOW_PORT"] = str(port)  # the port comes from the environment
    cmd = [sys.executable, "-m", "api.cli", "serve", str(REPO / "definitions")]
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=log, text=True
    )
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:
            printed.append(line)
            if "serving on" in line:
                break
        text = "".join(printed)
        assert f"http://127.0.0.1:{port}/" in text
        token = re.search(r"(sft_\S+)", text)
        assert token, text
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert ready.status_code == 200 and ready.json()["ready"] is True
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers=headers)
        assert me.json() == {"user": "admin", "roles": ["admin"], "declared": True}
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/me").status_code == 401
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal as its exit status.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        log.flush()
        logged = (tmp_path / "server.log").read_text()
        assert "Application shutdown complete" in logged
        assert '"level": "error"' not in logged, logged
    finally:
        log.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_token_and_user_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    runner = CliRunner()
    defs = str(REPO / "definitions")
    made = runner.invoke(main, ["token", "create", "li.wei", "--dir", defs, "--url", url])
    assert made.exit_code == 0, made.output
    assert made.output.startswith("sft_")
    unknown = runner.invoke(main, ["token", "create", "nobody", "--dir", defs, "--url", url])
    assert unknown.exit_code == 1 and "no user 'nobody'" in unknown.output
    bad_role = runner.invoke(
        main, ["user", "add", "bot", "--role", "wizard", "--dir", defs, "--url", url]
    )
    assert bad_role.exit_code == 1 and "unknown roles ['wizard']" in bad_role.output
    added = runner.invoke(
        main, ["user", "add", "bot", "--role", "analyst", "--dir", defs, "--url", url]
    )
    assert added.exit_code == 0, added.output
    bot = runner.invoke(main, ["token", "create", "bot", "--dir", defs, "--url", url])
    assert bot.exit_code == 0 and bot.output.startswith("sft_")
    listed = runner.invoke(main, ["token", "list", "--url", url]).output.splitlines()
    assert [line.split("\t")[1] for line in listed] == ["bot", "li.wei"]
    assert all(line.endswith("active") for line in listed)
    revoked = runner.invoke(main, ["token", "revoke", "1", "--url", url])
    assert revoked.exit_code == 0, revoked.output
    again = runner.invoke(main, ["token", "revoke", "1", "--url", url])
    assert again.exit_code == 1 and "no active token 1" in again.output
    assert "revoked" in runner.invoke(main, ["token", "list", "--url", url]).output


def _clean_env(port: int) -> dict[str, str]:
    """The environment without any sopflow setting (no database, evidence or mailbox)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPFLOW_")}
    env["SOPFLOW_PORT"] = str(port)
    env["PYTHONPATH"] = str(REPO)
    return env


def test_token_create_and_serve_share_one_database_without_flags(tmp_path: Path) -> None:
    """`sopflow token create` then `sopflow serve`, same folder, no database flags: the
    token is accepted (both use var/sopflow.db of the working directory)."""
    port = _port()
    env = _clean_env(port)
    defs = str(REPO / "definitions")
    made = subprocess.run(
        [sys.executable, "-m", "api.cli", "token", "create", "li.wei", "--dir", defs],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    value = made.stdout.strip()
    assert value.startswith("sft_")
    assert (tmp_path / "var" / "sopflow.db").is_file()
    version = subprocess.run(
        [sys.executable, "-m", "api.cli", "db", "version"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert version.stdout.startswith("sqlite:///var/sopflow.db: at "), version.stdout
    assert "nothing" not in version.stdout
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", defs, "--no-watch"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed = []
        for line in proc.stdout:
            printed.append(line)
            if "serving on" in line:
                break
        assert "API tokens exist" in "".join(printed), "".join(printed)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/readyz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        me = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/me", headers={"Authorization": f"Bearer {value}"}
        )
        assert me.status_code == 200, me.text
        assert me.json()["user"] == "li.wei"
    finally:
        log.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
