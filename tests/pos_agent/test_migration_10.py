"""Migration 10: a database of schema version 9 (member_ledger with its sentinel balance
rows and triggers, receipts keyed by packed integers, print marks, serials and clock as
floors) upgrades to the plain schema without losing a balance, a receipt, a receipt still
to print, or its place in the chain."""

from __future__ import annotations

import sqlite3

from loyalty.fold import fold
from loyalty.sale import make_sale
from pos_agent import ledger
from pos_agent.db.migrations import current_version
from pos_agent.db.schema import MIGRATIONS
from pos_agent.identity import init_terminal
from pos_agent.ledger import own_events, verify_ledger
from pos_agent.members import enrol
from pos_agent.operations import record_sale, void_receipt
from pos_agent.printing import print_pending
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.pos_agent.conftest import old_version_copy, write_config

_RECEIPT_COLUMNS = (
    "receipt_no, kind, member_id, total, currency, lines, points_earned, points_spent, "
    "points_reversed, balance_after, details, reverses, refunded, voided_by, "
    "approved_offline, created_at"
)


def test_a_version_9_database_upgrades_to_the_plain_schema(tmp_path):
    settings = load_settings(str(write_config(tmp_path)))
    new = open_store(settings, path=tmp_path / "new.db")
    init_terminal(new.db, "S001", "T1")
    ann = enrol(new, name="Ann", phone="0611223344")
    bob = enrol(new, name="Bob", phone="0611223355")
    sale = record_sale(new, ann.member_id, make_sale(total=4200))
    record_sale(new, bob.member_id, make_sale(total=1500))
    void_receipt(new, sale.receipt_no)
    record_sale(new, ann.member_id, make_sale(total=900))
    record_sale(new, None, make_sale(total=300))
    conn = new.conn
    balances = conn.execute("SELECT member_id, balance, debt, stamps, updated_at "
                            "FROM member_balances ORDER BY member_id").fetchall()
    receipts = conn.execute(f"SELECT {_RECEIPT_COLUMNS} FROM receipts ORDER BY rowid").fetchall()
    newest_hlc = conn.execute("SELECT hlc FROM events ORDER BY event_key DESC LIMIT 1"
                              ).fetchone()[0]
    last_seq = ledger.high_seq(conn, 1)
    new.close()
    numbers = [r[0] for r in receipts]
    assert len(numbers) == 7  # two enrolment slips, four sales, a void

    # The same terminal at version 9, as the code of that version left it: the identity's
    # receipt serial and clock behind (they were floors), the balances as member_ledger's
    # sentinel rows, receipts keyed by (epoch, serial), every receipt up to the fourth
    # given its print job (the mark), the last three committed before a crash with no job,
    # one of them never to print (a cancelled redemption).
    path = tmp_path / "old.db"
    # (identity through the helper: later migrations add columns version 9 does not have)
    old = old_version_copy(tmp_path / "new.db", path, 9, ("members", "cards", "identity"),
                           f"event_key, {ledger._EVENT_COLUMNS}, content_hash, acked_hub_seq")
    c = old.conn
    c.execute("ATTACH DATABASE ? AS new", (str(tmp_path / "new.db"),))
    c.execute("UPDATE main.identity SET receipt_serial = 2, hlc = ''")
    c.execute("INSERT INTO main.member_ledger SELECT member_id, 9223372036854775807, balance, "
              "debt, stamps, 3, updated_at FROM new.member_balances")
    c.execute(f"INSERT INTO main.receipts (receipt_key, {_RECEIPT_COLUMNS}, no_print) "
              f"SELECT 4294967296 + CAST(substr(receipt_no, 9) AS INTEGER), {_RECEIPT_COLUMNS}, "
              "receipt_no = ? FROM new.receipts ORDER BY rowid", (numbers[5],))
    c.execute("INSERT INTO main.print_jobs SELECT * FROM new.print_jobs WHERE receipt_no IN "
              "(?, ?, ?, ?)", numbers[:4])
    c.execute("INSERT INTO main.print_marks VALUES (1, 4)")
    c.execute("DETACH DATABASE new")
    assert current_version(old) == 9
    assert c.execute("SELECT COUNT(*) FROM member_ledger WHERE balance IS NULL"
                     ).fetchone()[0] == last_seq  # one key row per event, by the trigger
    old.close()

    store = open_store(settings, path=path)
    try:
        conn = store.conn
        assert current_version(store.db) == max(m.version for m in MIGRATIONS) >= 10
        names = {r[0]: r[1] for r in conn.execute("SELECT name, type FROM sqlite_master")}
        assert names["member_balances"] == "table" and names["events_by_member"] == "index"
        assert not {"member_ledger", "print_marks"} & set(names)
        assert not [n for n, kind in names.items() if kind == "trigger"]
        assert conn.execute("SELECT member_id, balance, debt, stamps, updated_at "
                            "FROM member_balances ORDER BY member_id").fetchall() == balances
        assert conn.execute(f"SELECT {_RECEIPT_COLUMNS} FROM receipts ORDER BY rowid"
                            ).fetchall() == receipts
        # The receipts past the mark got their jobs, in order; the one never to print not.
        assert conn.execute("SELECT receipt_no, status FROM print_jobs ORDER BY id"
                            ).fetchall() == [(n, "queued") for n in numbers[:5] + numbers[6:]]
        # Serial and clock are read from the identity row from now on.
        assert conn.execute("SELECT receipt_serial, hlc FROM identity").fetchone() \
            == (7, newest_hlc)
        assert verify_ledger(conn) == []

        after = record_sale(store, bob.member_id, make_sale(total=1000))
        assert after.receipt_no == "S001-T1-000008"
        assert after.events[0].origin_seq == last_seq + 1
        assert after.events[0].hlc > newest_hlc
        assert after.balance == fold(own_events(conn, bob.member_id)).balance
        assert verify_ledger(conn) == []
        sent: list[bytes] = []
        outcomes = print_pending(store, sender=lambda payload, _printer: sent.append(payload))
        assert [o.receipt_no for o in outcomes] == numbers[:5] + numbers[6:] + [after.receipt_no]
        assert all(o.ok for o in outcomes) and len(sent) == 7
    finally:
        store.close()


def test_a_receipt_number_is_unique(store):
    ann = enrol(store, name="Ann", phone="0611223344")
    conn = store.conn
    try:
        conn.execute(f"INSERT INTO receipts ({_RECEIPT_COLUMNS}) SELECT {_RECEIPT_COLUMNS} "
                     "FROM receipts WHERE receipt_no = ?", (ann.receipt_no,))
    except sqlite3.IntegrityError:
        return
    raise AssertionError("a second receipt with the same number was accepted")
