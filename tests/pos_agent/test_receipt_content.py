"""Receipts as the terminal really prints them (`pos sale` -> print job bytes): the member
QR on the paper is the signed payload of the member's card, whether printed with the
printer's own QR command or as an image (decoded with zxing-cpp), and finds the member; a
sale that completes a stamp card prints the voucher's code."""

from __future__ import annotations

import sqlite3

import pytest
import zxingcpp

from loyalty.member_qr import key_id, public_key, verify_payload
from pos_agent.keys import signing_key
from pos_agent.members import find_member
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.pos_agent.conftest import write_config
from tests.pos_agent.test_cli import run
from tests.printers.escpos_stream import (
    printed_lines,
    qr_store_data,
    raster_images,
    tokenize,
    with_quiet_zone,
)


def job_bytes(receipt_no: str) -> bytes:
    conn = sqlite3.connect("pos-terminal.db")
    try:
        return conn.execute("SELECT payload FROM print_jobs WHERE receipt_no = ?",
                            (receipt_no,)).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("native", [True, False])
def test_printed_qr_is_the_signed_card_payload_and_finds_the_member(
        tmp_path, monkeypatch, capsys, native):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        "# qr_native = true", f"qr_native = {'true' if native else 'false'}"))
    monkeypatch.setenv("POS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    _, ann, _ = run(capsys, "enrol", "--name", "Ann Lee", "--phone", "+33612345678", "--json")
    _, sale, _ = run(capsys, "sale", "--member", ann["card_number"], "--amount", "4.20",
                     "--json")
    data = job_bytes(sale["receipt_no"])
    if native:
        payloads = [raw.decode() for raw in qr_store_data(tokenize(data))]
        assert raster_images(data) == []
    else:
        assert qr_store_data(tokenize(data)) == []
        payloads = [r.text for image in raster_images(data)
                    for r in zxingcpp.read_barcodes(with_quiet_zone(image))]
    assert payloads == [ann["qr_payload"]]
    settings = load_settings(str(config))
    store = open_store(settings)
    own = public_key(signing_key(store.conn))  # the till's own key signed the printed code
    assert verify_payload(payloads[0], {key_id(own): own}.get) == ann["card_number"]
    try:
        found = find_member(store, payloads[0])
    finally:
        store.close()
    assert (found.member_id, found.found_by) == (ann["member_id"], "qr")
    # the card number is printed under the code, grouped by four
    card = ann["card_number"]
    grouped = " ".join(card[i:i + 4] for i in range(0, 16, 4))
    assert any(line.strip() == grouped for line in printed_lines(data))


def test_a_completed_stamp_card_prints_its_voucher_code(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path)
    monkeypatch.setenv("POS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    _, ann, _ = run(capsys, "enrol", "--name", "Ann Lee", "--phone", "+33612345678", "--json")
    _, sale, _ = run(capsys, "sale", "--member", ann["card_number"],
                     "--line", "FILTER,coffee,10,2.20", "--json")
    [code] = sale["vouchers"]
    lines = [line.strip() for line in printed_lines(job_bytes(sale["receipt_no"]))]
    at = next(i for i, line in enumerate(lines) if line.startswith("Voucher"))
    assert lines[at].split() == ["Voucher", code]
    assert lines[at + 1].startswith("Free filter coffee, valid until 20")
