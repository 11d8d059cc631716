"""The driver-level bulk writes of `hub.db` (what an ingest writes with) and the SQLite
background checkpointer, on a real database of each backend."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import BigInteger, Boolean, Column, MetaData, String, Table, Text, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from hub.context import HubContext
from hub.db import BACKSTOP_PAGES, Database, insert_rows, update_rows
from hub.settings import settings_for

from .conftest import raw_program

pytestmark = pytest.mark.slow

meta = MetaData()
things = Table("things_bulk", meta, Column("id", String(20), primary_key=True),
               Column("n", BigInteger), Column("note", Text), Column("flag", Boolean))

# What a text-format array literal must escape, and what it does not, all sent as is.
AWKWARD = ['plain', 'a "quoted" word', 'back\\slash', '{braces},comma', 'NULL', '',
           'émoji ✓ ünïcode', 'line\nbreak', "it's"]


@pytest.fixture
def db(fresh_url: str):
    database = Database(fresh_url)
    meta.create_all(database.writer)
    yield database
    meta.drop_all(database.writer)
    database.dispose()


def _all(db: Database) -> dict[str, tuple]:
    with db.read() as conn:
        return {r.id: (r.n, r.note, r.flag) for r in conn.execute(select(things))}


def test_insert_update_and_conflicts_store_exact_values(db: Database):
    rows = [(f"k{i}", None, text, i % 2 == 0) for i, text in enumerate(AWKWARD)]
    with db.write() as conn:  # a column of NULLs only: no element type to guess from
        assert insert_rows(conn, things, ("id", "n", "note", "flag"), rows) == len(rows)
    assert _all(db) == {r[0]: r[1:] for r in rows}

    with db.write() as conn:
        written = insert_rows(conn, things, ("id", "n", "note", "flag"),
                              [("k0", 7, "again", True), ("new", 2**40, None, False)],
                              conflict=("id",))
    assert written == 1
    after = _all(db)
    assert after["k0"] == (None, "plain", True) and after["new"] == (2**40, None, False)

    with db.write() as conn:
        insert_rows(conn, things, ("id", "n", "note", "flag"),
                    [("k1", 5, "replaced", True)], conflict=("id",), update=("n", "note"))
        update_rows(conn, things, "id", ("n", "id", "note"),
                    [(-3, "k2", 'now "quoted"'), (None, "k3", None), (1, "absent", "x")])
    after = _all(db)
    assert after["k1"] == (5, "replaced", False)  # flag not in `update`: kept
    assert after["k2"] == (-3, 'now "quoted"', True)
    assert after["k3"] == (None, None, False)
    assert "absent" not in after and len(after) == len(AWKWARD) + 1


def test_driver_errors_come_out_as_sqlalchemys(db: Database):
    """The API answers SQLAlchemy's IntegrityError 409 and its other database errors 503
    (hub/api/errors.py): the driver-level writes must raise those, not the driver's."""
    with db.write() as conn:
        insert_rows(conn, things, ("id", "n"), [("dup", 1)])
    with pytest.raises(IntegrityError), db.write() as conn:
        insert_rows(conn, things, ("id", "n"), [("other", 1), ("dup", 2)])
    if db.is_postgres:  # (SQLite stores text in an INTEGER column without complaint)
        with pytest.raises(DBAPIError) as caught, db.write() as conn:
            update_rows(conn, things, "id", ("id", "n"), [("dup", "not a number")])
        assert not isinstance(caught.value, IntegrityError)
    assert _all(db) == {"dup": (1, None, None)}


def test_a_failed_transaction_leaves_nothing_of_a_bulk_write(db: Database):
    with pytest.raises(RuntimeError), db.write() as conn:
        insert_rows(conn, things, ("id", "n"), [("gone", 1)])
        raise RuntimeError("the batch failed after its insert")
    assert _all(db) == {}


def test_background_checkpointer_copies_the_wal_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    plain = Database(url)
    with plain.write() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 1000
    assert plain.checkpointer is None
    plain.dispose()

    db = Database(url, background_checkpoint=True)
    meta.create_all(db.writer)
    try:
        for i in range(40):
            with db.write() as conn:
                insert_rows(conn, things, ("id", "note"), [(f"r{i}", "x" * 3000)])
                # the writer keeps its own checkpoints only as a backstop
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() \
                    == BACKSTOP_PAGES
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            last = db.checkpointer.last
            if last is not None and last[0] == 0 and last[1] > 0 and last[1] == last[2]:
                break
            time.sleep(0.05)
        busy, frames, copied = db.checkpointer.last
        assert busy == 0 and frames >= 40 and copied == frames
        assert len(_all(db)) == 40
    finally:
        db.dispose()
    assert not db.checkpointer.is_alive()


def test_the_checkpointer_runs_in_a_server_only_and_can_be_turned_off(tmp_path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    cases = [({}, True, True), ({}, False, False),
             ({"sqlite_checkpoint_thread": False}, True, False)]
    for hub_settings, serving, expected in cases:
        ctx = HubContext.from_settings(settings_for(url, raw_program(), **hub_settings),
                                       serving=serving)
        try:
            assert (ctx.db.checkpointer is not None) is expected, (hub_settings, serving)
            if expected:
                assert ctx.db.checkpointer.is_alive()
        finally:
            ctx.close()
        if expected:
            assert not ctx.db.checkpointer.is_alive()
