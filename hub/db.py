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
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
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
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from hub.exceptions import StorageError
from hub.tables import counters

SQLITE_BUSY_MS = 30_000
log = logging.getLogger(__name__)


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
        # An acknowledged push must survive a power cut, or the terminal forgets events
        # the hub never kept: every commit reaches the disk, as on the terminal.
        cur.execute("PRAGMA synchronous=FULL")
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
                self._turns = threading.RLock()
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
        if self.is_sqlite:
            # SQLite has one writer at a time and its busy handler keeps no queue: with 50
            # terminals pushing at once a push could lose the race for its whole busy
            # timeout and fail. The threads of this process take turns here instead.
            with self._turns, self.writer.begin() as conn:
                yield conn
        else:
            with self.writer.begin() as conn:
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.reader.begin() as conn:
            yield conn

    def insert(self, table: Any) -> Any:
        """The dialect's INSERT, for `on_conflict_do_nothing/update` (same API on both)."""
        return (postgresql.insert if self.is_postgres else sqlite.insert)(table)

    def among(self, column: Any, values: Sequence[Any]) -> Any:
        """`column IN values` with the values as one parameter: an array (`= ANY(...)`) on
        PostgreSQL, a JSON array through `json_each` on SQLite.

            >>> conn.execute(select(members).where(db.among(members.c.member_id, ids)))

        Serves the hub-ingest floor (5,000 events/s, bench/bench_hub_ingest.py): a push
        looks up its ~500 event ids and ~250 members, and an IN list with a placeholder
        per value is parsed placeholder by placeholder by psycopg, in Python (7% of an
        ingest on PostgreSQL in a profile of 10,000 events)."""
        if self.is_postgres:
            return column == any_(literal(list(values), postgresql.ARRAY(column.type)))
        each = func.json_each(json.dumps(list(values))).table_valued("value")
        return column.in_(select(each.c.value))

    def for_update(self, stmt: Any) -> Any:
        # SQLite has no row locks; its BEGIN IMMEDIATE already holds the write lock.
        return stmt.with_for_update() if self.is_postgres else stmt

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]], *,
                conflict: Sequence[str] = (), update: Sequence[str] = ()) -> None:
    """Insert rows (dicts with the same keys) in one statement; with `conflict`, rows
    whose key exists are skipped, or their `update` columns overwritten.

        >>> bulk_insert(conn, changes, [{"kind": "member", "key": "0192...",
        ...                              "change_seq": 41}],
        ...             conflict=("kind", "key"), update=("change_seq",))
    """
    if not rows:
        return
    on_conflict = ""
    if conflict:
        keys = ", ".join(_quote(conn, c) for c in conflict)
        sets = ", ".join(f"{_quote(conn, c)} = excluded.{_quote(conn, c)}" for c in update)
        on_conflict = f" ON CONFLICT ({keys}) DO " + (f"UPDATE SET {sets}" if update
                                                      else "NOTHING")
    columns = list(rows[0])
    names = ", ".join(_quote(conn, c) for c in columns)
    if _on_postgres(conn):
        _with_arrays(conn, f"INSERT INTO {_quote(conn, table.name)} ({names}) SELECT * FROM "
                     f"unnest({_arrays(table, columns)}){on_conflict}", columns, rows)
        return
    values = ", ".join(f":{c}" for c in columns)
    conn.execute(text(f"INSERT INTO {_quote(conn, table.name)} ({names}) VALUES ({values})"
                      f"{on_conflict}"), rows)


def bulk_update(conn: Connection, table: Table, key: str,
                rows: list[dict[str, Any]]) -> None:
    """UPDATE each row (dicts with the same keys, `key` among them) by its `key`."""
    if not rows:
        return
    columns = list(rows[0])
    t = _quote(conn, table.name)
    if _on_postgres(conn):
        sets = ", ".join(f"{_quote(conn, c)} = u.{_quote(conn, c)}" for c in columns if c != key)
        names = ", ".join(_quote(conn, c) for c in columns)
        _with_arrays(conn, f"UPDATE {t} SET {sets} FROM unnest({_arrays(table, columns)}) "
                     f"AS u({names}) WHERE {t}.{_quote(conn, key)} = u.{_quote(conn, key)}",
                     columns, rows)
        return
    sets = ", ".join(f"{_quote(conn, c)} = :{c}" for c in columns if c != key)
    conn.execute(text(f"UPDATE {t} SET {sets} WHERE {_quote(conn, key)} = :{key}"), rows)


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _arrays(table: Table, columns: list[str]) -> str:
    dialect = postgresql.dialect()
    return ", ".join(f"%b::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)


def _with_arrays(conn: Connection, sql: str, columns: list[str],
                 rows: list[dict[str, Any]]) -> None:
    """Run `sql` on PostgreSQL with one binary array parameter per column.

    Serves the hub-ingest floor (5,000 events/s with 50 terminals on PostgreSQL,
    bench/bench_hub_ingest.py): a push writes some 1,500 rows (events, notes, members,
    the change feed). As an executemany, psycopg dumps and pipelines them row by row in
    Python, ~100 us a row and the largest share of an ingest in a profile of 10,000
    events; as one array per column, dumped in binary, the server unpacks them. Driver
    errors come out as SQLAlchemy's (IntegrityError answers 409, others 503)."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, [[r[c] for r in rows] for c in columns])
    except dbapi.Error as exc:
        raise sa_exc.DBAPIError.instance(sql, None, exc, dbapi.Error,
                                         dialect=conn.dialect) from exc
    finally:
        cursor.close()


def _on_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


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

    from hub.upgrade import fold_left_behind, refold_stale

    def revision() -> str | None:
        engine = create_engine(url, poolclass=NullPool)
        try:
            return _revision(engine)
        finally:
            engine.dispose()

    try:
        cfg = alembic_config(url)
        if (revision() or "") < "0006":
            command.upgrade(cfg, "0005")
            refold_stale(url)  # before 0006 drops what it reads
        command.upgrade(cfg, "head")
        fold_left_behind(url)  # with the newest fold, on the newest schema
        rev = revision()
    except OperationalError as exc:
        raise StorageError(f"cannot migrate {safe_url(url)}: {exc.orig}") from exc
    return rev or ""


def schema_revision(db: Database) -> str | None:
    return _revision(db.reader)


def _revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
