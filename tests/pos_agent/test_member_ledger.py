"""member_ledger (migration 9): a member's cached balance and the keys of its own events in
one b-tree, kept by triggers on events. A database upgraded from version 8 keeps every
balance and finds every member's events; each event gets exactly one row, whoever inserts
it; and the balance row sorts after the member's events, where the next one is written."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

from loyalty.fold import fold
from loyalty.sale import make_sale
from pos_agent import ledger
from pos_agent.db.migrations import current_version
from pos_agent.db.schema import MIGRATIONS
from pos_agent.identity import init_terminal
from pos_agent.ledger import BALANCE_KEY, build_state, own_events, verify_ledger
from pos_agent.members import enrol
from pos_agent.operations import record_sale, void_receipt
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.pos_agent.conftest import old_version_copy, write_config


def _ledger_rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT member_id, event_key, balance IS NOT NULL FROM member_ledger "
        "ORDER BY member_id, event_key").fetchall()


def test_a_version_8_database_moves_balances_and_member_keys_into_member_ledger(tmp_path):
    settings = load_settings(str(write_config(tmp_path)))
    new = open_store(settings, path=tmp_path / "new.db")
    init_terminal(new.db, "S001", "T1")
    ann = enrol(new, name="Ann", phone="0611223344")
    bob = enrol(new, name="Bob", phone="0611223355")
    sale = record_sale(new, ann.member_id, make_sale(total=4200))
    record_sale(new, bob.member_id, make_sale(total=1500))
    void_receipt(new, sale.receipt_no)
    balances = new.conn.execute(
        "SELECT member_id, balance, debt, stamps, version, updated_at FROM member_balances "
        "ORDER BY member_id").fetchall()
    new.close()
    path = tmp_path / "old.db"
    old_version_copy(tmp_path / "new.db", path, 8, (
        "identity", "members", "cards", "member_balances", "receipts", "print_marks"),
        f"event_key, {ledger._EVENT_COLUMNS}, content_hash").close()

    store = open_store(settings, path=path)
    try:
        conn = store.conn
        assert current_version(store.db) == max(m.version for m in MIGRATIONS)
        names = {r[0]: r[1] for r in conn.execute("SELECT name, type FROM sqlite_master")}
        assert names["member_balances"] == "view" and "events_by_member" not in names
        assert conn.execute(
            "SELECT member_id, balance, debt, stamps, version, updated_at FROM member_balances "
            "ORDER BY member_id").fetchall() == balances
        expected = sorted(
            [(m, k, 0) for m, k in conn.execute("SELECT member_id, event_key FROM events")]
            + [(m, BALANCE_KEY, 1) for m, *_ in balances])
        assert _ledger_rows(conn) == expected
        for member_id in (ann.member_id, bob.member_id):
            events = own_events(conn, member_id)
            assert {e.member_id for e in events} == {member_id}
            assert len(events) == conn.execute(
                "SELECT COUNT(*) FROM events WHERE member_id = ?", (member_id,)).fetchone()[0]
            assert build_state(conn, member_id).balance == fold(events).balance
        after = record_sale(store, bob.member_id, make_sale(total=1000))
        assert after.balance == fold(own_events(conn, bob.member_id)).balance
        assert verify_ledger(conn) == []
    finally:
        store.close()


def test_every_event_gets_one_member_ledger_row_and_the_balance_row_sorts_last(store):
    ann = enrol(store, name="Ann", phone="0611223344")
    bob = enrol(store, name="Bob", phone="0611223355")
    for total in (1000, 2500, 700):
        record_sale(store, ann.member_id, make_sale(total=total))
    record_sale(store, bob.member_id, make_sale(total=300))
    conn = store.conn
    events = conn.execute("SELECT member_id, event_key FROM events").fetchall()
    assert _ledger_rows(conn) == sorted(
        [(m, k, 0) for m, k in events]
        + [(ann.member_id, BALANCE_KEY, 1), (bob.member_id, BALANCE_KEY, 1)])
    # The balance row is the member's last: a new event's key is above every earlier
    # one, so its row goes in right before the balance row written with it.
    for member_id in (ann.member_id, bob.member_id):
        keys = [k for (k,) in conn.execute(
            "SELECT event_key FROM member_ledger WHERE member_id = ? ORDER BY event_key",
            (member_id,))]
        assert keys[-1] == BALANCE_KEY and max(keys[:-1]) < BALANCE_KEY
    # Rows follow an event whoever writes it (here a plain DELETE, as a repair would):
    # the state rebuilt from the ledger then no longer counts it.
    last = conn.execute("SELECT MAX(event_key) FROM events WHERE member_id = ?",
                        (ann.member_id,)).fetchone()[0]
    conn.execute("DELETE FROM events WHERE event_key = ?", (last,))
    assert (ann.member_id, last, 0) not in _ledger_rows(conn)
    rebuilt = build_state(conn, ann.member_id)
    assert rebuilt.balance == fold(own_events(conn, ann.member_id)).balance
    assert len(own_events(conn, ann.member_id)) == conn.execute(
        "SELECT COUNT(*) FROM events WHERE member_id = ?", (ann.member_id,)).fetchone()[0]


def test_a_member_ledger_row_without_its_balance_columns_is_refused(store):
    ann = enrol(store, name="Ann", phone="0611223344")
    conn = store.conn
    for row in (("no-such-member", BALANCE_KEY, None), (ann.member_id, 5, 10)):
        try:
            conn.execute("INSERT INTO member_ledger (member_id, event_key, balance, debt, "
                         "stamps, version, updated_at) VALUES (?, ?, ?, 0, '{}', 1, 'x')", row)
        except sqlite3.IntegrityError:
            continue
        raise AssertionError(f"{row} was accepted")


def test_the_state_kept_after_sales_is_the_state_rebuilt_from_the_ledger(store):
    # The recorder applies its events at the instant it sealed them with, not parsed back
    # from their text: every lot, spend entry and receipt record must come out the same,
    # whatever zone the instant was given in (here +02:00, and one with no microseconds).
    ann = enrol(store, name="Ann", phone="0611223344",
                at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    paris = timezone(timedelta(hours=2))
    for i, total in enumerate((1000, 2500, 12000, 700)):
        at = datetime(2026, 3, 3 + i, 11, 30, 5, 250 * i, tzinfo=paris)
        record_sale(store, ann.member_id, make_sale(total=total), at=at)
    kept = store.states[ann.member_id][1]
    rebuilt = build_state(store.conn, ann.member_id)
    assert kept.to_dict() == rebuilt.to_dict()
    assert [lot.earned_at for lot in kept.lots] == [lot.earned_at for lot in rebuilt.lots]
    assert all(lot.earned_at.tzinfo is UTC for lot in kept.lots)
