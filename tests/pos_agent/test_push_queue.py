"""The push queue over the acknowledged high-water mark (migration 3) and the integer-keyed
events (migration 4): acks in any order, a hub that lost events, several epochs, and a
database upgraded from schema version 2."""

from __future__ import annotations

import sqlite3

import pytest

from loyalty.sale import make_sale
from pos_agent import ledger
from pos_agent.db.migrations import current_version
from pos_agent.db.schema import MIGRATIONS
from pos_agent.identity import init_terminal, new_epoch
from pos_agent.ledger import (
    mark_acknowledged,
    pending_events,
    queued_count,
    unacknowledge_from,
    verify_ledger,
)
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.pos_agent.conftest import old_version_copy, write_config


def _ack(conn, events) -> int:
    return mark_acknowledged(conn, [{"event_id": e.event_id, "hub_seq": 1000 + e.origin_seq}
                                    for e in events])


def _mark(conn, epoch: int = 1) -> int:
    row = conn.execute("SELECT acked_seq FROM acked_marks WHERE origin_epoch = ?",
                       (epoch,)).fetchone()
    return row[0] if row else 0


def _seqs(events) -> list[int]:
    return [e.origin_seq for e in events]


def _sales(store, n: int) -> None:
    ann = enrol(store, name="Ann", phone="0611223344")  # enrol + welcome: seq 1, 2
    for _ in range(n):
        record_sale(store, ann.member_id, make_sale(total=1000))


def test_acks_out_of_order_move_the_mark_only_over_a_gap_free_prefix(store):
    _sales(store, 3)
    events = pending_events(store.conn, 100)
    assert _seqs(events) == list(range(1, 7))  # enrol, welcome, earn, visit, earn, earn
    assert _ack(store.conn, events[2:4]) == 2
    assert _mark(store.conn) == 0
    assert _seqs(pending_events(store.conn, 100)) == [1, 2, 5, 6]
    assert queued_count(store.conn) == 4
    assert _ack(store.conn, events[2:4]) == 0  # a repeat changes nothing
    _ack(store.conn, events[:2])
    assert _mark(store.conn) == 4
    assert _seqs(pending_events(store.conn, 2)) == [5, 6]
    _ack(store.conn, events[4:])
    assert _mark(store.conn) == 6
    assert pending_events(store.conn, 100) == [] and queued_count(store.conn) == 0
    assert verify_ledger(store.conn) == []


def test_a_hub_that_lost_events_lowers_the_mark(store):
    _sales(store, 3)
    _ack(store.conn, pending_events(store.conn, 100))
    assert unacknowledge_from(store.conn, 1, 4) == 3
    assert _mark(store.conn) == 3
    assert _seqs(pending_events(store.conn, 100)) == [4, 5, 6]
    assert queued_count(store.conn) == 3
    assert verify_ledger(store.conn) == []


def test_an_older_epoch_is_pushed_first_then_the_new_one(store):
    _sales(store, 1)
    new_epoch(store.db)
    member_id = store.conn.execute("SELECT member_id FROM members").fetchone()[0]
    record_sale(store, member_id, make_sale(total=500))
    first = pending_events(store.conn, 100)
    assert {e.origin_epoch for e in first} == {1}
    assert queued_count(store.conn) == len(first) + 1
    _ack(store.conn, first)
    second = pending_events(store.conn, 100)
    assert [(e.origin_epoch, e.origin_seq) for e in second] == [(2, 1)]
    _ack(store.conn, second)
    assert queued_count(store.conn) == 0
    assert verify_ledger(store.conn) == []


def test_a_mark_past_an_unacknowledged_event_is_reported(store):
    _sales(store, 1)
    store.conn.execute("INSERT INTO acked_marks VALUES ('S001-T1', 1, 2)")
    assert verify_ledger(store.conn) == [
        "S001-T1 epoch 1: acknowledged mark 2 is past an unacknowledged event"]


def test_a_version_2_database_upgrades_to_marks_and_integer_keyed_events(tmp_path):
    config = write_config(tmp_path)
    settings = load_settings(str(config))
    store = open_store(settings, path=tmp_path / "new.db")
    init_terminal(store.db, "S001", "T1")
    _sales(store, 3)
    store.close()
    # A version 2 database holding the same rows, three of them acknowledged in order
    # and one out of order.
    path = tmp_path / "old.db"
    old = old_version_copy(tmp_path / "new.db", path, 2, (
        "members", "cards", "member_balances", "receipts", "print_jobs", "identity"),
        f"{ledger._EVENT_COLUMNS}, content_hash")
    conn = old.conn
    conn.execute("UPDATE events SET acked_hub_seq = origin_seq WHERE origin_seq IN (1, 2, 3, 5)")
    old.close()

    store = open_store(settings, path=path)
    db = store.db
    assert current_version(db) == max(m.version for m in MIGRATIONS)
    assert db.conn.execute("SELECT origin, origin_epoch, acked_seq FROM acked_marks"
                           ).fetchall() == [("S001-T1", 1, 3)]
    names = {r[0] for r in db.conn.execute("SELECT name FROM sqlite_master")}
    assert "events_unacked" not in names and "sqlite_autoindex_events_1" not in names
    assert [r[0] for r in db.conn.execute("SELECT event_key FROM events ORDER BY 1")] == \
        [(1 << 32) + seq for seq in range(1, 7)]
    assert _seqs(pending_events(db.conn, 100)) == [4, 6]
    assert verify_ledger(db.conn) == []
    # The chain goes on from the upgraded rows.
    member_id = db.conn.execute("SELECT member_id FROM members").fetchone()[0]
    event = record_sale(store, member_id, make_sale(total=700)).events[0]
    assert event.origin_seq == 7
    assert verify_ledger(db.conn) == []
    store.close()


def test_an_event_key_that_does_not_match_its_epoch_and_seq_is_refused(store):
    _sales(store, 1)
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        store.conn.execute("UPDATE events SET origin_seq = 99 WHERE origin_seq = 3")


def test_a_repeated_event_id_is_reported(store):
    _sales(store, 1)
    store.conn.execute("UPDATE events SET event_id = (SELECT event_id FROM events "
                       "WHERE origin_seq = 1) WHERE origin_seq = 2")
    problems = verify_ledger(store.conn)
    assert any("used by more than one event" in p for p in problems)
