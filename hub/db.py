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

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, create_engine, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from hub.exceptions import StorageError
from hub.tables import counters

SQLITE_BUSY_MS = 30_000


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def _sqlite_engine(url: str, immediate: bool) -> Engine:
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
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The hub's engines: `write()` and `read()` transactions on the same database."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgres = url.startswith("postgresql")
        try:
            if self.is_sqlite:
                self.writer = _sqlite_engine(url, immediate=True)
                self.reader = _sqlite_engine(url, immediate=False)
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

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.begin() as conn:
            yield conn

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT, for `on_conflict_do_nothing/update` (same API on both)."""
        return (postgresql.insert if self.is_postgres else sqlite.insert)(table)

    def for_update(self, stmt: Any) -> Any:
        # SQLite has no row locks; its BEGIN IMMEDIATE already holds the write lock.
        return stmt.with_for_update() if self.is_postgres else stmt

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _pg_arrays(table: Any, columns: list[str], rows: list[dict[str, Any]]) -> tuple[str, dict]:
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    casts = ", ".join(f"CAST(:a{i} AS {table.c[c].type.compile(dialect=dialect)}[])"
                      for i, c in enumerate(columns))
    params = {f"a{i}": [r[c] for r in rows] for i, c in enumerate(columns)}
    names = ", ".join(quote(c) for c in columns)
    return f"unnest({casts}) AS u({names})", params


def bulk_insert(conn: Connection, db: Database, table: Any, rows: list[dict[str, Any]], *,
                conflict: Sequence[str] = (), update: Sequence[str] = ()) -> int:
    """Insert rows (same keys each); with `conflict`, rows whose key exists are skipped, or
    their `update` columns overwritten. Returns the rows written. SQLite: one
    executemany (sqlite3 loops in C). PostgreSQL: one INSERT ... SELECT FROM unnest(the
    columns as arrays), since psycopg's executemany sends a statement per row and its
    per-row Python cost was most of a batch's time beside the events' own insert."""
    if not rows:
        return 0
    if not db.is_postgres:
        stmt = db.insert(table)
        if conflict and update:
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c[c] for c in conflict],
                set_={c: stmt.excluded[c] for c in update})
        elif conflict:
            stmt = stmt.on_conflict_do_nothing(index_elements=[table.c[c] for c in conflict])
        return max(conn.execute(stmt, rows).rowcount, 0)
    quote = postgresql.dialect().identifier_preparer.quote
    columns = list(rows[0])
    source, params = _pg_arrays(table, columns, rows)
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"SELECT * FROM {source}")
    if conflict:
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO "
        sql += ("UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
                if update else "NOTHING")
    return max(conn.execute(text(sql), params).rowcount, 0)


def bulk_update(conn: Connection, db: Database, table: Any, key: str,
                rows: list[dict[str, Any]]) -> None:
    """UPDATE table SET (the other keys of each row) WHERE key = row[key], for rows with
    the same keys: executemany on SQLite, one UPDATE ... FROM unnest(...) on PostgreSQL
    (see `bulk_insert`)."""
    if not rows:
        return
    columns = list(rows[0])
    if not db.is_postgres:
        stmt = (table.update().where(table.c[key] == bindparam(f"b_{key}"))
                .values({c: bindparam(c) for c in columns if c != key}))
        conn.execute(stmt, [{**r, f"b_{key}": r[key]} for r in rows])
        return
    quote = postgresql.dialect().identifier_preparer.quote
    source, params = _pg_arrays(table, columns, rows)
    sets = ", ".join(f"{quote(c)} = u.{quote(c)}" for c in columns if c != key)
    conn.execute(text(f"UPDATE {quote(table.name)} AS t SET {sets} FROM {source} "
                      f"WHERE t.{quote(key)} = u.{quote(key)}"), params)


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
