"""The terminal's local store: one handle the CLI, the app and the sync agent share.

    >>> store = open_store(load_settings("pos.toml"))
    >>> member = find_member(store, "6012345678901234")          # pos_agent.members
    >>> result = record_sale(store, member.member_id, make_sale(total=1250))
    >>> state, summary = member_view(store, member.member_id)

Where things are:

| module | holds |
| --- | --- |
| `pos_agent.db` | opening SQLite (WAL, synchronous=FULL), `transaction`, schema, migrations |
| `pos_agent.identity` | `pos init`: origin, epoch, hub credentials, `fetch_whoami` |
| `pos_agent.keys` | the member-card signing key, its certificate, verifying QR codes |
| `pos_agent.ledger` | `record` (one operation = one transaction), sealing, sync queries |
| `pos_agent.members` | lookup (card, phone, QR), `member_view`, enrol, link a card |
| `pos_agent.operations` | sale, check-in, redeem, use a voucher, void, refund |
| `pos_agent.hubdata` | what the hub sends: snapshots, programs, stock, profiles, cursor |
| `pos_agent.reports` | the day report |
| `pos_agent.printing` | receipts from rows, the print queue |

A `Store` holds the database and the settings; everything else is read from the database
when it is needed. One `Store` per thread: SQLite connections are not shared between
threads here.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from loyalty.program import Program, program_from_dict
from pos_agent.db import open_database
from pos_agent.identity import Identity, load_identity
from pos_agent.keys import ensure_signing_key
from pos_agent.settings import PosSettings


def open_store(settings: PosSettings, *, path: str | Path | None = None) -> Store:
    """Open (creating and migrating if needed) the database the settings name."""
    db = open_database(path or settings.database_path, region=settings.terminal.region)
    ensure_signing_key(db.conn)  # a database from before migration 11 gets its key
    store = Store(db=db, settings=settings)
    store.register_config_program()
    return store


@dataclass
class Store:
    db: Database
    settings: PosSettings
    _config_program: Program | None = None
    staff_id: str | None = None
    """Who is logged in on this handle (pos_agent.staff.log_in): every event it records
    carries it as `data.staff_id`."""

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    @property
    def identity(self) -> Identity:
        return load_identity(self.db)

    @property
    def config_program(self) -> Program:
        if self._config_program is None:
            self._config_program = self.settings.config_program()
        return self._config_program

    def active_program(self, conn: sqlite3.Connection | None = None) -> Program:
        """The latest program the hub published, else the config file's."""
        conn = conn or self.conn
        row = conn.execute(
            "SELECT content FROM programs WHERE source = 'hub' AND active = 1 "
            "ORDER BY received_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return self.config_program
        return program_from_dict(json.loads(row[0]))

    def register_config_program(self) -> None:
        """Keep the config's program in `programs`, so every program_version an event
        names can be looked up later."""
        program = self.config_program
        exists = self.conn.execute(
            "SELECT 1 FROM programs WHERE version = ? AND source = 'config'", (program.version,)
        ).fetchone()
        if not exists:
            self.db.execute(
                "INSERT OR IGNORE INTO programs (version, source, content, active, received_at) "
                "VALUES (?, 'config', ?, 1, ?)",
                (program.version, json.dumps(self.settings.program, default=str),
                 datetime.now(UTC).isoformat()),
            )

    def close(self) -> None:
        self.db.close()
