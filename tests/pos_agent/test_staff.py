"""Staff at the terminal (issue 16 part 4): staff pulled from the hub, PIN checks with a
lockout per till, every event naming who made it, voids and refunds naming the manager
who approved them, `--staff` / `--approved-by` on the CLI, and the open till without
staff."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loyalty.pins import PinError, hash_pin
from loyalty.sale import make_sale
from pos_agent.cli import main
from pos_agent.exceptions import StoreError
from pos_agent.hubdata import apply_pull_page
from pos_agent.members import enrol
from pos_agent.operations import record_sale, refund_receipt, void_receipt
from pos_agent.staff import check_staff_pin, log_in
from tests.pos_agent.conftest import counts

BOSS, CATHY = "1", "2"
PINS = {BOSS: "5930", CATHY: "4821"}


def staff_change(staff_id: str, role: str, pin: str, seq: int, **extra: object) -> dict:
    return {"type": "staff", "change_seq": seq, "staff_id": staff_id, "name":
            {BOSS: "Max Manager", CATHY: "Cathy Cashier"}.get(staff_id, "Someone"),
            "role": role, "store": "S001", "pin_hash": hash_pin(pin), "active": True, **extra}


def pull_staff(store) -> None:
    apply_pull_page(store, [staff_change(BOSS, "manager", PINS[BOSS], 1),
                            staff_change(CATHY, "cashier", PINS[CATHY], 2)], 2)


def data_of(store, kind: str) -> list[dict]:
    return [json.loads(r[0]) for r in store.conn.execute(
        "SELECT data FROM events WHERE kind = ? ORDER BY event_key", (kind,))]


def test_a_till_with_staff_records_nothing_for_nobody(store):
    ann = enrol(store, name="Ann", phone="+33612345678")  # no staff yet: an open till
    assert "staff_id" not in data_of(store, "enrol")[0]
    pull_staff(store)
    before = counts(Path(store.settings.database_path))
    with pytest.raises(StoreError, match="nobody is logged in on this till"):
        record_sale(store, ann.member_id, make_sale(total=1000))
    assert counts(Path(store.settings.database_path)) == before
    log_in(store, CATHY, PINS[CATHY])
    sale = record_sale(store, ann.member_id, make_sale(total=1000))
    assert {d["staff_id"] for d in data_of(store, "earn") + data_of(store, "bonus")[1:]} == \
        {CATHY}
    walk_in = record_sale(store, None, make_sale(total=300))  # no member, no event
    details = dict(store.conn.execute("SELECT receipt_no, details FROM receipts").fetchall())
    assert json.loads(details[walk_in.receipt_no])["staff_id"] == CATHY
    assert json.loads(details[sale.receipt_no])["staff_id"] == CATHY
    # disabled at HQ: the next pull stops them at once
    apply_pull_page(store, [{"type": "staff", "change_seq": 3, "staff_id": CATHY,
                             "active": False}], 3)
    with pytest.raises(StoreError, match="not active on this till any more"):
        record_sale(store, ann.member_id, make_sale(total=1000))
    with pytest.raises(StoreError, match="no active staff member '2'"):
        check_staff_pin(store, CATHY, PINS[CATHY])


def test_a_void_or_refund_names_the_manager_who_approved_it(store):
    pull_staff(store)
    cathy = log_in(store, CATHY, PINS[CATHY])
    ann = enrol(store, name="Ann", phone="+33612345678")
    sale = record_sale(store, ann.member_id, make_sale(total=2000))
    with pytest.raises(StoreError, match="a void needs a manager's approval"):
        void_receipt(store, sale.receipt_no)
    with pytest.raises(StoreError, match="is a cashier: a void needs a manager's approval"):
        void_receipt(store, sale.receipt_no, approved_by=cathy)
    with pytest.raises(StoreError, match="is a cashier: a manager must enter their own PIN"):
        check_staff_pin(store, CATHY, PINS[CATHY], role="manager")
    with pytest.raises(PinError, match="wrong PIN for Max Manager"):
        check_staff_pin(store, BOSS, PINS[CATHY], role="manager")
    boss = check_staff_pin(store, BOSS, PINS[BOSS], role="manager")
    refund = refund_receipt(store, sale.receipt_no, 500, approved_by=boss)
    void = void_receipt(store, sale.receipt_no, approved_by=boss)
    reversals = data_of(store, "reverse")
    assert [(d["staff_id"], d["approved_by"]) for d in reversals] == [(CATHY, BOSS)] * 2
    for receipt in (refund.receipt_no, void.receipt_no):
        details = json.loads(store.conn.execute(
            "SELECT details FROM receipts WHERE receipt_no = ?", (receipt,)).fetchone()[0])
        assert details["approved_by"] == BOSS and details["staff_id"] == CATHY


def test_staff_pins_lock_after_five_wrong_tries_and_a_new_pin_from_hq_unlocks(store):
    pull_staff(store)
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for i in range(4):
        with pytest.raises(PinError, match="more wrong tries lock it"):
            check_staff_pin(store, CATHY, "9999", at=t0 + timedelta(seconds=i))
    with pytest.raises(PinError, match="it is now locked for 1 minute"):
        check_staff_pin(store, CATHY, "9999", at=t0 + timedelta(seconds=5))
    with pytest.raises(PinError, match="locked after 5 wrong tries"):
        check_staff_pin(store, CATHY, PINS[CATHY], at=t0 + timedelta(seconds=30))
    # the same hash pulled again (another change of theirs) keeps the count...
    apply_pull_page(store, [{**staff_change(CATHY, "cashier", "7093", 3),
                             "pin_hash": store.conn.execute(
                                 "SELECT pin_hash FROM staff WHERE staff_id = ?",
                                 (CATHY,)).fetchone()[0]}], 3)
    with pytest.raises(PinError, match="locked"):
        check_staff_pin(store, CATHY, PINS[CATHY], at=t0 + timedelta(seconds=40))
    # ...a new PIN set at HQ starts it again
    apply_pull_page(store, [staff_change(CATHY, "cashier", "6047", 4)], 4)
    assert check_staff_pin(store, CATHY, "6047", at=t0 + timedelta(seconds=50)).name == \
        "Cathy Cashier"
    # after the lock, the right PIN works and forgets the wrong tries
    for i in range(5):
        with pytest.raises(PinError):
            check_staff_pin(store, BOSS, "9999", at=t0 + timedelta(seconds=i))
    assert check_staff_pin(store, BOSS, PINS[BOSS], at=t0 + timedelta(minutes=2)).is_manager
    assert store.conn.execute("SELECT pin_failures FROM staff WHERE staff_id = ?",
                              (BOSS,)).fetchone() == (0,)


# -- the CLI --------------------------------------------------------------------------------
def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, object, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main([*argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def test_cli_commands_that_record_take_the_staff_and_their_pin(store, capsys, monkeypatch):
    db = store.settings.database_path
    code, ann, err = run(capsys, monkeypatch, "enrol", "--name", "Ann", "--phone",
                         "+33612345678", "--pin-stdin", "--json", stdin="7193\n")
    assert code == 0, err  # no staff yet: the open till
    pull_staff(store)
    before = counts(Path(db))
    code, _, err = run(capsys, monkeypatch, "sale", "--member", ann["card_number"],
                       "--amount", "30")
    assert code == 2 and "this till has staff: say who you are with --staff ID" in err
    code, _, err = run(capsys, monkeypatch, "sale", "--member", ann["card_number"],
                       "--amount", "30", "--staff", CATHY)
    assert code == 2 and "type it at the prompt, or pipe it with --pin-stdin" in err
    code, _, err = run(capsys, monkeypatch, "sale", "--member", ann["card_number"],
                       "--amount", "30", "--staff", CATHY, "--pin-stdin", stdin="0000\n")
    assert code == 2 and "wrong PIN for Cathy Cashier" in err
    assert counts(Path(db)) == before
    code, sale, err = run(capsys, monkeypatch, "sale", "--member", ann["card_number"],
                          "--amount", "30", "--staff", CATHY, "--pin-stdin", "--json",
                          stdin=f"{PINS[CATHY]}\n")
    assert code == 0, err
    # the staff member's PIN, then the member's: one line each
    code, out, err = run(capsys, monkeypatch, "redeem", "--member", ann["card_number"],
                         "--reward", "free-latte", "--staff", CATHY, "--pin-stdin", "--json",
                         stdin=f"{PINS[CATHY]}\n7193\n")
    assert code == 0 and out["points_spent"] == 150, err
    # a cashier's void needs a manager's own PIN after hers
    code, _, err = run(capsys, monkeypatch, "void", "--receipt", sale["receipt_no"],
                       "--staff", CATHY, "--pin-stdin", stdin=f"{PINS[CATHY]}\n")
    assert code == 2 and "a void needs a manager's approval: add --approved-by" in err
    code, _, err = run(capsys, monkeypatch, "void", "--receipt", sale["receipt_no"],
                       "--staff", CATHY, "--approved-by", CATHY, "--pin-stdin",
                       stdin=f"{PINS[CATHY]}\n")
    assert code == 2 and "manager's approval" in err
    code, out, err = run(capsys, monkeypatch, "refund", "--receipt", sale["receipt_no"],
                         "--amount", "5", "--staff", CATHY, "--approved-by", BOSS,
                         "--pin-stdin", "--json", stdin=f"{PINS[CATHY]}\n{PINS[BOSS]}\n")
    assert code == 0, err
    code, out, err = run(capsys, monkeypatch, "void", "--receipt", sale["receipt_no"],
                         "--staff", BOSS, "--pin-stdin", "--json", stdin=f"{PINS[BOSS]}\n")
    assert code == 0, err  # a manager approves their own void
    conn = sqlite3.connect(db)
    rows = [json.loads(d) for (d,) in conn.execute(
        "SELECT data FROM events WHERE kind = 'reverse' ORDER BY event_key")]
    conn.close()
    assert [(d["staff_id"], d["approved_by"]) for d in rows] == [(CATHY, BOSS), (BOSS, BOSS)]
    # reading a member records nothing: no login
    code, out, err = run(capsys, monkeypatch, "member", ann["card_number"], "--json")
    assert code == 0 and out["pin_set"] is True, err
