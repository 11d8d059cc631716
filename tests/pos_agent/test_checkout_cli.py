"""The checkout on the CLI (issue 17): `pos sale --item ... --tender ...` prices the
basket, takes the tenders and records the sale with every loyalty event in one
transaction; `pos refund RECEIPT --line N[:QTY]` returns exactly those lines."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from pos_agent.cli import main
from pos_agent.hubdata import apply_pull_page
from pos_agent.printing import build_receipt, job_preview, jobs_for_receipt
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.pos_agent.conftest import counts

DB = "pos-terminal.db"
PIN = "4821"
BEANS_EAN = "4006381333931"


def run(capsys, monkeypatch, *argv: str, stdin: str | None = None) -> tuple[int, object, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main([*argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def product(seq: int, sku: str, name: str, category: str, price: int, tax_rate: int,
            *codes: str) -> dict:
    return {"type": "product", "change_seq": seq, "sku": sku, "name": name,
            "category": category, "price": price, "tax_rate": tax_rate,
            "barcodes": list(codes), "active": True}


def query(sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(DB)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def balance(member_id: str) -> int:
    return query("SELECT balance FROM member_balances WHERE member_id = ?", member_id)[0][0]


def receipt(receipt_no: str) -> dict:
    return json.loads(query("SELECT details FROM receipts WHERE receipt_no = ?",
                            receipt_no)[0][0])


def receipt_events(receipt_no: str) -> list[tuple[str, int, dict, dict]]:
    return [(kind, points, json.loads(stamps), json.loads(data)) for kind, points, stamps, data
            in query("SELECT kind, points, stamps, data FROM events WHERE ref = ? "
                     "ORDER BY event_key", receipt_no)]


@pytest.fixture
def ann(config, capsys, monkeypatch) -> dict:
    """A till with a small cafe catalogue, and Ann (PIN 4821) with points to spend."""
    assert run(capsys, monkeypatch, "init", "--store", "S001", "--terminal", "T1")[0] == 0
    store = open_store(load_settings(str(config)))
    try:
        apply_pull_page(store, [
            product(1, "LATTE", "Latte", "coffee", 350, 1000),
            product(2, "CROISSANT", "Croissant", "pastry", 180, 550),
            product(3, "BEANS", "Ethiopia beans 250g", "beans", 1200, 550, BEANS_EAN),
        ], cursor=3)
    finally:
        store.close()
    code, out, err = run(capsys, monkeypatch, "enrol", "--name", "Ann Lee", "--phone",
                         "+33612345678", "--pin-stdin", "--json", stdin=f"{PIN}\n")
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "sale", "--member", out["card_number"],
                       "--amount", "60", "--json")
    assert code == 0, err
    return out



def sale(capsys, monkeypatch, *argv: str, stdin: str | None = None) -> dict:
    code, out, err = run(capsys, monkeypatch, "sale", *argv, "--json", stdin=stdin)
    assert code == 0, err
    return out


def test_a_basket_paid_in_cash_gives_change_and_earns_on_the_lines(ann, capsys, monkeypatch):
    before = balance(ann["member_id"])
    out = sale(capsys, monkeypatch, "--member", ann["card_number"], "--item", "LATTE:2",
               "--item", BEANS_EAN, "--tender", "cash:20.00")
    assert [(ln["sku"], ln["name"], ln["qty"], ln["total"]) for ln in out["lines"]] == [
        ("LATTE", "Latte", 2, 700), ("BEANS", "Ethiopia beans 250g", 1, 1200)]
    assert out["discounts"] == [] and out["total"] == 1900
    assert out["tenders"] == [{"kind": "cash", "amount": 2000}] and out["change"] == 100
    assert out["points_earned"] == 190 and out["points_spent"] == 0
    assert out["stamps"] == {"coffee": 2}
    assert out["balance"] == before + 190 == balance(ann["member_id"])
    details = receipt(out["receipt_no"])
    assert details["lines"] == out["lines"] and details["change"] == 100
    assert details["subtotal"] == 1900
    assert {t["rate"]: t["tax"] for t in details["tax"]} == {"5.5": 63, "10": 64}
    (kind, points, stamps, data), = receipt_events(out["receipt_no"])
    assert (kind, points, stamps) == ("earn", 190, {"coffee": 2})
    assert [i["line_no"] for i in data["items"]] == [1, 2]
    row = query("SELECT total, points_earned FROM receipts WHERE receipt_no = ?",
                out["receipt_no"])
    assert row == [(1900, 190)]


def test_a_split_tender_takes_the_card_first_and_cash_closes(ann, capsys, monkeypatch):
    out = sale(capsys, monkeypatch, "--member", ann["card_number"], "--item", "LATTE",
               "--item", "CROISSANT:2", "--tender", "cash:10.00", "--tender", "card:5.00")
    assert out["total"] == 710
    assert out["tenders"] == [{"kind": "card", "amount": 500}, {"kind": "cash", "amount": 1000}]
    assert out["change"] == 790
    assert receipt(out["receipt_no"])["tenders"] == out["tenders"]


def test_ten_off_reaches_the_ticket_and_the_earn(ann, capsys, monkeypatch):
    before = balance(ann["member_id"])
    out = sale(capsys, monkeypatch, "--member", ann["qr_payload"], "--item", "LATTE:2",
               "--item", "BEANS", "--reward", "ten-off", "--tender", "card:17.10")
    assert out["discounts"] == [{"label": "10% off your basket", "amount": 190,
                                 "reward_id": "ten-off"}]
    assert out["subtotal"] == 1900 and out["total"] == 1710
    assert out["points_spent"] == 250 and out["points_earned"] == 171
    assert sum(ln["net"] for ln in out["lines"]) == 1710
    assert out["balance"] == before - 250 + 171 == balance(ann["member_id"])
    kinds = [(k, p) for k, p, _, _ in receipt_events(out["receipt_no"])]
    assert kinds == [("redeem", -250), ("earn", 171)]
    assert receipt(out["receipt_no"])["discounts"] == out["discounts"]
    preview = receipt_preview(out["receipt_no"])
    for text in ("Latte", "Ethiopia beans 250g", "10% off your basket", "17.10"):
        assert text in preview, text
    assert "BEANS" not in preview


def receipt_preview(receipt_no: str) -> str:
    store = open_store(load_settings(None))
    try:
        jobs = jobs_for_receipt(store, receipt_no)
        text = job_preview(store, jobs[-1]) if jobs else None
        if text is None:  # not printed yet: render it the way the printer would
            from pos_agent.printing import _render
            text = _render(store, build_receipt(store, receipt_no))[1]
        return text
    finally:
        store.close()


def test_spending_needs_the_qr_or_the_pin_and_a_refusal_records_nothing(
        ann, capsys, monkeypatch):
    before, rows = balance(ann["member_id"]), counts(Path(DB))
    for extra in (["--points", "100"], ["--reward", "ten-off"]):
        code, _, err = run(capsys, monkeypatch, "sale", "--member", ann["card_number"],
                           "--item", "LATTE", *extra, "--tender", "card:3.50", stdin="")
        assert code == 2 and "scan the member's QR or ask for their PIN" in err
    for argv, message in [
        (["--item", "LATTE"], "say how the customer pays"),
        (["--item", "LATTE", "--tender", "cash:2.00"], "not enough paid: 1.50"),
        (["--item", "LATTE", "--tender", "card:5.00"], "a card payment gives no change"),
        (["--item", "TEA", "--tender", "cash:5.00"], "no product with SKU or barcode 'TEA'"),
        (["--item", "LATTE", "--reward", "ten-off", "--reward", "ten-off",
          "--tender", "cash:5"], "already on the ticket"),
        (["--item", "LATTE", "--points", "5000", "--tender", "cash:5"], "at most 2,000"),
    ]:
        code, _, err = run(capsys, monkeypatch, "sale", "--member", ann["qr_payload"], *argv)
        assert code == 2, (argv, err)
        assert message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
    assert balance(ann["member_id"]) == before and counts(Path(DB)) == rows
    # with the PIN the points pay part of it; the points paid earn nothing
    out = sale(capsys, monkeypatch, "--member", ann["card_number"], "--item", "BEANS",
               "--points", "200", "--tender", "card:10.00", "--pin-stdin", stdin=f"{PIN}\n")
    assert out["tenders"] == [{"kind": "points", "amount": 200, "points": 200},
                              {"kind": "card", "amount": 1000}]
    assert out["points_spent"] == 200 and out["points_earned"] == 100
    assert balance(ann["member_id"]) == before - 200 + 100


def test_a_line_return_takes_back_exactly_those_lines(ann, capsys, monkeypatch):
    before = balance(ann["member_id"])
    out = sale(capsys, monkeypatch, "--member", ann["card_number"], "--item", "LATTE:2",
               "--item", "BEANS", "--item", "CROISSANT", "--tender", "card:10.00",
               "--tender", "cash:20.00")
    assert out["total"] == 2080 and out["points_earned"] == 208
    assert out["stamps"] == {"coffee": 2, "pastry": 1}
    stamps = query("SELECT stamps FROM member_balances WHERE member_id = ?",
                   ann["member_id"])[0][0]
    # the beans: their points, no stamp taken off any card
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "2",
                          "--reason", "wrong grind", "--json")
    assert code == 0, err
    assert back["points_reversed"] == 120 and back["stamps"] == {}
    assert back["amount"] == 1200
    assert [(ln["sku"], ln["qty"], ln["total"]) for ln in back["lines"]] == [("BEANS", 1, 1200)]
    # to the original tenders: the card its share (10.00 x 12.00 / 20.80), cash the rest
    assert back["refunds"] == [{"kind": "card", "amount": 576},
                               {"kind": "cash", "amount": 624}]
    assert back["balance"] == before + 208 - 120 == balance(ann["member_id"])
    assert query("SELECT stamps FROM member_balances WHERE member_id = ?",
                 ann["member_id"])[0][0] == stamps
    details = receipt(back["receipt_no"])
    assert details["lines"] == back["lines"] and details["refunds"] == back["refunds"]
    assert details["reason"] == "wrong grind"
    (kind, points, ev_stamps, _), = [e for e in receipt_events(out["receipt_no"])
                                     if e[0] == "reverse"]
    assert (kind, points, ev_stamps) == ("reverse", -120, {})
    # one latte: one coffee stamp
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1:1",
                          "--reason", "cold", "--json")
    assert code == 0, err
    assert back["points_reversed"] == 35 and back["stamps"] == {"coffee": -1}
    # more than is left, or no reason: refused, nothing recorded
    rows = counts(Path(DB))
    for argv, message in [(["--line", "2", "--reason", "x"], "at most 0 more"),
                          (["--line", "1:1"], "say why"),
                          (["--line", "9", "--reason", "x"], "has no line 9")]:
        code, _, err = run(capsys, monkeypatch, "refund", out["receipt_no"], *argv)
        assert code == 2 and message in err, (argv, err)
    assert counts(Path(DB)) == rows
    # the rest: the member exactly as before the sale, every tender back in full
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1",
                          "--line", "3", "--reason", "changed mind", "--json")
    assert code == 0, err
    assert balance(ann["member_id"]) == before
    refunded = {}
    for (text,) in query("SELECT details FROM receipts WHERE reverses = ?", out["receipt_no"]):
        for t in json.loads(text)["refunds"]:
            refunded[t["kind"]] = refunded.get(t["kind"], 0) + t["amount"]
    assert refunded == {"card": 1000, "cash": 1080}


def test_a_sale_without_a_member_and_its_return(ann, capsys, monkeypatch):
    out = sale(capsys, monkeypatch, "--item", "LATTE:3", "--tender", "cash:20")
    assert out["member_id"] is None and out["points_earned"] == 0 and out["balance"] is None
    assert out["change"] == 950
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1:2",
                          "--reason", "spilt", "--json")
    assert code == 0, err
    assert back["amount"] == 700 and back["points_reversed"] == 0
    assert back["refunds"] == [{"kind": "cash", "amount": 700}]
    code, _, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1:2",
                       "--reason", "x")
    assert code == 2 and "at most 1 more" in err


def test_the_old_sale_and_refund_options_still_work(ann, capsys, monkeypatch):
    out = sale(capsys, monkeypatch, "--member", ann["card_number"], "--amount", "10")
    code, back, err = run(capsys, monkeypatch, "refund", "--receipt", out["receipt_no"],
                          "--amount", "5", "--json")
    assert code == 0, err and back["amount"] == 500
    code, _, err = run(capsys, monkeypatch, "sale", "--amount", "5", "--tender", "cash:5")
    assert code == 2 and "--item" in err


def test_a_large_return_needs_a_manager_on_a_till_with_staff(ann, config, capsys,
                                                              monkeypatch):
    from tests.pos_agent.test_staff import BOSS, CATHY, PINS, pull_staff
    store = open_store(load_settings(str(config)))
    try:
        pull_staff(store)
    finally:
        store.close()
    cathy = ["--staff", CATHY, "--pin-stdin"]
    out = sale(capsys, monkeypatch, "--item", "BEANS:5", "--tender", "card:60", *cathy,
               stdin=f"{PINS[CATHY]}\n")
    # below [terminal] refund_approval_above (50): the cashier refunds with a reason
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1:1",
                          "--reason", "torn bag", "--json", *cathy, stdin=f"{PINS[CATHY]}\n")
    assert code == 0, err
    assert back["refunds"] == [{"kind": "card", "amount": 1200}]
    # above the limit (lowered to 20.00 here): refused without a manager, nothing written
    monkeypatch.setenv("POS_TERMINAL__REFUND_APPROVAL_ABOVE", "20")
    rows = counts(Path(DB))
    code, _, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1:2",
                       "--reason", "torn", *cathy, stdin=f"{PINS[CATHY]}\n")
    assert code == 2 and "needs a manager's approval" in err, err
    assert counts(Path(DB)) == rows
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1:2",
                          "--reason", "torn", "--approved-by", BOSS, "--json", *cathy,
                          stdin=f"{PINS[CATHY]}\n{PINS[BOSS]}\n")
    assert code == 0, err
    assert receipt(back["receipt_no"])["approved_by"] == BOSS


def test_points_paid_come_back_as_points_with_the_last_line(ann, capsys, monkeypatch):
    before = balance(ann["member_id"])
    out = sale(capsys, monkeypatch, "--member", ann["qr_payload"], "--item", "BEANS",
               "--item", "LATTE", "--points", "300", "--tender", "cash:20")
    assert out["total"] == 1550 and out["change"] == 750 and out["points_earned"] == 125
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "1",
                          "--reason", "x", "--json")
    assert code == 0, err
    # 12.00 of 15.50 returned: the money part only (12.50 paid in money), points kept
    assert back["refunds"] == [{"kind": "cash", "amount": 967}] and back["amount"] == 967
    assert back["points_reversed"] == 97  # what the 9.67 paid in money for it earned
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "2",
                          "--reason", "x", "--json")
    assert code == 0, err
    assert back["refunds"] == [{"kind": "cash", "amount": 283},
                               {"kind": "points", "amount": 300, "points": 300}]
    assert balance(ann["member_id"]) == before


def test_the_refund_receipt_prints_the_lines_and_the_tenders(ann, capsys, monkeypatch):
    out = sale(capsys, monkeypatch, "--member", ann["card_number"], "--item", "LATTE:2",
               "--item", "BEANS", "--tender", "card:10.00", "--tender", "cash:10.00")
    sale_text = receipt_preview(out["receipt_no"])
    for text in ("Latte x2", "Ethiopia beans 250g", "TOTAL", "19.00", "Card", "CHANGE"):
        assert text in sale_text, text
    code, back, err = run(capsys, monkeypatch, "refund", out["receipt_no"], "--line", "2",
                          "--reason", "wrong grind", "--json")
    assert code == 0, err
    text = receipt_preview(back["receipt_no"])
    # card 10.00 x 12.00 / 19.00 = 6.31 (floored), cash the rest
    for part in ("REFUND", "Ethiopia beans 250g", "12.00", "to Card", "6.31", "to Cash",
                 "5.69", "-120"):
        assert part in text, part
