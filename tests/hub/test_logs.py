"""`pos-hub serve --log-json`: every line the hub and uvicorn log is one JSON object, in
the serving process and in each worker process."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.hub.conftest import BIN, free_port, run_cli, write_config


def test_serve_logs_json_lines(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    port = free_port()
    workers = "2" if "postgresql" in fresh_url else "1"
    proc = subprocess.Popen([str(BIN), "serve", "--config", str(config), "--port", str(port),
                             "--log-json", "--workers", workers, "--no-jobs"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/terminal/whoami",
                              headers={"Authorization": "Bearer t_wrong"}, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all(set(x) >= {"time", "level", "logger", "message"} for x in lines)
    refused = [x for x in lines if x["logger"] == "hub.auth"]
    assert refused and refused[0]["level"] == "WARNING"
    assert "path='/v1/terminal/whoami' reason=bad_token" in refused[0]["message"]
    access = [x for x in lines if x["logger"] == "uvicorn.access"]
    assert any("/v1/terminal/whoami" in x["message"] and "401" in x["message"]
               for x in access)
