"""The terminal's SQLite database: opening it with the ledger's pragmas, transactions.

    >>> db = open_database("pos-terminal.db")        # WAL, synchronous=FULL, migrated
    >>> with transaction(db):
    ...     db.execute("UPDATE sync_state SET last_error = NULL")

`transaction` starts with `BEGIN IMMEDIATE`: the write lock is taken at the start, so two
processes on one database (the app and a `pos` command) serialise instead of failing half
way with "database is locked" when one upgrades a read to a write.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite_utils import Database

from pos_agent.db.migrations import migrate
from pos_agent.exceptions import StoreError

BUSY_TIMEOUT_MS = 10_000


def open_database(path: str | Path, *, create: bool = True, region: str = "") -> Database:
    """Open (and migrate) the terminal database at `path` with WAL and synchronous=FULL.
    `region` is the store's country (`[terminal] region`): migration 14 reads the phone
    numbers already stored with it."""
    path = Path(path)
    if not create and not path.exists():
        raise StoreError(f"no terminal database at {path}: run `pos init` first")
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        _create_private(path)
    try:
        # isolation_level=None: no implicit transactions. Every write here is either in an
        # explicit `transaction` or a single self-committing statement, never left open.
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000,
                               check_same_thread=False, isolation_level=None)
        db = Database(conn, execute_plugins=False)
        _configure(db)
        _add_functions(conn, region)
        migrate(db)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the terminal database {path}: {exc}") from exc
    return db


def _create_private(path: Path) -> None:
    """Create the database file 0600 if it is not there: it holds the hub token and the
    terminal's signing key. SQLite gives the -wal and -shm files it makes later the
    database file's own mode, so they are 0600 too."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"cannot create the terminal database {path}: {exc.strerror}") from exc
    os.close(fd)


def _add_functions(conn: sqlite3.Connection, region: str) -> None:
    # Migration 14 folds the names and re-reads the phones already stored with the same
    # Python functions new rows go through (loyalty.contact), so old and new rows match.
    from loyalty.contact import fold_name, normalise_phone_or_keep

    conn.create_function("loyalty_fold_name", 1, lambda t: fold_name(t or ""),
                         deterministic=True)
    conn.create_function("loyalty_phone", 1, lambda t: normalise_phone_or_keep(t, region),
                         deterministic=True)


def _configure(db: Database) -> None:
    conn = db.conn
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a committed sale survives a power cut, not only a process crash.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    # BEGIN IMMEDIATE takes the write lock up front, so two processes serialise instead of
    # failing half-way with SQLITE_BUSY on their first write.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


@contextmanager
def joined(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Join the caller's open transaction, or run in a new one (one fsync, not one per
    statement)."""
    if conn.in_transaction:
        yield conn
        return
    with _immediate(conn):
        yield conn


@contextmanager
def transaction(db: Database) -> Iterator[sqlite3.Connection]:
    """One write transaction: everything inside commits together or not at all."""
    conn = db.conn
    if conn.in_transaction:
        raise StoreError("a terminal transaction is already open on this connection")
    with _immediate(conn):
        yield conn
