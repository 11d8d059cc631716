"""The push queue over the acknowledged high-water mark (migration 3): acks in any order,
a hub that lost events, several epochs, and a database upgraded from schema version 2."""

from __future__ import annotations

from loyalty.sale import make_sale
from pos_agent.db import open_database
from pos_agent.db.migrations import current_version
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
from tests.pos_agent.conftest import write_config


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
    assert _seqs(pending_events(store.conn, 100, 1, after_seq=5)) == [6]
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


def test_a_version_2_database_upgrades_with_marks_from_its_acknowledged_prefix(tmp_path):
    config = write_config(tmp_path)
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    _sales(store, 3)
    path = tmp_path / "pos-terminal.db"
    conn = store.conn
    # Back to the shape of version 2: the partial index, no marks, acks made before.
    conn.execute("UPDATE events SET acked_hub_seq = origin_seq WHERE origin_seq IN (1, 2, 3, 5)")
    conn.execute("DROP TABLE acked_marks")
    conn.execute("CREATE INDEX events_unacked ON events (origin_epoch, origin_seq) "
                 "WHERE acked_hub_seq IS NULL")
    conn.execute("DELETE FROM schema_version WHERE version = 3")
    store.close()

    db = open_database(path)
    assert current_version(db) == 3
    assert db.conn.execute("SELECT origin, origin_epoch, acked_seq FROM acked_marks"
                           ).fetchall() == [("S001-T1", 1, 3)]
    assert db.conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events_unacked'"
                           ).fetchone() is None
    assert _seqs(pending_events(db.conn, 100)) == [4, 6]
    assert verify_ledger(db.conn) == []
    db.close()
