"""Every `pos` command through `main([...])`, checked against the rows it leaves."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from loyalty.member_qr import key_id, public_key, verify_payload
from pos_agent.cli import main
from tests.pos_agent.conftest import counts, write_config

DB = "pos-terminal.db"


def run(capsys, *argv: str) -> tuple[int, dict | str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    try:
        return code, json.loads(out), err
    except ValueError:
        return code, out, err


def rows(sql: str, *params) -> list[tuple]:
    conn = sqlite3.connect(DB)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@pytest.fixture
def term(config, capsys) -> Path:
    assert run(capsys, "init", "--store", "S001", "--terminal", "T1")[0] == 0
    return config


@pytest.fixture
def ann(term, capsys) -> dict:
    code, out, err = run(capsys, "enrol", "--name", "Ann Lee", "--phone", "+33 6 12 34 56 78",
                         "--birthday", "1990-02-03", "--json")
    assert code == 0, err
    return out


def test_init_creates_the_identity_and_refuses_twice(config, capsys):
    code, out, _ = run(capsys, "init", "--store", "S001", "--terminal", "T1", "--json")
    assert code == 0 and out["origin"] == "S001-T1" and out["epoch"] == 1
    assert rows("SELECT origin, epoch, card_serial FROM identity") == [("S001-T1", 1, 0)]
    code, _, err = run(capsys, "init", "--store", "S001", "--terminal", "T1")
    assert code == 2 and "--new-epoch" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run(capsys, "init", "--new-epoch", "--json")
    assert out["epoch"] == 2 and rows("SELECT epoch FROM identity") == [(2,)]


def test_init_with_an_unreachable_hub_fails_clearly_and_writes_nothing(config, capsys,
                                                                       monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("t_x\n"))
    code, _, err = run(capsys, "init", "--store", "S001", "--terminal", "T1",
                       "--hub", "http://127.0.0.1:9", "--token-stdin")
    assert code == 2 and "cannot reach the hub" in err
    assert not Path(DB).exists()


def test_commands_before_init_say_to_run_init(config, capsys):
    code, _, err = run(capsys, "sale", "--amount", "3")
    assert code == 2 and "pos init" in err


def test_enrol_prints_ids_and_writes_member_card_events_receipt(ann, term):
    own = public_key(bytes(rows("SELECT signing_key FROM identity")[0][0]))
    assert verify_payload(ann["qr_payload"], {key_id(own): own}.get) == ann["card_number"]
    assert rows("SELECT name, phone, birthday, enrolled_here FROM members") == \
        [("Ann Lee", "+33612345678", "1990-02-03", 1)]
    assert rows("SELECT card_number, source FROM cards") == [(ann["card_number"], "issued")]
    assert rows("SELECT kind, points, origin_seq FROM events ORDER BY origin_seq") == \
        [("enrol", 0, 1), ("bonus", 50, 2)]
    assert rows("SELECT receipt_no, kind FROM receipts") == [("S001-T1-000001", "enrolment")]
    assert rows("SELECT status FROM print_jobs") == [("printed",)]
    assert ann["points"] == 50 and ann["printed"] is True
    profile = json.loads(rows("SELECT data FROM events WHERE kind = 'enrol'")[0][0])["profile"]
    assert profile["phone"] == "+33612345678"


def test_sale_with_member_records_earn_bonuses_and_receipt(ann, capsys):
    code, out, err = run(capsys, "sale", "--member", ann["card_number"], "--amount", "12.50",
                         "--line", "LATTE,coffee,2,3.50", "--json")
    assert code == 0, err
    assert out["receipt_no"] == "S001-T1-000002"
    assert out["purchase_points"] == 125 and out["stamps"] == {"coffee": 2}
    assert out["points_earned"] == 125 + 5 and out["tier"] == "Green"
    assert out["balance"] == 50 + 130
    assert rows("SELECT kind, points, amount FROM events WHERE ref = ? ORDER BY origin_seq",
                out["receipt_no"]) == [("earn", 125, 1250), ("bonus", 5, 0)]
    assert rows("SELECT total, points_earned, balance_after FROM receipts WHERE receipt_no = ?",
                out["receipt_no"]) == [(1250, 130, 180)]
    assert rows("SELECT balance FROM member_balances") == [(180,)]


def test_sale_without_member_is_a_receipt_without_events(term, capsys):
    code, out, _ = run(capsys, "sale", "--amount", "3", "--json")
    assert code == 0 and out["member_id"] is None and out["points_earned"] == 0
    assert rows("SELECT COUNT(*) FROM events") == [(0,)]
    assert rows("SELECT kind, member_id, total FROM receipts") == [("sale", None, 300)]


@pytest.mark.parametrize("argv, says", [
    (["sale", "--member", "6000000000000000", "--amount", "5"], "not valid"),
    (["sale", "--member", "+44 20 7946 0000", "--amount", "5"], "no member with phone"),
    (["sale", "--member", "{card}", "--amount", "-5"], "not an amount"),
    (["sale", "--member", "{card}", "--amount", "99999999"], "larger than any single sale"),
    (["sale", "--member", "{card}", "--amount", "0"], "more than 0"),
    (["sale", "--member", "{card}", "--line", "LATTE,coffee,two,3.50"], "whole number"),
    (["sale", "--member", "{card}", "--line", "LATTE,coffee,2"], "SKU,CATEGORY,QTY"),
    (["sale", "--member", "{card}", "--amount", "1", "--line", "LATTE,coffee,2,3.50"],
     "more than the total"),
    (["redeem", "--member", "{qr}", "--reward", "nope"], "no reward 'nope'"),
    (["redeem", "--member", "{qr}", "--reward", "gift-10"], "needs 900"),
    (["redeem", "--member", "+33612345678", "--reward", "free-latte"],
     "phone number can earn but not spend"),
    (["redeem", "--member", "{card}", "--reward", "free-latte"],
     "typed card numbers can earn but not spend"),
    (["redeem", "--member", "{qr}", "--reward", "pay", "--points", "5"], "at least 100"),
    (["void", "--receipt", "S001-T1-999999"], "no receipt"),
    (["refund", "--receipt", "S001-T1-000001", "--amount", "1"], "enrolment receipt"),
    (["checkin", "--member", "LOY2:6018882460000019:AAAAAAAA:" + "A" * 103], "does not know"),
    (["checkin", "--member", "LOY1:6018882460000019:AAAAAAAAAAAAAAAA"], "no longer accepted"),
    (["card", "link", "--member", "{card}", "--card", "1234"], "not valid"),
    (["enrol", "--name", "Bo", "--phone", "12"], "not a phone number"),
    (["enrol", "--name", "Bo", "--phone", "0611223344", "--birthday", "31/12/1990"],
     "YYYY-MM-DD"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(ann, capsys, argv, says):
    before = counts(Path(DB))
    argv = [a.replace("{card}", ann["card_number"]).replace("{qr}", ann["qr_payload"])
            for a in argv]
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert says in err and len(err.strip().splitlines()) == 1, err
    assert counts(Path(DB)) == before


def test_void_reverses_everything_and_a_second_void_is_refused(ann, capsys):
    _, sale, _ = run(capsys, "sale", "--member", ann["card_number"], "--amount", "20", "--json")
    code, out, _ = run(capsys, "void", "--receipt", sale["receipt_no"], "--json")
    assert code == 0 and out["points_reversed"] == sale["points_earned"]
    assert out["balance"] == 50
    assert rows("SELECT voided_by FROM receipts WHERE receipt_no = ?", sale["receipt_no"]) == \
        [(out["receipt_no"],)]
    assert rows("SELECT points, amount FROM events WHERE kind = 'reverse'") == \
        [(-sale["points_earned"], -2000)]
    before = counts(Path(DB))
    code, _, err = run(capsys, "void", "--receipt", sale["receipt_no"])
    assert code == 2 and "already voided" in err and counts(Path(DB)) == before


def test_refund_takes_back_points_in_proportion_and_not_more_than_left(ann, capsys):
    _, sale, _ = run(capsys, "sale", "--member", ann["card_number"], "--amount", "20", "--json")
    code, out, _ = run(capsys, "refund", "--receipt", sale["receipt_no"], "--amount", "5",
                       "--json")
    assert code == 0 and out["points_reversed"] == 50 and out["amount"] == 500
    assert rows("SELECT refunded FROM receipts WHERE receipt_no = ?", sale["receipt_no"]) == \
        [(500,)]
    before = counts(Path(DB))
    code, _, err = run(capsys, "refund", "--receipt", sale["receipt_no"], "--amount", "15.01")
    assert code == 2 and "at most 15.00" in err and counts(Path(DB)) == before


def test_redeem_offline_for_a_local_member_is_marked_approved_offline(ann, capsys):
    run(capsys, "sale", "--member", ann["card_number"], "--amount", "20", "--json")
    code, out, err = run(capsys, "redeem", "--member", ann["qr_payload"], "--reward",
                         "free-latte", "--json")
    assert code == 0, err
    assert out["approved_offline"] is True and out["points_spent"] == 150
    assert rows("SELECT points, approved_offline FROM events WHERE kind = 'redeem'") == \
        [(-150, 1)]
    assert rows("SELECT approved_offline FROM receipts WHERE kind = 'redemption'") == [(1,)]


def test_offline_daily_limit_refuses_and_writes_nothing(ann, capsys):
    run(capsys, "sale", "--member", ann["card_number"], "--amount", "200", "--json")
    for _ in range(3):  # 3 x 150 = 450 of the 500 allowed offline per day
        assert run(capsys, "redeem", "--member", ann["qr_payload"], "--reward",
                   "free-latte")[0] == 0
    before = counts(Path(DB))
    code, _, err = run(capsys, "redeem", "--member", ann["qr_payload"], "--reward",
                       "free-latte")
    assert code == 2 and "50 more" in err and counts(Path(DB)) == before


def test_checkin_gives_the_visit_bonus_once_a_day(ann, capsys):
    code, out, _ = run(capsys, "checkin", "--member", "+33612345678", "--json")
    assert code == 0 and out["bonuses"] == [["Store visit", 5]]
    before = counts(Path(DB))
    code, out, _ = run(capsys, "checkin", "--member", "+33612345678", "--json")
    assert code == 0 and out["receipt_no"] is None
    assert counts(Path(DB))["events"] == before["events"]


def test_card_link_registers_a_physical_card(ann, capsys):
    from loyalty.ids import make_card_number

    card = make_card_number(issuer=424242, serial=7)  # a card pre-printed by HQ
    code, out, _ = run(capsys, "card", "link", "--member", ann["card_number"], "--card", card,
                       "--json")
    assert code == 0 and out["card_number"] == card
    assert rows("SELECT source FROM cards WHERE card_number = ?", card) == [("linked",)]
    assert json.loads(rows("SELECT data FROM events WHERE kind = 'link'")[0][0]) == \
        {"card_number": card}
    code, out, _ = run(capsys, "member", card, "--json")
    assert out["member_id"] == ann["member_id"]
    code, _, err = run(capsys, "card", "link", "--member", ann["card_number"], "--card", card)
    assert code == 2 and "already registered" in err


def test_member_shows_balance_progress_and_history(ann, capsys):
    run(capsys, "sale", "--member", ann["card_number"], "--line", "LATTE,coffee,3,3.50")
    code, out, _ = run(capsys, "member", ann["qr_payload"], "--json")
    assert code == 0 and out["found_by"] == "qr"
    assert out["balance"] == 50 + 105 + 5 and out["tier"] == "Green"
    assert out["next_tier"] == "Silver" and out["spend_to_next_tier"] == 30000 - 1050
    assert out["stamps"][0]["have"] == 3 and len(out["history"]) == 2
    code, text, _ = run(capsys, "member", "+33 6 12 34 56 78")
    assert "balance:  160 Stars" in text and "Coffee card 3/10" in text


def test_report_day_counts_this_terminal(ann, capsys):
    run(capsys, "sale", "--member", ann["card_number"], "--amount", "20")
    _, sale, _ = run(capsys, "sale", "--amount", "5", "--json")
    run(capsys, "void", "--receipt", sale["receipt_no"])
    code, out, _ = run(capsys, "report", "day", "--json")
    assert code == 0
    assert out["sales"] == {"count": 2, "total": 2500, "with_member": 1}
    assert out["voids"] == {"count": 1, "total": -500} and out["net_total"] == 2000
    assert out["enrolments"] == 1 and out["points"]["issued"] == 50 + 200 + 5
    code, out, _ = run(capsys, "report", "day", "--date", "2001-01-01", "--json")
    assert out["sales"]["count"] == 0


def test_a_printer_failure_keeps_the_sale_and_the_job_for_retry(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path, printer='kind = "network"\nhost = "127.0.0.1"')
    # Port 9 (discard) is closed here: the connection is refused at once.
    config.write_text(config.read_text().replace("port = 9100", "port = 9"))
    monkeypatch.setenv("POS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    code, out, err = run(capsys, "sale", "--amount", "3", "--json")
    assert code == 0 and out["printed"] is False
    assert "not printed" in err and "pos print retry" in err
    assert rows("SELECT status, attempts FROM print_jobs") == [("failed", 1)]
    assert rows("SELECT COUNT(*) FROM receipts") == [(1,)]
    code, out, _ = run(capsys, "print", "queue", "--json")
    assert [j["status"] for j in out["jobs"]] == ["failed"]
    code, out, _ = run(capsys, "print", "retry", "--json")
    assert code == 1 and rows("SELECT attempts FROM print_jobs") == [(2,)]


def test_print_test_reprint_and_queue(ann, capsys):
    code, out, _ = run(capsys, "print", "test", "--json")
    assert code == 0 and out["printed"] is True
    first = rows("SELECT payload FROM print_jobs WHERE receipt_no = 'S001-T1-000001'")[0][0]
    code, out, _ = run(capsys, "print", "reprint", "S001-T1-000001", "--json")
    assert code == 0
    again = rows("SELECT payload FROM print_jobs WHERE id = ?", out["job_id"])[0][0]
    # the first printing's bytes (all but the cut), marked COPY top and bottom (issue 17)
    assert first[:-5] in again and again.count(b"*** COPY ***") == 2
    assert b"S001-T1-000001" in first
    code, out, _ = run(capsys, "print", "queue", "--all", "--json")
    assert [j["status"] for j in out["jobs"]] == ["printed"] * 3
    code, text, _ = run(capsys, "print", "queue", "--preview", "1")
    assert "Welcome, Ann Lee!" in text
    assert Path("receipts.escpos").stat().st_size > len(first)


def test_sale_no_print_leaves_the_receipt_to_print(ann, capsys):
    printed_before = Path("receipts.escpos").read_bytes()
    code, out, _ = run(capsys, "sale", "--amount", "3", "--no-print", "--json")
    receipt_no = out["receipt_no"]
    # Its job is queued (written with the sale) and nothing was sent...
    assert rows("SELECT status FROM print_jobs WHERE receipt_no = ?", receipt_no) == \
        [("queued",)]
    assert Path("receipts.escpos").read_bytes() == printed_before
    # ...but the queue lists it, and a retry prints it, once.
    code, out, _ = run(capsys, "print", "queue", "--json")
    assert [(j["receipt_no"], j["status"]) for j in out["jobs"]] == [(receipt_no, "queued")]
    code, out, _ = run(capsys, "print", "retry", "--json")
    assert code == 0 and out["printed"] == 1
    assert rows("SELECT status FROM print_jobs WHERE receipt_no = ?", receipt_no) == \
        [("printed",)]
    sent = Path("receipts.escpos").read_bytes()[len(printed_before):]
    assert receipt_no.encode() in sent and b"3.00" in sent
    code, out, _ = run(capsys, "print", "retry", "--json")
    assert out["printed"] == 0


def test_check_verifies_the_ledger(ann, capsys):
    code, out, _ = run(capsys, "check", "--json")
    assert code == 0 and out["ok"] and out["unsynced_events"] == 2


@pytest.mark.parametrize("argv", [
    [], ["init"], ["enrol"], ["sale"], ["redeem"], ["void"], ["refund"], ["checkin"],
    ["member"], ["card", "link"], ["report", "day"], ["print", "test"], ["print", "reprint"],
    ["print", "queue"], ["print", "retry"], ["check"],
])
def test_every_command_has_help(argv, capsys):
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: pos" in out and ("--json" in out or not argv or argv in (["card"],))


def test_config_option_and_a_missing_config(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("POS_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "sale", "--amount", "3")
    assert code == 2 and "pos.toml not found" in err
    other = tmp_path / "elsewhere"
    other.mkdir()
    config = write_config(other)
    code, out, _ = run(capsys, "init", "--store", "S001", "--terminal", "T1", "--config",
                       str(config), "--json")
    assert code == 0 and out["database"] == str(other / DB)


def test_the_pos_module_runs_in_a_subprocess(ann, term):
    proc = subprocess.run(
        [sys.executable, "-m", "pos_agent", "sale", "--member", ann["card_number"],
         "--amount", "4.20", "--json", "--config", str(term)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert rows("SELECT total, member_id FROM receipts WHERE receipt_no = ?",
                out["receipt_no"]) == [(420, ann["member_id"])]
    proc = subprocess.run([sys.executable, "-m", "pos_agent", "void", "--receipt", "NOPE",
                           "--config", str(term)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1


def test_a_completed_stamp_card_issues_a_voucher_that_can_be_used_once(ann, capsys):
    code, sale, _ = run(capsys, "sale", "--member", ann["card_number"], "--line",
                        "LATTE,coffee,10,3.50", "--json")
    assert code == 0 and len(sale["vouchers"]) == 1
    voucher = sale["vouchers"][0]
    code, out, err = run(capsys, "redeem", "--member", ann["qr_payload"], "--voucher", voucher,
                         "--json")
    assert code == 0, err
    assert out["reward_id"] == "free-coffee" and out["points_spent"] == 0
    assert json.loads(rows("SELECT data FROM events WHERE kind = 'redeem'")[0][0]) == \
        {"voucher_used": voucher, "voucher_reward_id": "free-coffee"}
    before = counts(Path(DB))
    code, _, err = run(capsys, "redeem", "--member", ann["qr_payload"], "--voucher", voucher)
    assert code == 2 and "already used" in err and counts(Path(DB)) == before
