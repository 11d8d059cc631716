"""The bulk writes of `hub.db` (what a push's fold writes members and the change feed
with), on a real database of each backend."""

from __future__ import annotations

import pytest
from sqlalchemy import BigInteger, Boolean, Column, MetaData, String, Table, Text, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from hub.db import Database, bulk_insert, bulk_update

pytestmark = pytest.mark.slow

meta = MetaData()
things = Table("things_bulk", meta, Column("id", String(20), primary_key=True),
               Column("n", BigInteger), Column("note", Text), Column("flag", Boolean))

# Text a hand-built statement would have to escape; all of it must be stored as is.
AWKWARD = ['plain', 'a "quoted" word', 'back\\slash', '{braces},comma', 'NULL', '',
           'émoji ✓ ünïcode', 'line\nbreak', "it's"]


@pytest.fixture
def db(fresh_url: str):
    database = Database(fresh_url)
    meta.create_all(database.writer)
    yield database
    meta.drop_all(database.writer)
    database.dispose()


def ins(conn, columns, rows, **kw):
    return bulk_insert(conn, things, [dict(zip(columns, r, strict=True)) for r in rows], **kw)


def upd(conn, columns, rows):
    bulk_update(conn, things, "id", [dict(zip(columns, r, strict=True)) for r in rows])


def _all(db: Database) -> dict[str, tuple]:
    with db.read() as conn:
        return {r.id: (r.n, r.note, r.flag) for r in conn.execute(select(things))}


def test_insert_update_and_conflicts_store_exact_values(db: Database):
    rows = [(f"k{i}", None, text, i % 2 == 0) for i, text in enumerate(AWKWARD)]
    with db.write() as conn:  # a column of NULLs only: no element type to guess from
        ins(conn, ("id", "n", "note", "flag"), rows)
    assert _all(db) == {r[0]: r[1:] for r in rows}

    with db.write() as conn:
        ins(conn, ("id", "n", "note", "flag"),
            [("k0", 7, "again", True), ("new", 2**40, None, False)], conflict=("id",))
    after = _all(db)
    assert after["k0"] == (None, "plain", True) and after["new"] == (2**40, None, False)

    with db.write() as conn:
        ins(conn, ("id", "n", "note", "flag"),
                    [("k1", 5, "replaced", True)], conflict=("id",), update=("n", "note"))
        upd(conn, ("n", "id", "note"),
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
        ins(conn, ("id", "n"), [("dup", 1)])
    with pytest.raises(IntegrityError), db.write() as conn:
        ins(conn, ("id", "n"), [("other", 1), ("dup", 2)])
    if db.is_postgres:  # (SQLite stores text in an INTEGER column without complaint)
        with pytest.raises(DBAPIError) as caught, db.write() as conn:
            upd(conn, ("id", "n"), [("dup", "not a number")])
        assert not isinstance(caught.value, IntegrityError)
    assert _all(db) == {"dup": (1, None, None)}


def test_a_failed_transaction_leaves_nothing_of_a_bulk_write(db: Database):
    with pytest.raises(RuntimeError), db.write() as conn:
        ins(conn, ("id", "n"), [("gone", 1)])
        raise RuntimeError("the batch failed after its insert")
    assert _all(db) == {}
