"""Fixtures for sync tests: a real hub (`pos-hub serve`) on 127.0.0.1 and real terminals.

The hub runs as a subprocess from its own CLI on a temporary SQLite file, exactly as a
store manager would start it; terminals are real SQLite stores made with the same code
the `pos` CLI uses. Servers are stopped by the fixtures that start them.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from loyalty.sale import SaleLine, make_sale
from pos_agent.identity import fetch_whoami, init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import PosSettings, load_settings
from pos_agent.store import Store, open_store
from pos_agent.sync.agent import SyncAgent
from pos_agent.sync.client import HubClient
from pos_agent.sync.local import StoreSync
from tests.example_config import write_example_config

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_cli(config: Path, *args: str) -> str:
    done = subprocess.run([str(BIN / "pos-hub"), *args, "--config", str(config)],
                          capture_output=True, text=True, cwd=config.parent, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@dataclass
class HubServer:
    folder: Path
    config: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    admin_token: str = ""
    online_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.folder / "hub.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(BIN / "pos-hub"), "serve", "--config", str(self.config), "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline:
                assert self.process.poll() is None, (self.folder / "hub.log").read_text()
                try:
                    if httpx.get(self.url + "/openapi.json", timeout=1).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            raise AssertionError("hub did not start: " + (self.folder / "hub.log").read_text())
        except BaseException:
            # whatever failed while waiting, the server must not outlive the test
            self.process.kill()
            self.process.wait()
            raise

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def add_terminal(self, origin: str) -> str:
        return hub_cli(self.config, "terminal", "add", origin).strip().splitlines()[-1]

    def admin(self, path: str, **params: object) -> httpx.Response:
        return httpx.get(self.url + path, params=params,
                         headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=30)

    def member_balance(self, member_id: str) -> dict:
        response = self.admin(f"/v1/admin/members/{member_id}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    folder = tmp_path / "hub"
    folder.mkdir()
    config = folder / "hub.toml"
    write_example_config(config)
    env_url = f"sqlite:///{folder / 'hub.db'}"
    os.environ["POS_HUB__DATABASE_URL"] = env_url
    try:
        hub_cli(config, "init")
        server = HubServer(folder, config)
        server.admin_token = hub_cli(config, "admin", "add", "tests").strip().splitlines()[-1]
        server.online_token = hub_cli(config, "channel", "add", "online").strip().splitlines()[-1]
        server.start()
        yield server
        server.stop()
    finally:
        os.environ.pop("POS_HUB__DATABASE_URL", None)


@dataclass
class Terminal:
    settings: PosSettings
    store: Store
    origin: str

    def agent(self, url: str, token: str, **kw: object) -> SyncAgent:
        client = HubClient(url, token, timeout=float(kw.pop("timeout", 5.0)))
        return SyncAgent(StoreSync(self.settings), client, **kw)


def make_terminal(tmp_path: Path, hub: HubServer, store_id: str, term: str) -> tuple[Terminal, str]:
    folder = tmp_path / f"{store_id}-{term}"
    folder.mkdir()
    config = folder / "pos.toml"
    write_example_config(config)
    text = config.read_text().replace('store = "S001"', f'store = "{store_id}"').replace(
        'terminal = "T1"', f'terminal = "{term}"')
    text = text.replace('kind = "file"', 'kind = "dummy"')
    config.write_text(text)
    settings = load_settings(str(config))
    store = open_store(settings)
    origin = f"{store_id}-{term}"
    token = hub.add_terminal(origin)
    whoami = fetch_whoami(hub.url, token)
    init_terminal(store.db, store_id, term, hub_url=hub.url, hub_token=token,
                  card_issuer=whoami["card_issuer"])  # key certified at the first sync
    return Terminal(settings, store, origin), token


@pytest.fixture
def terminal(tmp_path: Path, hub: HubServer) -> tuple[Terminal, str]:
    return make_terminal(tmp_path, hub, "S001", "T1")


SALE = make_sale([SaleLine("LATTE", "coffee", 2, 350), SaleLine("CROI", "pastry", 1, 180)])


def sell(t: Terminal, n: int, members: int = 20) -> list[str]:
    ids = [enrol(t.store, name=f"M{i}", phone=f"+3360000{i:04d}").member_id
           for i in range(members)]
    for i in range(n):
        record_sale(t.store, ids[i % members], SALE)
    return ids


def hub_events(hub: HubServer, origin: str) -> list[tuple[str, int]]:
    """(event_id, origin_seq) the hub holds for an origin, read from its database file."""
    with sqlite3.connect(hub.folder / "hub.db") as conn:
        return conn.execute(
            "SELECT event_id, origin_seq FROM events WHERE origin = ? ORDER BY origin_seq",
            (origin,),
        ).fetchall()


def local_events(t: Terminal) -> list[tuple[str, int]]:
    return t.store.conn.execute(
        "SELECT event_id, origin_seq FROM events ORDER BY origin_seq").fetchall()


def saved_cursor(t: Terminal) -> int:
    return t.store.conn.execute("SELECT pull_cursor FROM sync_state").fetchone()[0]


def spawn_pos(config: Path, *args: str, **popen: object) -> subprocess.Popen:
    """`pos ARGS --config CONFIG` as a real subprocess (the installed console script)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([str(BIN / "pos"), *args, "--config", str(config)], **popen)


def wait_until(check: Callable[[], bool], timeout: float, proc: subprocess.Popen,
               what: str) -> None:
    """Poll `check` until true; fail with the process's output if it ended first."""
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"pos ended before {what}: {out!r} {err!r}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
