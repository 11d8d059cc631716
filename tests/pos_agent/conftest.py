"""Fixtures for the terminal tests: a config file in a temp folder, an initialised store,
row counts to prove that a refused command wrote nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlite_utils import Database

from pos_agent.db.migrations import migrate
from pos_agent.db.schema import MIGRATIONS
from pos_agent.identity import init_terminal
from pos_agent.settings import load_settings
from pos_agent.store import Store, open_store
from tests.example_config import example_config_text

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("identity", "members", "cards", "events", "member_balances", "hub_snapshots",
          "receipts", "print_jobs", "programs", "reward_stock")


def old_version_copy(new: Path, old: Path, version: int, tables: Sequence[str],
                     event_columns: str) -> Database:
    """A database at schema `version` (the first `version` migrations) holding the rows
    of `new`'s `tables` (the columns the old table has: later migrations added some) and
    its events' `event_columns`; returned open, for the caller to add what that version
    kept besides, then close. How the upgrade tests make an old terminal's database."""
    db = Database(sqlite3.connect(old, isolation_level=None))
    migrate(db, MIGRATIONS[:version])
    conn = db.conn
    conn.execute("ATTACH DATABASE ? AS new", (str(new),))
    for table in tables:
        have = {r[1] for r in conn.execute(f"PRAGMA new.table_info({table})")}
        # A column a later migration dropped (member_balances.version) gets 1.
        columns = ", ".join(r[1] if r[1] in have else f"1 AS {r[1]}"
                            for r in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT INTO main.{table} SELECT {columns} FROM new.{table}")
    conn.execute(f"INSERT INTO main.events ({event_columns}) "
                 f"SELECT {event_columns} FROM new.events")
    conn.execute("DETACH DATABASE new")
    return db


def write_config(folder: Path, *, store: str = "S001", terminal: str = "T1",
                 printer: str | None = None) -> Path:
    text = example_config_text()
    text = text.replace('store = "S001"', f'store = "{store}"')
    text = text.replace('terminal = "T1"', f'terminal = "{terminal}"')
    if printer:
        text = text.replace('kind = "file"\npath = "receipts.escpos"', printer)
    path = folder / "pos.toml"
    path.write_text(text)
    return path


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = write_config(tmp_path)
    monkeypatch.setenv("POS_CONFIG", str(path))
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def store(config: Path) -> Store:
    s = open_store(load_settings(str(config)))
    init_terminal(s.db, "S001", "T1")
    yield s
    s.close()


def counts(db_path: Path) -> dict[str, int]:
    import sqlite3

    conn = sqlite3.connect(db_path)
    try:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()
