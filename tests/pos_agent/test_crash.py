"""A sale is all or nothing: an exception inside the transaction, and a process killed
with SIGKILL in the middle of a loop of sales, leave whole sales and a gap-free chain."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from loyalty.events import GENESIS, verify_chain
from loyalty.sale import make_sale
from pos_agent import ledger
from pos_agent.ledger import event_from_row, verify_ledger
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.printing import print_pending
from tests.pos_agent.conftest import ROOT, counts

LOOP = """
import sys
from loyalty.sale import SaleLine, make_sale
from pos_agent.members import find_member
from pos_agent.operations import record_sale
from pos_agent.printing import print_pending
from pos_agent.settings import load_settings
from pos_agent.store import open_store

store = open_store(load_settings(sys.argv[1]))
member = find_member(store, sys.argv[2]).member_id
i = 0
while True:
    i += 1
    sale = make_sale([SaleLine("LATTE", "coffee", 1 + i % 3, 350)], 1050 + i % 7 * 100)
    record_sale(store, member if i % 5 else None, sale)
    if i == 5:
        print("running", flush=True)
"""


def seqs_and_chain(conn: sqlite3.Connection) -> tuple[list[int], bool]:
    rows = conn.execute(
        f"SELECT {ledger._EVENT_COLUMNS} FROM events ORDER BY origin_seq").fetchall()
    events = [event_from_row(r) for r in rows]
    return [e.origin_seq for e in events], verify_chain(events, GENESIS)


def test_an_exception_mid_sale_rolls_back_everything(store, monkeypatch, config):
    member = enrol(store, name="Ann", phone="0611223344").member_id
    record_sale(store, member, make_sale(total=1000))
    before = counts(config.parent / "pos-terminal.db")

    def boom(*args, **kwargs):
        raise RuntimeError("power cut")

    # add_receipt runs after the sale's events were inserted.
    monkeypatch.setattr(ledger.Recorder, "add_receipt", boom)
    with pytest.raises(RuntimeError):
        record_sale(store, member, make_sale(total=2000))
    monkeypatch.undo()
    assert counts(config.parent / "pos-terminal.db") == before
    result = record_sale(store, member, make_sale(total=3000))
    seqs, chained = seqs_and_chain(store.conn)
    assert seqs == list(range(1, len(seqs) + 1)) and chained
    assert result.balance == 50 + 100 + 5 + 300
    assert verify_ledger(store.conn) == []


def test_sigkill_during_a_loop_of_sales_leaves_whole_sales(store, config):
    enrolled = enrol(store, name="Ann", phone="0611223344")
    db_path = config.parent / "pos-terminal.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", LOOP, str(config), enrolled.card_number],
        stdout=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout.readline().strip() == b"running"
        time.sleep(0.4)  # well into the loop: one sale every millisecond or so
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(db_path)
    sales = conn.execute("SELECT COUNT(*) FROM receipts WHERE kind = 'sale'").fetchone()[0]
    assert sales > 20
    seqs, chained = seqs_and_chain(conn)
    assert seqs == list(range(1, len(seqs) + 1)) and chained
    # Every member sale has its earn event; every event belongs to a receipt.
    missing = conn.execute(
        "SELECT COUNT(*) FROM receipts r WHERE r.kind = 'sale' AND r.member_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.ref = r.receipt_no "
        "AND e.kind = 'earn')").fetchone()[0]
    orphans = conn.execute(
        "SELECT COUNT(*) FROM events e WHERE NOT EXISTS "
        "(SELECT 1 FROM receipts r WHERE r.receipt_no = e.ref)").fetchone()[0]
    jobs = conn.execute("SELECT COUNT(*) FROM print_jobs").fetchone()[0]
    receipts = conn.execute("SELECT COUNT(*) FROM receipts").fetchone()[0]
    # Receipt numbers are gap-free too: the last one is the count.
    last = conn.execute("SELECT MAX(receipt_no) FROM receipts").fetchone()[0]
    conn.close()
    # The loop never printed: every receipt was committed with its (queued) job.
    assert missing == 0 and orphans == 0 and jobs == receipts == int(last[-6:])
    assert verify_ledger(store.conn) == []
    # The next start's left-over printing finds every one of them, the last one made just
    # before the kill included, and sends each once, in order.
    sent: list[bytes] = []
    outcomes = print_pending(store, sender=lambda data, settings: sent.append(data))
    made = [f"S001-T1-{n:06d}" for n in range(1, receipts + 1)]
    assert [o.receipt_no for o in outcomes] == made and all(o.ok for o in outcomes)
    assert [made[i].encode() in data for i, data in enumerate(sent)] == [True] * receipts
    assert print_pending(store, sender=lambda data, settings: sent.append(data)) == []
    # The terminal carries on after the crash, continuing the same chain and numbers.
    after = record_sale(store, enrolled.member_id, make_sale(total=100))
    assert after.receipt_no == f"S001-T1-{receipts + 1:06d}"
    seqs, chained = seqs_and_chain(store.conn)
    assert seqs == list(range(1, len(seqs) + 1)) and chained
