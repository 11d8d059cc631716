"""The terminal's edges (issue 16, part 6): amounts and numbers in ASCII digits only,
control characters refused in what is typed and escaped in what is shown, and a full
disk, a read-only database or a damaged row answered with one sentence and exit 3, never
a traceback; `pos check` lists the rows that do not decode."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from pos_agent.cli import EXIT_FAILED, EXIT_REFUSED
from tests.pos_agent.conftest import counts
from tests.pos_agent.test_cli import run

ARABIC_12_50 = "\u0661\u0662.\u0665\u0660"  # ١٢.٥٠


@pytest.fixture
def till(config: Path, capsys) -> Path:
    code, _, err = run(capsys, "init", "--store", "S001", "--terminal", "T1")
    assert code == 0, err
    return config.parent / "pos-terminal.db"


def _enrol(capsys, name: str = "Ann Lee") -> dict:
    code, ann, err = run(capsys, "enrol", "--name", name, "--phone", "+33612345678",
                         "--json", "--no-print")
    assert code == 0, err
    return ann


# -- digits -----------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ("sale", "--amount", ARABIC_12_50),
    ("sale", "--amount", "\uff11\uff12"),                       # full-width １２
    ("sale", "--line", "LATTE,coffee,\u0662,3.50"),             # quantity ٢
    ("sale", "--line", "LATTE,coffee,2,\u0663.50"),             # price ٣.50
    ("sale", "--line", "LATTE,coffee,\u00b2,3.50"),             # superscript ² (isdigit)
])
def test_an_amount_or_quantity_in_other_digits_is_refused_and_nothing_is_written(
        till, capsys, argv):
    before = counts(till)
    code, out, err = run(capsys, *argv, "--no-print")
    assert code == EXIT_REFUSED, (out, err)
    assert err.startswith("pos: ") and err.count("\n") == 1
    assert "Traceback" not in err
    assert counts(till) == before


def test_the_arabic_indic_sale_of_the_issue_is_refused_in_words(till, capsys):
    code, _, err = run(capsys, "sale", "--amount", ARABIC_12_50, "--no-print")
    assert code == EXIT_REFUSED
    assert err == (f"pos: '{ARABIC_12_50}' is not an amount: type digits with at most 2 "
                   "decimals, e.g. 12.50\n")
    code, sale, _ = run(capsys, "sale", "--amount", "12.50", "--json", "--no-print")
    assert code == 0 and sale["total"] == 1250


@pytest.mark.parametrize("option", [("--history", "\u0661"), ("--history", "\u0967")])
def test_integer_options_take_ascii_digits_only(till, capsys, option):
    ann = _enrol(capsys)
    code, _, err = run(capsys, "member", ann["card_number"], *option)
    assert code == 2  # argparse's usage error
    assert f"invalid integer value: '{option[1]}'" in err
    code, _, _ = run(capsys, "member", ann["card_number"], "--history", "1", "--json")
    assert code == 0


def test_a_card_number_or_phone_in_other_digits_finds_nobody_and_enrols_nobody(till, capsys):
    before = counts(till)
    arabic_phone = "+\u0663\u0663\u0666\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"
    code, _, err = run(capsys, "enrol", "--name", "Ann", "--phone", arabic_phone, "--no-print")
    assert code == EXIT_REFUSED and "type the digits 0-9" in err
    ann = _enrol(capsys)
    arabic_card = "".join(chr(0x0660 + int(d)) for d in ann["card_number"])
    code, _, err = run(capsys, "member", arabic_card)
    assert code == EXIT_REFUSED and "type the digits 0-9" in err
    code, _, err = run(capsys, "enrol", "--name", "Bo", "--phone", "+33699999999", "--card",
                       arabic_card, "--no-print")
    assert code == EXIT_REFUSED and "is not valid" in err
    assert counts(till)["members"] == before["members"] + 1


# -- control characters -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Ann\x1b[2J", "Ann\u202eeeL", "Ann\x07", "Ann\x85Lee",
                                  "Ann\u2066Lee"])
def test_a_name_with_a_control_character_is_refused(till, capsys, name):
    before = counts(till)
    code, _, err = run(capsys, "enrol", "--name", name, "--phone", "+33612345678",
                       "--no-print")
    assert code == EXIT_REFUSED
    assert "the name holds a control character (U+" in err
    assert "\x1b" not in err and "\u202e" not in err  # the message quotes nothing raw
    assert counts(till) == before


def test_an_email_or_category_with_a_control_character_is_refused(till, capsys):
    before = counts(till)
    code, _, err = run(capsys, "enrol", "--name", "Ann", "--phone", "+33612345678", "--email",
                       "ann\x1b@example.com", "--no-print")
    assert code == EXIT_REFUSED and "the email address holds a control character" in err
    code, _, err = run(capsys, "sale", "--line", "LATTE,cof\u202efee,1,3.50", "--no-print")
    assert code == EXIT_REFUSED and "the category of LATTE holds a control character" in err
    assert counts(till) == before


def test_names_stored_with_control_characters_are_shown_escaped(till, capsys):
    # as if pulled from an older hub: stored, then shown, never obeyed by the terminal
    ann = _enrol(capsys)
    conn = sqlite3.connect(till)
    conn.execute("UPDATE members SET name = ? WHERE member_id = ?",
                 ("Ann\x1b[2J\u202eeeL", ann["member_id"]))
    conn.commit()
    conn.close()
    code, out, _ = run(capsys, "member", ann["card_number"])
    assert code == 0
    assert out.splitlines()[0].startswith("Ann\\x1b[2J\\u202eeeL  (")
    assert "\x1b" not in out and "\u202e" not in out
    from pos_agent.cli import main

    assert main(["member", ann["card_number"], "--json"]) == 0
    raw = capsys.readouterr().out
    assert "\x1b" not in raw and "\u202e" not in raw  # JSON escapes: \u001b, \u202e
    assert json.loads(raw)["name"] == "Ann\x1b[2J\u202eeeL"  # the stored value


def test_the_receipt_preview_and_escpos_bytes_hold_no_control_character(till, capsys):
    ann = _enrol(capsys)
    conn = sqlite3.connect(till)
    conn.execute("UPDATE members SET name = ? WHERE member_id = ?",
                 ("Ann\x1b@\x1d(k\u202eLee\u2028X", ann["member_id"]))
    conn.commit()
    conn.close()
    code, sale, err = run(capsys, "sale", "--member", ann["card_number"], "--amount", "5",
                          "--json", "--no-print")
    assert code == 0, err
    from pos_agent.printing import build_receipt
    from pos_agent.settings import load_settings
    from pos_agent.store import open_store
    from printers import render_escpos_bytes, render_text

    store = open_store(load_settings(str(config_of(till))))
    try:
        receipt = build_receipt(store, sale["receipt_no"])
    finally:
        store.close()
    text = render_text(receipt, 80)
    assert "Member: Ann @ (kLee X" in text  # controls become spaces, overrides go
    assert not any(ch in text for ch in "\x1b\x1d\u202e\u2028")
    data = render_escpos_bytes(receipt, 80)
    assert b"Member: Ann @ (kLee X" in data
    assert b"\x1b@\x1d(k" not in data  # the name cannot reset the printer or start a QR


def config_of(db: Path) -> Path:
    return db.parent / "pos.toml"


# -- the machine lets the command down --------------------------------------------------------
def test_a_full_disk_is_one_sentence_exit_3_and_the_sale_is_not_saved(till, capsys,
                                                                         monkeypatch):
    import pos_agent.ledger

    def full(*_a, **_k):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(pos_agent.ledger.Recorder, "add_receipt", full)
    before = counts(till)
    code, out, err = run(capsys, "sale", "--amount", "12.50", "--no-print")
    assert code == EXIT_FAILED and out == ""
    assert err == ("pos: the disk holding the terminal database is full, so the last change "
                   "was not saved: free some space, then run the command again\n")
    assert counts(till) == before  # the sale's transaction rolled back whole


def test_a_database_that_cannot_grow_fails_the_same_way(till, capsys, monkeypatch):
    # SQLite's own SQLITE_FULL: the file may not grow past the pages it has now
    import pos_agent.db

    configure = pos_agent.db._configure

    def capped(db):
        configure(db)
        pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
        db.conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(pos_agent.db, "_configure", capped)
    name = "N" * 80
    for _ in range(200):
        code, _, err = run(capsys, "enrol", "--name", name, "--phone", "+33612345678",
                           "--email", "x" * 60 + "@example.com", "--no-print")
        if code != 0:
            break
    assert code == EXIT_FAILED, err
    assert err.startswith("pos: the disk holding the terminal database is full")
    assert "Traceback" not in err


def test_a_read_only_database_is_one_sentence_and_exit_3(till, capsys, monkeypatch):
    import pos_agent.db

    connect = sqlite3.connect

    def read_only(path, *args, **kwargs):
        return connect(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(pos_agent.db.sqlite3, "connect", read_only)
    before = counts(till)
    code, out, err = run(capsys, "sale", "--amount", "3", "--no-print")
    assert code == EXIT_FAILED and out == ""
    assert err == ("pos: the terminal database is read-only (check the permissions of the "
                   "file and its folder, and that the disk is mounted read-write): nothing "
                   "was saved\n")
    monkeypatch.undo()
    assert counts(till) == before


def _damage(till: Path, sql: str, *params) -> None:
    conn = sqlite3.connect(till)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def test_an_event_that_does_not_decode_is_named_not_a_traceback(till, capsys):
    ann = _enrol(capsys)
    _damage(till, "UPDATE events SET data = '{not json' WHERE member_id = ? AND kind = 'bonus'",
            ann["member_id"])
    code, out, err = run(capsys, "member", ann["card_number"])
    assert code == EXIT_FAILED and out == ""
    assert err.startswith("pos: event ") and err.endswith(
        " in the terminal database does not decode (invalid JSON): run `pos check`\n")
    code, report, _ = run(capsys, "check", "--json")
    assert code == 1 and report["ok"] is False
    problems = report["problems"]
    assert any("does not decode (invalid JSON)" in p and p.startswith("S001-T1 epoch 1 seq ")
               for p in problems), problems
    assert any("prev_hash chain not checked" in p for p in problems)
    assert any(p.startswith(f"member {ann['member_id']}: balance not checked") for p in problems)


def test_pos_check_lists_undecodable_snapshots_receipts_and_data(till, capsys):
    ann = _enrol(capsys)
    bo = _enrol(capsys, "Bo")
    _damage(till, "INSERT INTO hub_snapshots (member_id, state, hub_seq, received_at) "
            "VALUES (?, '[1, 2', 1, '2026-01-01')", bo["member_id"])
    _damage(till, "UPDATE receipts SET details = 'nope' WHERE receipt_no = ?", ann["receipt_no"])
    _damage(till, "UPDATE events SET data = '[]' WHERE member_id = ? AND kind = 'enrol'",
            ann["member_id"])
    code, report, err = run(capsys, "check", "--json")
    assert code == 1, err
    problems = report["problems"]
    assert (f"the hub snapshot of member {bo['member_id']} does not decode (invalid JSON): "
            "`pos sync` fetches it again once the hub changes it; tell HQ") in problems
    assert (f"receipt {ann['receipt_no']}: its details do not decode (invalid JSON); it "
            "cannot be printed or reversed") in problems
    assert any("(its data or stamps are not a JSON object)" in p for p in problems), problems
    code, text, _ = run(capsys, "check")
    assert code == 1 and "Traceback" not in text
