"""`pos-hub` as a manager runs it: init, tokens printed once on the last line, revoke,
reports, flags, rebuild."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from .conftest import CONFIG_TEXT

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent / "pos-hub"


def run(folder: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_HUB")}
    done = subprocess.run([str(BIN), *args, "--config", str(folder / "hub.toml")],
                          capture_output=True, text=True, cwd=folder, env=env, timeout=60)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


def test_cli_tokens_revoke_reports(tmp_path: Path):
    (tmp_path / "hub.toml").write_text(CONFIG_TEXT)
    out = run(tmp_path, "init").stdout
    assert "schema revision 0002" in out and "published" in out
    assert (tmp_path / "pos-hub.db").exists()  # relative to the config file
    added = run(tmp_path, "terminal", "add", "S001-T1").stdout.strip().splitlines()
    token = added[-1]
    assert token.startswith("t_") and len(token) > 30 and " " not in token
    assert token not in (tmp_path / "pos-hub.db").read_bytes().decode("latin-1")  # hashed
    assert run(tmp_path, "terminal", "add", "not a terminal", ok=False).stderr
    admin = run(tmp_path, "admin", "add", "ann").stdout.strip().splitlines()[-1]
    assert admin.startswith("a_")
    listed = json.loads(run(tmp_path, "terminal", "list", "--json").stdout)
    assert [c["name"] for c in listed] == ["S001-T1", "ann"]
    assert "revoked 1" in run(tmp_path, "terminal", "revoke", "S001-T1").stdout
    run(tmp_path, "terminal", "revoke", "S001-T1", ok=False)
    liability = json.loads(run(tmp_path, "report", "liability", "--json").stdout)
    assert liability["total"] == 0 and liability["stores"] == []
    assert "total outstanding: 0" in run(tmp_path, "report", "liability").stdout
    health = run(tmp_path, "report", "sync-health").stdout
    assert "S001-T1" in health and "last_push_at" in health
    assert json.loads(run(tmp_path, "flags", "--json").stdout) == []
    assert "snapshots that differed: 0" in run(tmp_path, "rebuild", "--check").stdout
    assert "expiry: 0" in run(tmp_path, "jobs", "run", "all").stdout
    for command in (["--help"], ["serve", "--help"], ["flags", "resolve", "--help"]):
        assert "usage: pos-hub" in run(tmp_path, *command).stdout


def test_cli_serve_answers_and_stops(tmp_path: Path):
    import signal
    import time

    from .conftest import free_port

    (tmp_path / "hub.toml").write_text(CONFIG_TEXT)
    run(tmp_path, "init")
    token = run(tmp_path, "terminal", "add", "S009-T2").stdout.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen([str(BIN), "serve", "--config", str(tmp_path / "hub.toml"),
                             "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/terminal/whoami",
                              headers={"Authorization": f"Bearer {token}"}, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["origin"] == "S009-T2"
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
