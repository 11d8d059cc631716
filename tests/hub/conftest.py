"""Fixtures for the hub's tests: a real uvicorn server on 127.0.0.1 against a temporary
SQLite file, and against PostgreSQL when POS_HUB_TEST_DATABASE_URL is set (in a schema of
its own, dropped at the end), plus a terminal simulator that seals events with the domain
code exactly as a store terminal does.

Servers are started once per backend for the session (each test uses its own terminals
and members, and asserts on row-count deltas) and stopped at teardown.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from hub.app import create_app
from hub.context import HubContext
from hub.db import migrate
from hub.keys import create_key_file
from hub.settings import normalise_url, settings_for
from hub.store.credentials import add_credential
from hub.store.programs import publish
from hub.tables import metadata
from loyalty.clock import HybridClock
from loyalty.earning import earn_for_sale, enrolment_drafts
from loyalty.events import GENESIS, Event, EventDraft, format_instant, seal
from loyalty.fold import MemberState, apply
from loyalty.ids import new_member_id
from loyalty.program import load_program_text
from loyalty.redemption import redeem, use_voucher
from loyalty.sale import make_line, make_sale
from tests.example_config import example_config_text

ROOT = Path(__file__).resolve().parents[2]
# The steady example program (no Tuesday doubling, no dated pastry week): every hub test
# rings up sales at the real time and checks point numbers worked out without promotions.
CONFIG_TEXT = example_config_text()
PROGRAM = load_program_text(CONFIG_TEXT)
PG_ENV = "POS_HUB_TEST_DATABASE_URL"


def raw_program() -> dict[str, Any]:
    import tomllib

    return tomllib.loads(CONFIG_TEXT)["program"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Hub:
    """A running hub: its base URL, tokens, and a context on the same database."""

    url: str
    ctx: HubContext
    admin_token: str
    online_token: str
    backend: str
    server: Any = None
    thread: threading.Thread | None = None

    def token(self, kind: str, name: str) -> str:
        with self.ctx.db.write() as conn:
            return add_credential(conn, kind, name)

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    def online(self) -> httpx.Client:
        return self.client(self.online_token)

    def count(self, table: str, **where: Any) -> int:
        t = metadata.tables[table]
        stmt = select(func.count()).select_from(t)
        for key, value in where.items():
            stmt = stmt.where(t.c[key] == value)
        with self.ctx.db.read() as conn:
            return int(conn.execute(stmt).scalar_one())

    def rows(self, table: str, **where: Any) -> list[dict[str, Any]]:
        t = metadata.tables[table]
        stmt = select(t)
        for key, value in where.items():
            stmt = stmt.where(t.c[key] == value)
        with self.ctx.db.read() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in
                ("events", "members", "cards", "flags", "changes", "streams")}

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            if self.thread is not None:
                self.thread.join(10)
        self.ctx.close()


def make_hub_key() -> str:
    """A hub signing key file for servers built in code (`pos-hub init` makes one for the
    CLI); a hub serves nothing without one."""
    path = Path(tempfile.mkdtemp(prefix="hub-key-")) / "pos-hub.key"
    create_key_file(path)
    return str(path)


def start_hub(url: str, backend: str, **hub_settings: Any) -> Hub:
    migrate(url)
    hub_settings.setdefault("signing_key_file", make_hub_key())
    # The session's hub answers every test from 127.0.0.1, wrong tokens included: the
    # limits of failed tokens are tested on servers of their own (test_auth_limits.py).
    hub_settings.setdefault("auth_failures_per_address", 1_000_000)
    hub_settings.setdefault("auth_failures_per_token", 1_000_000)
    settings = settings_for(url, raw_program(), **hub_settings)
    ctx = HubContext.from_settings(settings)
    with ctx.db.write() as conn:
        publish(conn, ctx.db, settings.program)
        admin = add_credential(conn, "admin", f"tests-{uuid.uuid4().hex[:6]}")
    with ctx.db.write() as conn:
        online = add_credential(conn, "channel", "online")
    server, thread, url = serve_app(create_app(settings, HubContext.from_settings(settings)))
    return Hub(url, ctx, admin, online, backend, server, thread)


def serve_app(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    """Run an app on a free port of 127.0.0.1 in a thread; stop with `server.should_exit`."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@contextmanager
def variant(hub: Hub, **hub_settings: Any) -> Iterator[str]:
    """A second server on the hub's database with other `[hub]` settings; its URL."""
    hub_settings.setdefault("signing_key_file", hub.ctx.settings.hub.signing_key_file)
    settings = settings_for(hub.ctx.settings.hub.database_url, raw_program(), **hub_settings)
    server, thread, url = serve_app(create_app(settings))
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def sqlite_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    path = tmp_path_factory.mktemp("hub") / "hub.db"
    hub = start_hub(f"sqlite:///{path}", "sqlite")
    yield hub
    hub.stop()


def pg_url(schema: str) -> str | None:
    raw = os.environ.get(PG_ENV)
    if not raw:
        return None
    base = normalise_url(raw, Path.cwd())
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def pg_schema() -> Iterator[str]:
    raw = os.environ.get(PG_ENV)
    if not raw:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests need a server "
                    "(e.g. postgresql://postgres@127.0.0.1:5432/test)")
    # unique per instance: tests/web re-exports these session fixtures, which makes a
    # second instance; sharing one name, its set-up dropped the running hub's schema
    schema = f"hub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(normalise_url(raw, Path.cwd()), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def pg_hub(pg_schema: str) -> Iterator[Hub]:
    url = pg_url(pg_schema)
    assert url
    hub = start_hub(url, "postgres")
    yield hub
    hub.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own per backend (tests that need a whole database to
    themselves: CLI runs over every member, schema comparisons)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hub.db'}"
        return
    raw = os.environ.get(PG_ENV)
    if not raw:
        pytest.skip(f"{PG_ENV} is not set")
    schema = f"hub_fresh_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(normalise_url(raw, Path.cwd()), poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield pg_url(schema) or ""
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def hub(request: pytest.FixtureRequest) -> Hub:
    if request.param == "postgres":
        return request.getfixturevalue("pg_hub")
    return request.getfixturevalue("sqlite_hub")


# -- the CLI as a manager runs it -------------------------------------------------------------
BIN = Path(sys.executable).parent / "pos-hub"


def write_config(folder: Path, database_url: str | None = None, **hub: Any) -> Path:
    """The steady example config, pointed at `database_url`, with [hub] keys set."""
    text_ = CONFIG_TEXT
    values = {**({"database_url": database_url} if database_url else {}), **hub}
    for key, value in values.items():
        line = f"{key} = {json.dumps(value)}\n"
        text_, n = re.subn(rf"(?m)^#? ?{key} = .*\n", line, text_, count=1)
        if not n:
            text_ = text_.replace("[hub]\n", f"[hub]\n{line}", 1)
    path = folder / "hub.toml"
    path.write_text(text_)
    return path


def run_cli(config: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_HUB")}
    done = subprocess.run([str(BIN), *args, "--config", str(config)], capture_output=True,
                          text=True, cwd=config.parent, env=env, timeout=120)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


# -- a terminal simulator -------------------------------------------------------------------
@dataclass
class Term:
    """Seals events like a store terminal: gap-free seq, hash chain, HLC."""

    hub: Hub
    origin: str
    token: str
    epoch: int = 1
    seq: int = 0
    chain: str = GENESIS
    clock: HybridClock = field(default_factory=HybridClock)
    states: dict[str, MemberState] = field(default_factory=dict)
    receipts: int = 0

    def seal(self, draft: EventDraft, at: datetime | None = None) -> Event:
        at = at or datetime.now(UTC)
        self.seq += 1
        event = seal(draft, origin=self.origin, origin_seq=self.seq, origin_epoch=self.epoch,
                     prev_hash=self.chain, occurred_at=format_instant(at),
                     hlc=self.clock.now(int(at.timestamp() * 1000)),
                     program_version=PROGRAM.version)
        self.chain = event.content_hash()
        state = self.states.setdefault(event.member_id, MemberState(member_id=event.member_id))
        apply(state, event)
        return event

    def receipt(self) -> str:
        self.receipts += 1
        return f"{self.origin}-{self.receipts:06d}"

    def enrol(self, at: datetime | None = None,
              name: str | None = None) -> tuple[str, list[Event]]:
        at = at or datetime.now(UTC)
        member_id = new_member_id()
        drafts = enrolment_drafts(PROGRAM, member_id, at, receipt_no=self.receipt(),
                                  channel=f"store:{self.origin}")
        n = int(uuid.UUID(member_id).int % 10**8)
        drafts[0] = EventDraft(**{**drafts[0].__dict__, "data": {
            **drafts[0].data, "profile": {"name": name or f"Member {n}",
                                          "phone": f"+3361{n:08d}"}}})
        return member_id, [self.seal(d, at) for d in drafts]

    def sale(self, member_id: str, total: int | None, at: datetime | None = None,
             lines: list[tuple[str, str, int, int]] = ()) -> list[Event]:
        at = at or datetime.now(UTC)
        state = self.states.setdefault(member_id, MemberState(member_id=member_id))
        sale = make_sale([make_line(*line) for line in lines], total)
        result = earn_for_sale(PROGRAM, state, sale, at, receipt_no=self.receipt())
        return [self.seal(d, at) for d in result.drafts]

    def redeem(self, member_id: str, reward_id: str, at: datetime | None = None,
               balance: int | None = None) -> Event:
        at = at or datetime.now(UTC)
        state = self.states.setdefault(member_id, MemberState(member_id=member_id))
        if balance is not None:  # what this terminal believes (e.g. from a hub snapshot)
            state = state.copy()
            state.balance = balance
        draft = redeem(PROGRAM, state, reward_id, at, receipt_no=self.receipt())
        return self.seal(draft, at)

    def use_voucher(self, member_id: str, code: str, at: datetime | None = None) -> Event:
        at = at or datetime.now(UTC)
        draft = use_voucher(PROGRAM, self.states[member_id], code, at, receipt_no=self.receipt())
        return self.seal(draft, at)

    def body(self, events: list[Event]) -> dict[str, Any]:
        return {"origin": self.origin, "origin_epoch": self.epoch,
                "events": [e.to_dict() for e in events]}

    def push(self, events: list[Event], path: str = "/v1/sync/push") -> httpx.Response:
        with self.hub.client(self.token) as c:
            return c.post(path, json=self.body(events))


def new_terminal(hub: Hub, store: str | None = None) -> Term:
    store = store or f"S{uuid.uuid4().int % 10**6:06d}"
    origin = f"{store}-T{uuid.uuid4().int % 10**4}"
    return Term(hub, origin, hub.token("terminal", origin))
