"""Versioned schema migrations: a `schema_version` table and numbered SQL scripts.

    >>> migrate(db)          # applies what is missing, each in its own transaction
    [1]

Each migration runs in one `BEGIN IMMEDIATE` transaction together with the row that
records it, so a crash mid-migration leaves the previous version intact, and two
processes opening a fresh database at once apply each migration exactly once.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

from sqlite_utils import Database

from pos_agent.db.schema import MIGRATIONS, Migration
from pos_agent.exceptions import StoreError


def current_version(db: Database) -> int:
    """The highest applied migration, 0 for an empty database."""
    if not db["schema_version"].exists():
        return 0
    row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return row[0] or 0


def migrate(db: Database, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply every migration newer than the database; return the versions applied."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_version "
        "(version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    latest = max(m.version for m in migrations)
    if current_version(db) > latest:
        raise StoreError(
            f"the database is at schema version {current_version(db)}, newer than this "
            f"program knows ({latest}): upgrade pos-loyalty"
        )
    applied: list[int] = []
    from pos_agent.db import transaction  # (the package imports this module first)

    for migration in sorted(migrations, key=lambda m: m.version):
        with transaction(db) as conn:
            # Re-check under the write lock: another process may have just applied it.
            done = conn.execute(
                "SELECT 1 FROM schema_version WHERE version = ?", (migration.version,)
            ).fetchone()
            if not done:
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version VALUES (?, ?, ?)",
                    (migration.version, migration.description, datetime.now(UTC).isoformat()),
                )
                applied.append(migration.version)
    return applied


def _statements(script: str) -> list[str]:
    # sqlite3.executescript() would COMMIT first; split so the migration stays one
    # transaction. A trigger's body has semicolons of its own: pieces are joined until
    # SQLite says the statement is complete. (No semicolons inside literals.)
    statements: list[str] = []
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \n;"):
        statements.append(pending.strip())
    return statements
