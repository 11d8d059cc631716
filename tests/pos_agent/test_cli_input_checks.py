"""Input a manager or cashier gets wrong: each is refused with one line that says what to
do (exit 2), and nothing is written."""

from __future__ import annotations

from tests.pos_agent.conftest import counts, write_config
from tests.pos_agent.test_cli import run


def setup(tmp_path, monkeypatch, **config_edits: str):
    config = write_config(tmp_path)
    text = config.read_text()
    for old, new in config_edits.items():
        text = text.replace(old, new)
    config.write_text(text)
    monkeypatch.setenv("POS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    return config


def test_init_with_a_bad_terminal_id_says_the_format_and_creates_nothing(
        tmp_path, monkeypatch, capsys):
    setup(tmp_path, monkeypatch)
    code, out, err = run(capsys, "init", "--store", "S-001", "--terminal", "T1")
    assert code == 2 and out == ""
    assert err == ("pos: --store 'S-001' --terminal 'T1': use 1 to 12 letters or digits for "
                   "the store and 1 to 8 for the terminal, e.g. --store S001 --terminal T1\n")
    assert not (tmp_path / "pos-terminal.db").exists()


def test_a_sale_over_the_store_limit_is_refused(tmp_path, monkeypatch, capsys):
    setup(tmp_path, monkeypatch, **{'max_sale = "10000"': 'max_sale = "500"'})
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    before = counts(tmp_path / "pos-terminal.db")
    code, _, err = run(capsys, "sale", "--amount", "500.01")
    assert code == 2
    assert err == ("pos: 500.01 EUR is over this store's limit for one sale (500.00 EUR, "
                   "[terminal] max_sale): check the amount\n")
    code, _, err = run(capsys, "sale", "--line", "CATERING,catering,2,250.50")
    assert code == 2 and "501.00 EUR is over this store's limit" in err
    assert counts(tmp_path / "pos-terminal.db") == before
    code, sale, _ = run(capsys, "sale", "--amount", "500", "--json")
    assert code == 0 and sale["total"] == 50000


def test_an_unknown_time_zone_names_the_key(tmp_path, monkeypatch, capsys):
    config = setup(tmp_path, monkeypatch,
                   **{'# timezone = "Europe/Paris"': 'timezone = "Mars/Base"'})
    code, _, err = run(capsys, "init", "--store", "S001", "--terminal", "T1")
    assert code == 2
    assert err == (f"pos: {config}: terminal.timezone: unknown time zone 'Mars/Base': use an "
                   "IANA name such as Europe/Paris\n")


def test_paper_width_from_the_environment(tmp_path, monkeypatch, capsys):
    setup(tmp_path, monkeypatch)
    monkeypatch.setenv("POS_PRINTER__PAPER_MM", "58")
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    code, out, _ = run(capsys, "print", "test", "--json")
    assert code == 0
    import sqlite3

    preview = sqlite3.connect(tmp_path / "pos-terminal.db").execute(
        "SELECT text_preview FROM print_jobs").fetchone()[0]
    assert "32 characters per line" in preview


def test_voiding_a_card_slip_says_what_it_is(tmp_path, monkeypatch, capsys):
    setup(tmp_path, monkeypatch)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    _, ann, _ = run(capsys, "enrol", "--name", "Ann", "--phone", "+33612345678", "--json")
    code, _, err = run(capsys, "void", "--receipt", ann["receipt_no"])
    assert code == 2
    assert f"receipt {ann['receipt_no']} is an enrolment receipt: it cannot be voided" in err


def test_every_command_and_option_of_pos_says_what_it_is():
    from pos_agent.cli import build_parser
    from tests.cli_help import undocumented

    assert undocumented(build_parser(), "pos") == ([], [])


def test_rewards_lists_the_catalog_with_costs_and_stock(tmp_path, monkeypatch, capsys):
    setup(tmp_path, monkeypatch)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    code, out, _ = run(capsys, "rewards", "--json")
    assert code == 0
    by_id = {r["id"]: r for r in out["rewards"]}
    assert by_id["free-latte"]["cost"] == 150 and by_id["free-latte"]["kind"] == "free_product"
    assert by_id["gold-mug"]["tiers"] == ["Gold"] and by_id["gold-mug"]["stock_left"] == 500
    assert by_id["pay"]["min_points"] == 100 and by_id["pay"]["max_points"] == 2000
    code, text, _ = run(capsys, "rewards")
    assert code == 0
    lines = text.splitlines()
    assert any(line.split()[:5] == ["free-latte", "Free", "latte", "150", "Stars"]
               for line in lines)
    assert any(line.strip().startswith("gold-mug") and "(tiers Gold; 2026-01-01 to 2027-12-31;"
               " 500 left)" in line for line in lines)


def test_init_card_issuer_offline(tmp_path, monkeypatch, capsys):
    setup(tmp_path, monkeypatch)
    code, _, err = run(capsys, "init", "--store", "S001", "--terminal", "T1",
                       "--card-issuer", "900000")
    assert code == 2
    assert err == "pos: --card-issuer 900000: use a number from 1 to 899999, one per terminal\n"
    assert not (tmp_path / "pos-terminal.db").exists()
    code, out, err = run(capsys, "init", "--store", "S001", "--terminal", "T1",
                         "--card-issuer", "17", "--json")
    assert code == 0 and out["card_issuer"] == 17 and err == ""
    _, ann, _ = run(capsys, "enrol", "--name", "Ann", "--phone", "+33612345678", "--json")
    assert ann["card_number"].startswith("60000017")


def test_init_without_an_issuer_warns_and_uses_the_hashed_range(tmp_path, monkeypatch, capsys):
    from loyalty.ids import UNREGISTERED_ISSUERS, unregistered_issuer

    setup(tmp_path, monkeypatch)
    code, out, err = run(capsys, "init", "--store", "S001", "--terminal", "T1", "--json")
    assert code == 0 and out["card_issuer"] == unregistered_issuer("S001-T1")
    assert out["card_issuer"] in UNREGISTERED_ISSUERS
    assert "pos: warning: no card issuer number" in err and "--card-issuer N" in err


def test_member_history_is_in_the_stores_local_time(tmp_path, monkeypatch, capsys):
    import sqlite3
    from datetime import datetime
    from zoneinfo import ZoneInfo

    setup(tmp_path, monkeypatch)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    _, ann, _ = run(capsys, "enrol", "--name", "Ann", "--phone", "+33612345678", "--json")
    _, sale, _ = run(capsys, "sale", "--member", ann["card_number"], "--amount", "4.00",
                     "--json")
    created = sqlite3.connect(tmp_path / "pos-terminal.db").execute(
        "SELECT created_at FROM receipts WHERE receipt_no = ?", (sale["receipt_no"],)
    ).fetchone()[0]
    local = datetime.fromisoformat(created).astimezone(ZoneInfo("Europe/Paris"))
    code, text, _ = run(capsys, "member", ann["card_number"])
    assert code == 0
    line = next(x for x in text.splitlines() if sale["receipt_no"] in x)
    assert line.split()[:2] == [local.strftime("%Y-%m-%d"), local.strftime("%H:%M")]


def test_previewing_a_job_that_does_not_exist_says_so(tmp_path, monkeypatch, capsys):
    setup(tmp_path, monkeypatch)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    code, _, err = run(capsys, "print", "queue", "--preview", "7")
    assert code == 2
    assert err == "pos: there is no print job 7: `pos print queue --all` lists them\n"
