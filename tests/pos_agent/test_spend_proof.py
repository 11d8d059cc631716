"""Proof of possession before spending (issue 16 part 3), through `pos` and the store API:
a typed card or phone number earns but never spends; a scanned QR or the member's PIN
spends; wrong PINs lock with backoff; the PIN hash is in no output."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loyalty.pins import PinError
from pos_agent.cli import main
from pos_agent.members import enrol, find_member, member_view
from pos_agent.operations import record_sale, redeem_reward, redeem_voucher
from pos_agent.pins import check_member_pin
from tests.pos_agent.conftest import counts

DB = "pos-terminal.db"
PIN = "4821"


def run(capsys, monkeypatch, *argv: str, stdin: str | None = None) -> tuple[int, object, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main([*argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def events(kind: str) -> list[dict]:
    conn = sqlite3.connect(DB)
    try:
        return [json.loads(r[0]) for r in conn.execute(
            "SELECT data FROM events WHERE kind = ? ORDER BY event_key", (kind,))]
    finally:
        conn.close()


def balance(member_id: str) -> int:
    conn = sqlite3.connect(DB)
    try:
        return conn.execute("SELECT balance FROM member_balances WHERE member_id = ?",
                            (member_id,)).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def ann(config, capsys, monkeypatch) -> dict:
    """Ann enrolled with a PIN through `pos enrol --pin-stdin`, with 300 points to spend."""
    assert run(capsys, monkeypatch, "init", "--store", "S001", "--terminal", "T1")[0] == 0
    code, out, err = run(capsys, monkeypatch, "enrol", "--name", "Ann Lee", "--phone",
                         "+33612345678", "--pin-stdin", "--json", stdin=f"{PIN}\n")
    assert code == 0, err
    assert out["pin_set"] is True
    code, _, err = run(capsys, monkeypatch, "sale", "--member", out["card_number"],
                       "--amount", "25", "--json")
    assert code == 0, err
    return out


def test_a_typed_card_earns_but_cannot_spend(ann, capsys, monkeypatch):
    before, rows = balance(ann["member_id"]), counts(Path(DB))
    code, _, err = run(capsys, monkeypatch, "redeem", "--member", ann["card_number"],
                       "--reward", "free-latte", stdin="")
    assert code == 2
    assert err.strip().startswith("pos: typed card numbers can earn but not spend: scan the "
                                  "member's QR or ask for their PIN")
    assert balance(ann["member_id"]) == before and counts(Path(DB)) == rows
    # the same for a voucher and for the phone number
    code, _, err = run(capsys, monkeypatch, "redeem", "--member", "+33612345678",
                       "--voucher", "NOPE")
    assert code == 2 and "phone number can earn but not spend" in err
    assert counts(Path(DB)) == rows


def test_the_scanned_qr_spends(ann, capsys, monkeypatch):
    before = balance(ann["member_id"])
    code, out, err = run(capsys, monkeypatch, "redeem", "--member", ann["qr_payload"],
                         "--reward", "free-latte", "--json")
    assert code == 0, err
    assert out["points_spent"] == 150 and balance(ann["member_id"]) == before - 150
    assert events("pin") == [{"action": "set", "hash": events("pin")[0]["hash"]}]


def test_the_pin_spends_with_a_typed_card_or_phone(ann, capsys, monkeypatch):
    before = balance(ann["member_id"])
    code, out, err = run(capsys, monkeypatch, "redeem", "--member", ann["card_number"],
                         "--reward", "pay", "--points", "100", "--pin-stdin", "--json",
                         stdin=f"{PIN}\n")
    assert code == 0, err
    assert out["points_spent"] == 100
    code, out, err = run(capsys, monkeypatch, "redeem", "--member", "+33 6 12 34 56 78",
                         "--reward", "free-latte", "--pin-stdin", "--json", stdin=f"{PIN}\n")
    assert code == 0, err
    assert balance(ann["member_id"]) == before - 250
    assert [e["action"] for e in events("pin")] == ["set"]  # right tries record nothing


def test_a_wrong_pin_spends_nothing_and_is_counted(ann, capsys, monkeypatch):
    before = balance(ann["member_id"])
    code, _, err = run(capsys, monkeypatch, "redeem", "--member", ann["card_number"],
                       "--reward", "free-latte", "--pin-stdin", stdin="9999\n")
    assert code == 2 and "wrong PIN: 4 more wrong tries lock it" in err
    assert balance(ann["member_id"]) == before
    assert [e["action"] for e in events("pin")] == ["set", "failed"]
    # the right one after it starts the count again
    code, _, err = run(capsys, monkeypatch, "redeem", "--member", ann["card_number"],
                       "--reward", "free-latte", "--pin-stdin", stdin=f"{PIN}\n")
    assert code == 0, err
    assert [e["action"] for e in events("pin")] == ["set", "failed", "ok"]


def test_five_wrong_pins_lock_with_backoff(store):
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ann = enrol(store, name="Ann", phone="+33612345678", pin=PIN, at=t0)
    record_sale(store, ann.member_id, _sale(3000), at=t0)
    for i in range(4):
        with pytest.raises(PinError, match="more wrong tr"):
            check_member_pin(store, ann.member_id, "9999", at=t0 + timedelta(seconds=i))
    with pytest.raises(PinError, match="now locked for 1 minute"):
        check_member_pin(store, ann.member_id, "9999", at=t0 + timedelta(seconds=5))
    # locked: even the right PIN is refused, without a try recorded
    tries = _pin_events(store)
    with pytest.raises(PinError, match="locked after 5 wrong tries: try again in 1 minute"):
        redeem_reward(store, ann.member_id, "free-latte", found_by="card", pin=PIN,
                      at=t0 + timedelta(seconds=30))
    assert _pin_events(store) == tries
    # a minute later one more wrong try locks it for two, then four...
    with pytest.raises(PinError, match="now locked for 2 minutes"):
        check_member_pin(store, ann.member_id, "9999", at=t0 + timedelta(minutes=1, seconds=6))
    with pytest.raises(PinError, match="try again in 2 minutes"):
        check_member_pin(store, ann.member_id, PIN, at=t0 + timedelta(minutes=2))
    # the QR code still spends while the PIN is locked
    by_qr = find_member(store, ann.qr_payload)
    assert redeem_reward(store, ann.member_id, "free-latte", found_by=by_qr.found_by,
                         at=t0 + timedelta(minutes=2)).points_spent == 150
    # once the lock is over the right PIN works and starts the count again
    later = t0 + timedelta(minutes=4)
    redeem_reward(store, ann.member_id, "free-latte", found_by="card", pin=PIN, at=later)
    state, _ = member_view(store, ann.member_id, later)
    assert state.pin_failures == 0 and state.balance == 50 + 300 + 5 - 300


def test_vouchers_need_the_same_proof(store):
    ann = enrol(store, name="Ann", phone="+33612345678", pin=PIN)
    sale = record_sale(store, ann.member_id, _sale(350, qty=10))
    code = sale.vouchers[0]["code"]
    with pytest.raises(PinError, match="typed card numbers can earn but not spend"):
        redeem_voucher(store, ann.member_id, code, found_by="card")
    assert redeem_voucher(store, ann.member_id, code, found_by="card", pin=PIN).reward_id == \
        "free-coffee"


def test_a_member_without_a_pin_spends_only_by_qr(store):
    bob = enrol(store, name="Bob", phone="+33698765432")
    record_sale(store, bob.member_id, _sale(3000))
    with pytest.raises(PinError, match="has no PIN yet: scan their QR code"):
        redeem_reward(store, bob.member_id, "free-latte", found_by="card", pin=PIN)
    assert redeem_reward(store, bob.member_id, "free-latte", found_by="qr").points_spent == 150


@pytest.mark.parametrize("policy, card_spends, pin_spends", [
    ("qr_or_pin", False, True), ("qr_only", False, False), ("any", True, True)])
def test_the_program_says_what_proves_possession(tmp_path, monkeypatch, policy, card_spends,
                                                  pin_spends):
    from pos_agent.identity import init_terminal
    from pos_agent.settings import load_settings
    from pos_agent.store import open_store
    from tests.pos_agent.conftest import write_config

    config = write_config(tmp_path)
    text = config.read_text()
    assert 'spend_proof = "qr_or_pin"' in text  # the example says the default
    config.write_text(text.replace('spend_proof = "qr_or_pin"', f'spend_proof = "{policy}"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    ann = enrol(store, name="Ann", phone="+33612345678", pin=PIN)
    record_sale(store, ann.member_id, _sale(5000))

    def spends(**proof: str) -> bool:
        try:
            redeem_reward(store, ann.member_id, "free-latte", **proof)
        except PinError:
            return False
        return True

    assert spends(found_by="card") is card_spends
    assert spends(found_by="card", pin=PIN) is pin_spends
    assert spends(found_by="phone") is False
    assert spends(found_by="qr") is True
    store.close()


def test_set_pin_needs_the_qr_or_the_current_pin(ann, capsys, monkeypatch):
    code, _, err = run(capsys, monkeypatch, "member", "set-pin", ann["card_number"],
                       "--pin-stdin", stdin="1111\n5930\n")
    assert code == 2 and "wrong PIN" in err
    code, out, err = run(capsys, monkeypatch, "member", "set-pin", ann["card_number"],
                         "--pin-stdin", "--json", stdin=f"{PIN}\n5930\n")
    assert code == 0 and out == {"member_id": ann["member_id"], "pin_set": True}, err
    code, out, err = run(capsys, monkeypatch, "member", "set-pin", ann["qr_payload"],
                         "--pin-stdin", "--json", stdin="6047\n")
    assert code == 0, err
    code, _, err = run(capsys, monkeypatch, "member", "set-pin", ann["qr_payload"],
                       "--pin-stdin", stdin="1234\n")
    assert code == 2 and "too easy to guess" in err
    code, _, err = run(capsys, monkeypatch, "redeem", "--member", ann["card_number"],
                       "--reward", "free-latte", "--pin-stdin", stdin="6047\n")
    assert code == 0, err
    assert [e["action"] for e in events("pin")] == ["set", "failed", "ok", "set", "set"]


def test_the_pin_hash_is_in_no_json_pos_prints(ann, capsys, monkeypatch):
    stored = events("pin")[0]["hash"]
    assert stored.startswith("$argon2id$")
    outputs = []
    for argv in (["member", ann["card_number"], "--json"],
                 ["member", ann["qr_payload"], "--json"], ["member", ann["card_number"]],
                 ["report", "day", "--json"], ["check", "--json"]):
        code, out, err = run(capsys, monkeypatch, *argv)
        outputs.append(json.dumps(out) + err)
    member = json.loads(outputs[0])
    assert member["pin_set"] is True and member["pin_failures"] == 0
    assert member["pin_locked_until"] is None
    for text in outputs:
        assert "argon2" not in text and stored not in text


def _sale(amount: int, qty: int = 1):
    from loyalty.sale import make_line, make_sale
    if qty > 1:
        return make_sale([make_line("LATTE", "coffee", qty, amount)])
    return make_sale(total=amount)


def _pin_events(store) -> list:
    return store.conn.execute("SELECT origin_seq FROM events WHERE kind = 'pin'").fetchall()
