"""Opening the hub's database: engines, transactions, migrations.

    >>> db = Database.open("sqlite:///pos-hub.db")
    >>> with db.write() as conn:      # one transaction; serialises writers on SQLite
    ...     conn.execute(...)

SQLite runs in WAL mode with foreign keys on; its write transactions start with
`BEGIN IMMEDIATE` so two writers never both read and then fail to upgrade their lock
(that is what makes "two concurrent authorisations, exactly one succeeds" hold there).
PostgreSQL takes row locks (`SELECT ... FOR UPDATE`) in the store functions instead.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Table,
    any_,
    create_engine,
    event,
    func,
    literal,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from hub.exceptions import StorageError
from hub.tables import counters

SQLITE_BUSY_MS = 30_000
log = logging.getLogger(__name__)


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


# The writer's own checkpoints only as a backstop (40 MB of WAL) when the checkpointer
# thread runs: see `Checkpointer`.
BACKSTOP_PAGES = 10_000


class Checkpointer(threading.Thread):
    """Copies the SQLite WAL back into the database file from a connection of its own,
    a few times a second while there are commits, so no commit pays for it: with the
    writer's default autocheckpoint (1,000 pages) one push in three or four did, ~9% of
    the hub's CPU during an ingest. sqlite3 lets go of the GIL while it checkpoints, so
    the copy runs beside the next batch's Python work. PASSIVE: it never waits for or
    blocks a reader or the writer; what it cannot copy yet it copies on a later round.

        >>> Checkpointer("/srv/hub.db", interval_s=0.25).start()
    """

    def __init__(self, path: str, interval_s: float = 0.25) -> None:
        super().__init__(name="sqlite-checkpoint", daemon=True)
        self.path = path
        self.interval_s = interval_s
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self.rounds = 0
        self.last: tuple[int, int, int] | None = None
        """(busy, frames in the WAL, frames copied) of the latest round."""

    def poke(self) -> None:
        """Called after each write commit."""
        self._dirty.set()

    def stop(self) -> None:
        self._stopping.set()
        self._dirty.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(5)

    def run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_MS / 1000,
                               isolation_level=None, check_same_thread=False)
        try:
            while not self._stopping.is_set():
                self._dirty.wait()
                if self._stopping.wait(self.interval_s):
                    break
                self._dirty.clear()
                try:
                    self.last = tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
                    self.rounds += 1
                except sqlite3.Error as exc:  # the writer's backstop still checkpoints
                    log.warning("background checkpoint failed: %s", exc)
        finally:
            conn.close()


def _sqlite_engine(url: str, immediate: bool, backstop: bool = False) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False,
                                              "timeout": SQLITE_BUSY_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself (pysqlite's own is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
        if backstop:
            cur.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The hub's engines: `write()` and `read()` transactions on the same database."""

    def __init__(self, url: str, *, pool_size: int = 10,
                 background_checkpoint: bool = False) -> None:
        """`background_checkpoint` (SQLite, a long-running hub): a `Checkpointer` thread
        copies the WAL back instead of the committing writer."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        self.checkpointer: Checkpointer | None = None
        try:
            if self.is_sqlite:
                path = make_url(url).database
                if background_checkpoint and path and path != ":memory:":
                    self.checkpointer = Checkpointer(path)
                self.writer = _sqlite_engine(url, immediate=True,
                                             backstop=self.checkpointer is not None)
                self.reader = _sqlite_engine(url, immediate=False)
                if self.checkpointer is not None:
                    self.checkpointer.start()
            else:
                kwargs: dict[str, Any] = {"pool_pre_ping": True}
                if pool_size:
                    kwargs.update(pool_size=pool_size, max_overflow=pool_size)
                else:
                    kwargs["poolclass"] = NullPool
                self.writer = create_engine(url, **kwargs)
                self.reader = self.writer
        except Exception as exc:  # bad URL, missing driver
            raise StorageError(f"cannot open database {safe_url(url)}: {exc}") from exc

    @classmethod
    def open(cls, url: str, **kwargs: Any) -> Database:
        return cls(url, **kwargs)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.writer.begin() as conn:
            yield conn
        if self.checkpointer is not None:
            self.checkpointer.poke()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.begin() as conn:
            yield conn

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT, for `on_conflict_do_nothing/update` (same API on both)."""
        return (postgresql.insert if self.is_postgres else sqlite.insert)(table)

    def lock_ledger(self, conn: Connection, *, shared: bool = False) -> None:
        """Hold the ledger lock until commit: shared by pushes appending events, exclusive
        for whoever folds events or locks member rows (hub.store.projector). PostgreSQL:
        a transaction-scoped advisory lock keyed by the schema, re-entrant; SQLite: its
        write lock already serialises writers."""
        if self.is_postgres:
            conn.execute(_LEDGER_LOCK_SHARED if shared else _LEDGER_LOCK)

    def lock_member_key(self, conn: Connection, member_id: str) -> None:
        """Hold a lock on one member id until commit, whether or not the member has a row
        yet (an authorisation against pushed events not folded yet). PostgreSQL: an
        advisory lock on a 64-bit key, a key space apart from the ledger lock's; SQLite:
        its write lock already serialises writers."""
        if self.is_postgres:
            conn.execute(_MEMBER_LOCK, {"member_id": member_id})

    def among(self, column: Any, values: Sequence[Any]) -> Any:
        """`column IN values` as one parameter, whatever the number of values: an array
        (`= ANY(...)`) on PostgreSQL, a JSON array through `json_each` on SQLite. An IN
        list of hundreds of bound values cost more to render and send than to run.

            >>> conn.execute(select(members).where(db.among(members.c.member_id, ids)))
        """
        if self.is_postgres:
            return column == any_(literal(list(values), postgresql.ARRAY(column.type)))
        each = func.json_each(json.dumps(list(values))).table_valued("value")
        return column.in_(select(each.c.value))

    def for_update(self, stmt: Any) -> Any:
        # SQLite has no row locks; its BEGIN IMMEDIATE already holds the write lock.
        return stmt.with_for_update() if self.is_postgres else stmt

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


# Two int4 keys: the hub's own, and the schema's (several hubs may share one database).
_LEDGER_LOCK = text("SELECT pg_advisory_xact_lock(1886351980, hashtext(current_schema()))")
_LEDGER_LOCK_SHARED = text(
    "SELECT pg_advisory_xact_lock_shared(1886351980, hashtext(current_schema()))")
_MEMBER_LOCK = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(current_schema() || '/' || :member_id, 0))")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@lru_cache(maxsize=256)
def _insert_sql(postgres: bool, table: Table, columns: tuple[str, ...],
                conflict: tuple[str, ...], update: tuple[str, ...]) -> str:
    names = ", ".join(_quote(c) for c in columns)
    if postgres:
        sql = (f"INSERT INTO {_quote(table.name)} ({names}) "
               f"SELECT * FROM unnest({_array_params(table, columns)})")
    else:
        sql = (f"INSERT INTO {_quote(table.name)} ({names}) "
               f"VALUES ({', '.join('?' for _ in columns)})")
    if conflict:
        sql += f" ON CONFLICT ({', '.join(_quote(c) for c in conflict)}) DO "
        sql += ("UPDATE SET " + ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in update)
                if update else "NOTHING")
    return sql


@lru_cache(maxsize=256)
def _update_sql(postgres: bool, table: Table, key: str, columns: tuple[str, ...]) -> str:
    if postgres:
        sets = ", ".join(f"{_quote(c)} = u.{_quote(c)}" for c in columns if c != key)
        return (f"UPDATE {_quote(table.name)} AS t SET {sets} "
                f"FROM unnest({_array_params(table, columns)}) "
                f"AS u({', '.join(_quote(c) for c in columns)}) "
                f"WHERE t.{_quote(key)} = u.{_quote(key)}")
    sets = ", ".join(f"{_quote(c)} = ?" for c in columns if c != key)
    return f"UPDATE {_quote(table.name)} SET {sets} WHERE {_quote(key)} = ?"


def _array_params(table: Table, columns: tuple[str, ...]) -> str:
    """One binary array parameter per column, cast to the column's type (PostgreSQL)."""
    dialect = postgresql.dialect()
    return ", ".join(f"%b::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)


def _on_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _run_bulk(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run `sql` for every row on the DB-API connection under `conn`, inside its open
    transaction: PostgreSQL gets the rows once, as one array per column; SQLite a plain
    executemany. Driver errors come out as SQLAlchemy's (IntegrityError,
    OperationalError...), as if the statement had gone through it: the API answers those
    409 and 503. Returns the driver's row count."""
    dbapi = conn.dialect.loaded_dbapi
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if _on_postgres(conn):
            cur.execute(sql, [list(col) for col in zip(*rows, strict=True)])
        else:
            cur.executemany(sql, rows)
        return max(cur.rowcount, 0)
    except dbapi.Error as exc:
        raise sa_exc.DBAPIError.instance(sql, None, exc, dbapi.Error,
                                         dialect=conn.dialect) from exc
    finally:
        cur.close()


def insert_rows(conn: Connection, table: Table, columns: Sequence[str],
                rows: Sequence[Sequence[Any]], *, conflict: Sequence[str] = (),
                update: Sequence[str] = ()) -> int:
    """Insert rows given as tuples in `columns` order; with `conflict`, rows whose key
    exists are skipped, or their `update` columns overwritten. Returns the rows written.

        >>> insert_rows(conn, changes, ("kind", "key", "change_seq"),
        ...             [("member", "0192...", 41)], conflict=("kind", "key"),
        ...             update=("change_seq",))

    The hot writes of an ingest go straight to the driver, in the caller's transaction:
    SQLite gets one `executemany` (sqlite3 loops in C); PostgreSQL one INSERT ... SELECT
    FROM unnest(one array per column), the arrays sent in binary (psycopg's text format
    escapes every element in Python: ten times slower, most of a batch's notification
    rows). SQLAlchemy's per-row parameter processing cost more than the insert itself;
    the values must therefore already be what the column stores (str, int, None)."""
    if not rows:
        return 0
    sql = _insert_sql(_on_postgres(conn), table, tuple(columns), tuple(conflict),
                      tuple(update))
    return _run_bulk(conn, sql, rows)


def update_rows(conn: Connection, table: Table, key: str,
                columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """UPDATE table SET (the other columns) WHERE key = the row's key, for rows given as
    tuples in `columns` order (`key` among them); see `insert_rows`."""
    if not rows:
        return
    columns = tuple(columns)
    postgres = _on_postgres(conn)
    if not postgres:  # SQLite's statement takes the key last: UPDATE ... SET ... WHERE key
        at = columns.index(key)
        rows = [(*r[:at], *r[at + 1:], r[at]) for r in rows]
    _run_bulk(conn, _update_sql(postgres, table, key, columns), rows)


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]], *,
                conflict: Sequence[str] = (), update: Sequence[str] = ()) -> int:
    """`insert_rows` for rows as dicts (the same keys each)."""
    if not rows:
        return 0
    columns = tuple(rows[0])
    return insert_rows(conn, table, columns, [tuple(r[c] for c in columns) for r in rows],
                       conflict=conflict, update=update)


def bulk_update(conn: Connection, table: Table, key: str,
                rows: list[dict[str, Any]]) -> None:
    """`update_rows` for rows as dicts (the same keys each, `key` among them)."""
    if not rows:
        return
    columns = tuple(rows[0])
    update_rows(conn, table, key, columns, [tuple(r[c] for c in columns) for r in rows])


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url


def next_counter(conn: Connection, db: Database, name: str, n: int = 1) -> int:
    """Add `n` to a named counter and return its new value, holding the counter's row lock
    until commit. Used for change_seq: taken as the last step of a transaction, so the
    values are handed out in commit order (see hub.store.changes)."""
    stmt = db.insert(counters).values(name=name, value=n)
    stmt = stmt.on_conflict_do_update(
        index_elements=[counters.c.name], set_={"value": counters.c.value + n}
    ).returning(counters.c.value)
    return int(conn.execute(stmt).scalar_one())


def read_counter(conn: Connection, name: str) -> int:
    value = conn.execute(select(counters.c.value).where(counters.c.name == name)).scalar()
    return int(value or 0)


# -- migrations -----------------------------------------------------------------------------
def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("hub") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> str:
    """Create or upgrade the schema to the newest migration; returns the revision."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    try:
        command.upgrade(alembic_config(url), "head")
        engine = create_engine(url, poolclass=NullPool)
        with engine.connect() as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
        engine.dispose()
    except OperationalError as exc:
        raise StorageError(f"cannot migrate {safe_url(url)}: {exc.orig}") from exc
    return rev or ""


def schema_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.reader.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
